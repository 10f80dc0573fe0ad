"""Model parameter randomization: clones only, own initializers, expected outcomes."""

import warnings

import keras
import numpy as np
import pandas as pd
import pytest
from metrics_helpers import gradcam_maps, sobel_maps, square_data, trained_cnn

from tfcam import metrics


@pytest.fixture(scope="module")
def trained():
    return trained_cnn()


@pytest.fixture(scope="module")
def data():
    x, y = square_data(6, seed=7)
    return x, y


def test_user_model_untouched(trained, data):
    x, _ = data
    before = [w.copy() for w in trained.get_weights()]
    variables = [id(v) for v in trained.weights]
    for mode in ("cascading", "independent"):
        metrics.randomization_test(trained, x[:2], sobel_maps, mode=mode, metrics=("spearman",))
    after = trained.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert [id(v) for v in trained.weights] == variables


def test_edge_detector_stays_at_one(trained, data):
    x, _ = data
    result = metrics.randomization_test(trained, x, sobel_maps, mode="cascading")
    df = result.to_frame()
    assert set(df.columns) == {"mode", "step", "layer", "image", "metric", "value", "higher_is_better"}
    assert len(df) == 3 * len(x) * 4  # steps x images x metrics
    np.testing.assert_allclose(df["value"], 1.0, atol=1e-9)
    assert list(df.drop_duplicates("step")["layer"]) == ["logits", "conv2", "conv1"]  # top-down
    assert not df["higher_is_better"].any()  # a faithful method's maps drift away
    # the headline: the first similarity (spearman_abs) averaged over the 3 steps
    assert result.name == "randomization" and result.higher_is_better is False
    assert result.curves.shape == (len(x), 3)
    np.testing.assert_allclose(result.values, 1.0, atol=1e-9)


def test_gradcam_similarity_drops(trained, data):
    x, y = data
    result = metrics.randomization_test(trained, x, gradcam_maps, targets=y, mode="cascading", seed=1)
    df = result.to_frame()
    summary = metrics.summarize_randomization(result)
    pd.testing.assert_frame_equal(summary, metrics.summarize_randomization(df))
    assert set(summary.columns) == {"mode", "step", "layer", "metric", "mean", "std"}
    last = summary[summary.step == 3].set_index("metric")["mean"]
    for metric in ("spearman_abs", "spearman", "ssim", "hog_spearman"):
        assert last[metric] < 0.6, (metric, last[metric])
    assert not df["value"].isna().any()


def test_independent_first_step_equals_cascading(trained, data):
    x, y = data
    kw = {"targets": y[:3], "metrics": ("spearman", "ssim"), "seed": 3}
    cas = metrics.randomization_test(trained, x[:3], gradcam_maps, mode="cascading", **kw)
    ind = metrics.randomization_test(trained, x[:3], gradcam_maps, mode="independent", **kw)
    for metric in kw["metrics"]:  # same layer, same draw
        a = cas.select(metric, step=1)
        np.testing.assert_allclose(a.values, ind.select(metric, step=1).values, atol=1e-6)
    # the headline is the first similarity ("spearman") over the steps, image by image
    curves = np.stack([cas.select("spearman", step=s).values for s in (1, 2, 3)], axis=1)
    np.testing.assert_allclose(cas.curves, curves)
    np.testing.assert_allclose(cas.values, curves.mean(axis=1))
    sub = metrics.randomization_test(trained, x[:3], gradcam_maps, mode="independent", randomized_layers=["conv1"],
                                     **kw)
    assert list(sub.to_frame()["layer"].unique()) == ["conv1"]
    with pytest.raises(ValueError, match="not a layer"):
        metrics.randomization_test(trained, x[:1], gradcam_maps, randomized_layers=["gap"])


def _custom_model():
    inp = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(3, 3, kernel_initializer="ones", bias_initializer=keras.initializers.Constant(0.3),
                            name="conv")(inp)
    x = keras.layers.BatchNormalization(
        gamma_initializer=keras.initializers.Constant(2.0), beta_initializer=keras.initializers.Constant(-1.0),
        name="bn"
    )(x)
    x = keras.layers.DepthwiseConv2D(3, depthwise_initializer=keras.initializers.Constant(0.5), name="dw")(x)
    x = keras.layers.SeparableConv2D(
        2, 1, depthwise_initializer=keras.initializers.Constant(0.1),
        pointwise_initializer=keras.initializers.Constant(0.2), name="sep",
    )(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(2, kernel_initializer=keras.initializers.RandomNormal(seed=5), name="dense")(x)
    return keras.Model(inp, out)


def test_each_variable_redrawn_from_its_own_initializer():
    model = _custom_model()
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    moving = [model.get_layer("bn").moving_mean.numpy().copy(), model.get_layer("bn").moving_variance.numpy().copy()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no variable falls back to a permutation
        for layer in metrics.weighted_layers(model):
            metrics.randomize_layer(layer, seed=0)
    get = lambda layer, i: keras.ops.convert_to_numpy(model.get_layer(layer).weights[i])
    np.testing.assert_array_equal(get("conv", 0), 1.0)
    np.testing.assert_allclose(get("conv", 1), 0.3)
    np.testing.assert_allclose(get("bn", 0), 2.0)
    np.testing.assert_allclose(get("bn", 1), -1.0)
    np.testing.assert_array_equal(get("bn", 2), moving[0])  # moving statistics kept
    np.testing.assert_array_equal(get("bn", 3), moving[1])
    np.testing.assert_allclose(get("dw", 0), 0.5)
    np.testing.assert_allclose(get("sep", 0), 0.1)
    np.testing.assert_allclose(get("sep", 1), 0.2)
    first = get("dense", 0).copy()
    assert first.std() == pytest.approx(0.05, rel=0.3)  # RandomNormal(stddev=0.05)
    metrics.randomize_layer(model.get_layer("dense"), seed=0)
    np.testing.assert_array_equal(get("dense", 0), first)  # seeded: reproducible
    metrics.randomize_layer(model.get_layer("dense"), seed=1)
    assert not np.array_equal(get("dense", 0), first)


def test_nested_model_layers_are_walked():
    inner = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="inner_conv")], name="inner"
    )
    outer = keras.Sequential([inner, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, name="head")])
    assert [layer.name for layer in metrics.weighted_layers(outer)] == ["inner_conv", "head"]
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype(np.float32)
    df = metrics.randomization_test(outer, x, sobel_maps, metrics="spearman").to_frame()
    assert list(df["layer"].unique()) == ["head", "inner_conv"]


def test_similarity_edge_cases():
    rng = np.random.default_rng(0)
    a = rng.random((12, 12))
    same = metrics.similarities(a, a)
    assert all(v == pytest.approx(1.0) for v in same.values())
    zero = np.zeros((12, 12))
    s = metrics.similarities(zero, zero)
    assert s["spearman"] == 1.0 and s["spearman_abs"] == 1.0 and s["ssim"] == pytest.approx(1.0)
    s = metrics.similarities(a, zero)
    assert s["spearman"] == 0.0 and s["spearman_abs"] == 0.0
    assert all(np.isfinite(v) for v in s.values())
    signed = metrics.similarities(a - 0.5, -(a - 0.5))  # outside [0, 1]: min-max normalized
    assert signed["spearman"] == pytest.approx(-1.0)
    assert signed["spearman_abs"] == pytest.approx(1.0)
    small = metrics.similarities(rng.random((5, 5)), rng.random((5, 5)))  # smaller than 11 px
    assert all(np.isfinite(v) for v in small.values())
