"""The benchmark's one masking setting, ``metrics.masking.fill``: composed and checked, given
to the tfcam methods that mask (and to no other), and recorded on every faithfulness row with
the metrics computed with it."""
import types

import numpy as np
import pytest

from benchmarks.app import run
from benchmarks.configs import load_group
from benchmarks.method_adapters import fill_label, make_explainer, masking_fill, with_fill
from benchmarks.results import read_table
from benchmarks.tasks import RESULT_COLUMNS, faithfulness
from tests.benchmarks.conftest import compose, tiny_overrides

quiet = lambda *a, **k: None


# ---------------------------------------------------------------- the setting
def test_default_is_black_and_overrides_compose():
    assert masking_fill(compose()) == "black"
    assert masking_fill(compose(["metrics.masking.fill=mean"])) == "mean"
    per_channel = masking_fill(compose(["metrics.masking.fill=[0.485,0.456,0.406]"]))
    assert per_channel == [0.485, 0.456, 0.406]
    assert fill_label(per_channel) == "[0.485, 0.456, 0.406]"
    assert "fill" in RESULT_COLUMNS


def test_unknown_fill_stops_the_faithfulness_task_with_the_choices():
    cfg = compose(["metrics.masking.fill=grey"])
    with pytest.raises(ValueError, match=r"metrics.masking.fill must be one of "
                                         r"\['black', 'mean', 'blur'\]"):
        faithfulness.units(types.SimpleNamespace(cfg=cfg))


# ---------------------------------------------------------------- the methods that mask
@pytest.mark.parametrize("method, option", [("score_cam", "fill"), ("score_cam_fast", "fill"),
                                            ("score_cam_fast_std", "fill"), ("occlusion", "fill")])
def test_tfcam_methods_that_mask_get_the_fill(method, option):
    cfg = load_group("method", method)
    filled = with_fill(cfg, "mean")
    assert filled.options[option] == "mean"
    assert {k: v for k, v in filled.options.items() if k != option} == dict(cfg.options)
    assert option not in cfg.options  # the cached config is left alone


@pytest.mark.parametrize("method", ["grad_cam", "ablation_cam", "integrated_gradients",
                                    "tkv_score_cam", "tkv_score_cam_fast", "gaussian"])
def test_other_methods_are_left_alone(method):
    """tf-keras-vis' Score-CAM has no fill: it multiplies the input by the mask (black)."""
    cfg = load_group("method", method)
    assert with_fill(cfg, "mean") is cfg


def test_a_method_configs_own_fill_wins():
    cfg = with_fill(load_group("method", "score_cam"), "blur")
    assert with_fill(cfg, "mean").options.fill == "blur"


def test_make_explainer_passes_the_fill_to_score_cam():
    import keras

    import tfcam
    inputs = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(a)))
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    t = np.array([0, 2])
    explainer = make_explainer(load_group("method", "score_cam"), model, "conv", batch_size=2,
                               fill="mean")
    assert explainer.options == {"fill": "mean"}
    maps = explainer(x, t, np.arange(2))
    expected = tfcam.explain(model, x, "score_cam", layer="conv", targets=t, fill="mean").maps
    np.testing.assert_allclose(maps, expected, atol=1e-6)
    black = make_explainer(load_group("method", "score_cam"), model, "conv", batch_size=2)
    assert black.options == {}


# ---------------------------------------------------------------- the rows
@pytest.fixture(scope="module")
def tables(tmp_path_factory, cache_dir):
    pytest.importorskip("tfcam.metrics")
    out = {}
    for fill in ("black", "mean"):
        folder = tmp_path_factory.mktemp(f"fill_{fill}")
        cfg = compose(tiny_overrides([f"cache_dir={cache_dir}", "report.figures=false",
                                      "experiment=faithfulness", "methods=[gaussian]",
                                      "tasks=[faithfulness]", "dataset.n_images=4",
                                      f"metrics.masking.fill={fill}"]))
        run(cfg, folder, log=quiet)
        t = read_table(folder / "results.csv", RESULT_COLUMNS)
        out[fill] = t[t.task == "faithfulness"]
    return out


def test_the_fill_reaches_every_faithfulness_row(tables):
    for fill, t in tables.items():
        assert not (t.metric == "error").any(), t.error.tolist()
        assert len(t) and (t.fill == fill).all()


def test_original_confidence_is_recorded_per_image(tables):
    """Y of Average Drop: the same for any fill; a reader sees where it is saturated."""
    ys = {}
    for fill, t in tables.items():
        y = t[t.metric == "original_confidence"].set_index("image").value.sort_index()
        assert len(y) == 4 and ((y >= 0) & (y <= 1)).all()
        ys[fill] = y
    np.testing.assert_allclose(ys["black"], ys["mean"], atol=1e-6)


def test_the_metrics_are_computed_with_the_fill(tables):
    def values(fill, metric):
        t = tables[fill]
        return t[t.metric == metric].set_index("image").value.sort_index().to_numpy()

    assert not np.allclose(values("black", "average_drop"), values("mean", "average_drop"))
    assert not np.allclose(values("black", "deletion"), values("mean", "deletion"))
    # insertion keeps RISE's blurred start whatever the fill
    np.testing.assert_allclose(values("black", "insertion"), values("mean", "insertion"), atol=1e-6)
