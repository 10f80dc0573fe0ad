"""The benchmark measures what the papers measure: signed maps in the sanity checks, both
curve lengths of deletion/insertion, the class explained, and a failed run that leaves the
earlier results alone."""
import importlib
import json
import types

import numpy as np
import pytest

from benchmarks import api
from benchmarks.app import run
from benchmarks.results import read_table
from tests.benchmarks.conftest import compose, tiny_overrides

quiet = lambda *a, **k: None


def _cfg(cache_dir, extra):
    return compose(tiny_overrides([f"cache_dir={cache_dir}", "report.figures=false", *extra]))


# ---------------------------------------------------------------- 1. signed sanity maps
@pytest.fixture(scope="module")
def sanity_table(tmp_path_factory, cache_dir):
    pytest.importorskip("tfcam.metrics")
    out = tmp_path_factory.mktemp("sanity")
    cfg = _cfg(cache_dir, ["experiment=sanity", "methods=[input_x_gradient,grad_cam]", "layers=[last]",
                           "metrics.sanity.n_images=4", "metrics.sanity.modes=[cascading]",
                           "metrics.sanity.max_steps=2"])
    run(cfg, out, log=quiet)
    return read_table(out / "results.csv")


@pytest.mark.parametrize("method", ["input_x_gradient", "grad_cam"])
def test_sanity_signed_spearman_compares_signed_maps(sanity_table, method):
    t = sanity_table[(sanity_table.task == "sanity") & (sanity_table.method == method)]
    assert not (t.metric == "error").any(), t.error.tolist()
    wide = t.pivot_table(index=["step", "image"], columns="metric", values="value")
    assert {"spearman", "spearman_abs", "ssim", "hog_spearman"} <= set(wide.columns)
    # on [0, 1] maps the two are one number; on the signed maps they are not
    assert not np.allclose(wide.spearman, wide.spearman_abs)


