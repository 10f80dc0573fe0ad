"""Every config group composes, and every member is complete."""
import importlib.util

import pytest
from omegaconf import OmegaConf

from tests.benchmarks.conftest import CONF, compose

GROUPS = ["model", "dataset", "method", "metrics", "train", "experiment"]


def names(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_default_composition_is_the_smoke_experiment():
    cfg = compose()
    assert cfg.experiment.name == "smoke"
    assert list(cfg.models)[:2] == ["vgg_small", "resnet_small"]
    assert {"shallow", "mid", "last"} <= set(cfg.layers)
    assert "localization" in cfg.tasks and "faithfulness" in cfg.tasks
    assert cfg.dataset.image_size == 64
    assert cfg.get("model") is None and cfg.get("method") is None


def test_task_settings_have_one_home_the_settings_dataclasses():
    """Without an experiment, every metrics.<task> composes to its task's Settings defaults
    (and metrics.masking to MaskingConfig's): conf/metrics/default.yaml repeats none of them."""
    from benchmarks.schema import MaskingConfig
    from benchmarks.tasks import TASKS
    cfg = compose(["~experiment"])
    for name, task in TASKS.items():
        assert OmegaConf.to_container(cfg.metrics[name]) == OmegaConf.to_container(
            OmegaConf.structured(task.Settings())), name
    assert OmegaConf.to_container(cfg.metrics.masking) == OmegaConf.to_container(OmegaConf.structured(MaskingConfig()))
    assert set(cfg.metrics) == {*TASKS, "masking"}
    assert not OmegaConf.load(CONF / "metrics" / "default.yaml"), "conf/metrics/default.yaml repeats a default"


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_member_composes(group):
    members = names(group)
    assert members, f"conf/{group} is empty"
    for name in members:
        cfg = compose([f"{group}={name}"])
        OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
        if group == "model" and cfg.model.builder == "saved":  # layers picked when it loads
            assert cfg.model.path is None and not cfg.model.layers
        elif group == "model":
            assert cfg.model.name == name
            assert set(cfg.model.layers) >= {"shallow", "mid", "last"}, name
            assert cfg.model.stages, name
        if group == "method":
            assert cfg.method.id == name
            assert cfg.method.library in ("tfcam", "tf-keras-vis", "baseline")
        if group == "experiment":
            assert cfg.experiment.name == name
            assert cfg.tasks, name


def test_sweepable_overrides_compose():
    cfg = compose(["model=resnet50", "method=relevance_cam", "layer=shallow", "dataset=synthetic224"])
    assert cfg.model.application == "ResNet50" and cfg.layer == "shallow"
    assert cfg.method.name == "relevance_cam" and cfg.dataset.image_size == 224
    cfg = compose(["experiment=layers_full"])
    assert cfg.dataset.image_size == 224 and list(cfg.models) == ["vgg16", "resnet50"]


def test_launchers():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="hydra-joblib-launcher (.[bench])")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = hydra_compose("config", overrides=["hydra/launcher=joblib_local"], return_hydra_config=True)
    assert cfg.hydra.launcher.n_jobs == 2
    slurm = OmegaConf.load(CONF / "hydra" / "launcher" / "slurm.yaml")
    assert "submitit_slurm" in slurm.defaults
    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher"):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = hydra_compose("config", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
        assert cfg.hydra.launcher.gpus_per_node == 1


def test_every_tfcam_method_has_a_config():
    tfcam = pytest.importorskip("tfcam")
    have = {OmegaConf.load(p).name for p in (CONF / "method").glob("*.yaml")
            if OmegaConf.load(p).library == "tfcam"}
    missing = set(getattr(tfcam, "METHODS", [])) - have
    assert not missing, f"tfcam methods without a conf/method file: {sorted(missing)}"


def test_experiments_name_existing_members():
    models, methods = set(names("model")), set(names("method"))
    for exp in names("experiment"):
        cfg = compose([f"experiment={exp}"])
        assert set(cfg.models) <= models, exp
        assert set(cfg.get("methods", [])) <= methods, exp
        for rule in cfg.only:
            for key in ("if_methods", "methods"):
                assert set(rule.get(key) or []) <= methods, (exp, rule)
            for key in ("if_models",):
                assert set(rule.get(key) or []) <= models, (exp, rule)


def test_small_model_layer_names_exist():
    from benchmarks.models import zoo
    for name in ("vgg_small", "resnet_small"):
        cfg = OmegaConf.load(CONF / "model" / f"{name}.yaml")
        model = zoo.build(cfg, 32, 3)
        for layer in [*cfg.layers.values(), *cfg.stages]:
            model.get_layer(layer)
        nested = zoo.build(OmegaConf.merge(cfg, {"nested": True}), 32, 3) if name == "resnet_small" else None
        if nested is not None:
            assert "resnet_small_backbone" in [layer.name for layer in nested.layers]
            assert cfg.layers.last in zoo.all_layer_names(nested)
            seq = zoo.build(OmegaConf.merge(cfg, {"nested": "sequential"}), 32, 3)
            assert type(seq).__name__ == "Sequential" and len(seq.layers) == 3


