"""resnet_small_subclassed (a subclassed keras.Model of custom block layers) with resnet_small's
weights computes the flat model's function, and tfcam explains it with the flat model's maps.

Random weights (no training) at 32 px; BatchNormalization's parameters and statistics are
drawn too, so that a block whose BN were skipped or mismatched would show."""
import numpy as np
import pytest

from benchmarks.configs import load_group
from benchmarks.models import zoo

SIZE, CLASSES = 32, 3


def _randomize_batch_norm(model, seed=0):
    """BN scales, offsets and moving statistics away from the identity."""
    rng = np.random.default_rng(seed)
    for layer in zoo.weighted_leaves(model).values():
        if type(layer).__name__ == "BatchNormalization":
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n),
                               rng.normal(0, 0.1, n), rng.uniform(0.5, 2.0, n)])


@pytest.fixture(scope="module")
def models():
    import keras
    keras.utils.set_random_seed(0)
    flat = zoo.build(load_group("model", "resnet_small"), SIZE, CLASSES)
    _randomize_batch_norm(flat)
    views = {}
    for name in ("resnet_small_subclassed", "resnet_small_nested"):
        views[name] = zoo.build(load_group("model", name), SIZE, CLASSES)
        zoo.copy_weights_by_name(flat, views[name])
    x = np.random.default_rng(1).random((4, SIZE, SIZE, 3)).astype("float32")
    return flat, views, x


def test_subclassed_model_is_a_keras_model_subclass_of_custom_blocks(models):
    import keras
    _, views, _ = models
    sub = views["resnet_small_subclassed"]
    assert isinstance(sub, zoo.ResNetSmall) and isinstance(sub, keras.Model)
    assert sub.name == "resnet_small_subclassed"
    assert all(isinstance(block, zoo.BasicBlock) for block in sub.stages)
    names = zoo.all_layer_names(sub)
    cfg = load_group("model", "resnet_small_subclassed")
    assert set(cfg.layers.values()) <= set(names) and "conv2_block1" in names


@pytest.mark.parametrize("view", ["resnet_small_subclassed", "resnet_small_nested"])
def test_views_with_the_flat_weights_give_the_flat_outputs(models, view):
    flat, views, x = models
    np.testing.assert_allclose(np.asarray(views[view](x)), np.asarray(flat(x)), atol=1e-5)


@pytest.mark.parametrize("method", ["grad_cam", "relevance_cam"])
@pytest.mark.parametrize("choice", ["shallow", "last"])
def test_tfcam_maps_on_the_subclassed_model_equal_the_flat_models(models, method, choice):
    import tfcam
    flat, views, x = models
    layer = zoo.resolve_layer(load_group("model", "resnet_small"), choice)
    targets = [0, 1, 2, 0]
    sub = tfcam.explain(views["resnet_small_subclassed"], x, method, layer=layer, targets=targets)
    ref = tfcam.explain(flat, x, method, layer=layer, targets=targets)
    assert sub.layer == f"{layer.rsplit('_', 1)[0]}/{layer}"  # found inside its block by name
    assert np.ptp(ref.maps) > 0.1  # not a blank map that any model would match
    np.testing.assert_allclose(sub.maps, ref.maps, atol=1e-5)


def test_copy_by_name_says_which_layers_are_missing(models):
    flat, _, _ = models
    shorter = zoo.resnet_small(SIZE, CLASSES, blocks=(2, 2, 2, 1), nested="subclassed")
    with pytest.raises(ValueError, match=r"by layer name.*conv5_block2_1_conv"):
        zoo.copy_weights_by_name(flat, shorter)


def test_with_precision_copies_the_subclassed_model(models):
    _, views, x = models
    sub = views["resnet_small_subclassed"]
    mixed = zoo.with_precision(load_group("model", "resnet_small_subclassed"), sub, "mixed_bfloat16")
    assert isinstance(mixed, zoo.ResNetSmall) and mixed.stages[-1].conv2.compute_dtype == "bfloat16"
    np.testing.assert_allclose(np.asarray(mixed(x)), np.asarray(sub(x)), atol=0.05)


def test_summary_compares_each_view_with_its_base_on_localization_metrics_only():
    import pandas as pd

    from benchmarks.report import findings
    rows = []
    for model, seconds in (("resnet_small", 0.03), ("resnet_small_nested", 0.05),
                           ("resnet_small_subclassed", 0.09)):
        base = {"task": "localization", "model": model, "method": "grad_cam", "library": "tfcam",
                "layer_choice": "last", "error": ""}
        rows += [{**base, "image": i, "metric": "iou", "value": 0.1 * i} for i in range(3)]
        rows.append({**base, "image": -1, "metric": "explain_seconds_per_image", "value": seconds})
    rows.append({"task": "localization", "model": "resnet_small_subclassed", "method": "tkv_grad_cam",
                 "library": "tf-keras-vis", "layer_choice": "last", "image": 0, "metric": "error",
                 "value": float("nan"), "error": "BaselineError: no output_names"})
    text = "\n".join(findings.findings(pd.DataFrame(rows)))
    assert ("tfcam on **resnet_small_subclassed** (the resnet_small weights in a subclassed keras.Model "
            "with custom block layers) reproduces its localization numbers on resnet_small: "
            "largest difference 0 over 3 values") in text
    assert "**resnet_small_nested** (the resnet_small weights, its backbone nested" in text
    assert "tf-keras-vis **failed** for tkv_grad_cam on resnet_small_subclassed (last)" in text