def test_signed_map_of_grad_cam_is_before_its_relu(cache_dir):
    """The sanity task's signed map of Grad-CAM is tfcam's Explanation.signed, sum_k w_k A^k:
    its ReLU is Grad-CAM's raw map; a map without one (tf-keras-vis, reference) is its maps."""
    pytest.importorskip("tfcam.metrics")
    import keras

    from benchmarks.data.synthetic import SyntheticSpec, generate
    from benchmarks.method_adapters import make_explainer
    from benchmarks.tasks.sanity import signed_maps

    inputs = keras.Input((16, 16, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    y = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(a))
    model = keras.Model(inputs, y)
    x = generate(SyntheticSpec(image_size=16, n_images=3, num_classes=3)).images
    method = {"id": "grad_cam", "library": "tfcam", "name": "grad_cam"}
    explainer = make_explainer(method, model, "conv", batch_size=4)
    t = np.array([0, 1, 2])
    maps = explainer(x, t, np.arange(3))
    signed = signed_maps(explainer, maps)
    raw = explainer.last.raw
    assert signed.shape == raw.shape and (signed < 0).any()
    np.testing.assert_allclose(np.maximum(signed, 0), raw, atol=1e-5)
    activations = np.asarray(keras.Model(inputs, a)(x))
    np.testing.assert_allclose(signed, np.einsum("nk,nhwk->nhw", explainer.last.channel_weights, activations),
                               atol=1e-5)
    reference = make_explainer({"id": "gaussian", "library": "baseline", "name": "centered_gaussian",
                                "layerwise": False}, model, None)
    unit = reference(x, t, np.arange(3))
    np.testing.assert_array_equal(signed_maps(reference, unit), np.asarray(unit, np.float32))


# ---------------------------------------------------------------- 2. both curve lengths
def test_deletion_and_insertion_steps_are_each_read(tmp_path, cache_dir):
    pytest.importorskip("tfcam.metrics")
    cfg = _cfg(cache_dir, ["experiment=faithfulness", "methods=[gaussian]", "tasks=[faithfulness]",
                           "dataset.n_images=4", "metrics.faithfulness.deletion_steps=3",
                           "metrics.faithfulness.insertion_steps=5"])
    run(cfg, tmp_path, log=quiet)
    curves = read_table(tmp_path / "curves.csv", ["task", "model", "method", "library", "layer_choice",
                                                    "layer", "image", "curve", "step", "fraction", "value",
                                                    "unit"])
    last = curves.groupby("curve").step.max()
    assert last["deletion"] == 3 and last["insertion"] == 5


def test_full_metrics_use_the_rise_steps():
    cfg = compose(["experiment=localization", "metrics=full"])
    f = cfg.metrics.faithfulness
    assert f.deletion_steps == 224 and f.insertion_steps == 224


# ---------------------------------------------------------------- 3. the class explained
def _recording_stand_in(seen):
    def explain(model, images, method, layer=None, targets=None, **kw):
        top1 = np.asarray(model.predict(np.asarray(images), verbose=0)).argmax(-1)
        seen.append((np.asarray(targets), top1))
        return types.SimpleNamespace(maps=np.asarray(images, np.float32).mean(-1))

    return types.SimpleNamespace(explain=explain, metrics=importlib.import_module("tfcam.metrics"))


@pytest.mark.parametrize("targets", ["label", "predicted"])
def test_the_class_explained_is_chosen_and_recorded(tmp_path, cache_dir, targets):
    pytest.importorskip("tfcam.metrics")
    cfg = _cfg(cache_dir, ["experiment=localization", "methods=[grad_cam]", "tasks=[localization]",
                           "dataset.n_images=8", f"dataset.targets={targets}",
                           "metrics.localization.class_sensitivity=false"])
    seen = []
    with api.use(_recording_stand_in(seen)):
        run(cfg, tmp_path, log=quiet)
    t = read_table(tmp_path / "results.csv")
    assert "targets" in t.columns and len(t)
    assert set(t[t.task != "model"].targets) == {targets}
    explained = np.concatenate([s[0] for s in seen])
    top1 = np.concatenate([s[1] for s in seen])
    if targets == "predicted":
        np.testing.assert_array_equal(explained, top1)


def test_the_class_explained_is_checked_at_composition():
    with pytest.raises(Exception, match="targets"):
        compose(["dataset.targets=top1"])


# ---------------------------------------------------------------- 4. a failed run
@pytest.mark.parametrize(("bad", "why"), [(["dataset=folder", "dataset.root=/nonexistent/folder"], "is not a folder"),
                                          (["methods=[no_such_method]"], "no_such_method")])
def test_a_run_that_fails_validation_leaves_the_earlier_results(tmp_path, cache_dir, bad, why):
    pytest.importorskip("tfcam.metrics")
    out = tmp_path / "out"
    out.mkdir()
    before = {"results.csv": "experiment,task\nold,localization\n", "done.txt": "unit\n",
              "curves.csv": "task\n", "fingerprint.json": json.dumps({"old": 1})}
    for name, text in before.items():
        (out / name).write_text(text)
    base = [o for o in tiny_overrides() if not (bad[0].startswith("dataset") and o.startswith("dataset"))]
    cfg = compose(base + [f"cache_dir={cache_dir}", "experiment=localization", "report.figures=false", *bad])
    with pytest.raises(FileNotFoundError, match=why):
        run(cfg, out, log=quiet)
    assert not list(out.glob("*.stale-*"))
    for name, text in before.items():
        assert (out / name).read_text() == text


def test_a_table_of_other_columns_starts_afresh_instead_of_losing_rows(tmp_path):
    """A folder written with other columns (an older version) is retired, not half-read: its
    rows would not parse while done.txt still skipped their items."""
    from benchmarks.results import ResultStore, result_columns
    old = ResultStore(tmp_path, {"x": 1}, log=quiet, columns=result_columns(["mode"])[:-2] + ["unit"])
    old.write("u1", [{"task": "t", "metric": "m", "value": 1.0}])
    new = ResultStore(tmp_path, {"x": 1}, log=quiet, columns=result_columns(["mode"]))
    assert not new.is_done("u1") and list(tmp_path.glob("results.csv.stale-*"))