@pytest.mark.parametrize("name", ["resnet_small", "vgg16"])
def test_with_precision_copies_the_weights_into_a_bfloat16_model(name):
    import numpy as np

    from benchmarks.models import zoo
    cfg = OmegaConf.load(CONF / "model" / f"{name}.yaml")
    model = zoo.build(cfg, 32, 3)
    mixed = zoo.with_precision(cfg, model, "mixed_bfloat16")
    assert zoo.with_precision(cfg, model, "float32") is model
    assert model.get_layer(cfg.layers.last).compute_dtype == "float32"  # the original is kept
    assert mixed.get_layer(cfg.layers.last).compute_dtype == "bfloat16"
    assert mixed.get_layer("predictions").compute_dtype == "float32"  # the softmax head
    for a, b in zip(model.get_weights(), mixed.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(mixed(x)), np.asarray(model(x)), atol=0.05)


def test_application_layer_names_exist():
    """keras.applications builds with weights=None (nothing is downloaded)."""
    from benchmarks.models import zoo
    for name in ("vgg16", "resnet50", "resnet50v2"):
        cfg = OmegaConf.load(CONF / "model" / f"{name}.yaml")
        model = zoo.build(cfg, 224, 5)
        for layer in [*cfg.layers.values(), *cfg.stages]:
            model.get_layer(layer)
        assert model.get_layer(cfg.layers.shallow).output.shape[1] == 56


def test_layer_choice_resolution():
    from benchmarks.models.zoo import resolve_layer
    cfg = OmegaConf.load(CONF / "model" / "vgg16.yaml")
    assert resolve_layer(cfg, "shallow") == "block3_conv3"
    assert resolve_layer(cfg, "middle") == "block4_conv3"
    assert resolve_layer(cfg, "block2_conv2") == "block2_conv2"
    assert resolve_layer(cfg, None) is None


def test_plan_narrows_methods_and_layers():
    from benchmarks import plan
    cfg = compose(["experiment=smoke"])
    model_cfg = compose(["model=vgg_small"]).model
    items = plan.plan(cfg, model_cfg, "localization")
    got = {(str(m.id), c) for m, c, _ in items}
    assert {("grad_cam", "shallow"), ("grad_cam", "mid"), ("grad_cam", "last")} <= got
    assert ("grad_cam_pp", "last") in got and ("grad_cam_pp", "shallow") not in got  # a layer rule
    assert ("saliency", "input") in got and ("gaussian", "input") in got
    layer_of = {(str(m.id), c): layer for m, c, layer in items}
    assert layer_of[("grad_cam", "shallow")] == "block3_conv2_relu" and layer_of[("saliency", "input")] is None
    assert {(str(m.id), c) for m, c, _ in plan.plan(cfg, model_cfg, "sanity")} == {
        ("grad_cam", "last"), ("relevance_cam", "last"), ("tkv_grad_cam", "last")}
    nested = OmegaConf.create({"name": "resnet_small_nested", "layers": {"shallow": "a", "mid": "b", "last": "c"}})
    assert {(str(m.id), c) for m, c, _ in plan.plan(cfg, nested, "localization")} == {
        ("grad_cam", "last"), ("relevance_cam", "last"), ("tkv_grad_cam", "last"), ("tkv_saliency", "input")}
    known = ["localization", "faithfulness", "agreement", "complexity", "robustness", "sanity",
             "shattered_gradients", "speed"]
    assert plan.tasks_for(cfg, "resnet_small_nested", known) == ["localization", "agreement"]
    assert plan.tasks_for(cfg, "vgg_small", known) == known
    one = compose(["experiment=smoke", "method=score_cam", "layer=shallow"])
    assert [(str(m.id), c) for m, c, _ in plan.plan(one, model_cfg, "localization")] == [("score_cam", "shallow")]


def test_schema_rejects_unknown_keys_and_methods_instantiate():
    from hydra.errors import ConfigCompositionException
    with pytest.raises(ConfigCompositionException):
        compose(["metrics.localization.no_such_setting=1"])
    with pytest.raises(ConfigCompositionException):
        compose(["batch_size=many"])
    cfg = compose(["method=gaussian"])
    assert cfg.method._target_ == "benchmarks.method_adapters.build_explainer"
    import numpy as np

    from benchmarks.method_adapters import make_explainer
    maps = make_explainer(cfg.method, None, None)(np.zeros((2, 8, 8, 3), "float32"), [0, 0], [0, 1])
    assert maps.shape == (2, 8, 8)


def test_a_method_config_cannot_name_code_to_call(tmp_path):
    """instantiate() calls whatever `_target_` names: only the explainer factory is taken."""
    from benchmarks.method_adapters import make_explainer
    marker = tmp_path / "ran"
    cfg = {"_target_": "pathlib.Path.touch", "self": str(marker), "id": "evil"}
    with pytest.raises(ValueError, match="_target_ must be benchmarks.method_adapters.build_explainer"):
        make_explainer(cfg, model=None, layer=None)
    assert not marker.exists()
