"""The LRP explainer, custom layers, starts, callable targets, batching, layer coverage."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lrp_helpers import images, init, relevances, vgg_style

import tfcam.lrp as lrp
from tfcam import graph
from tfcam.attribution.guided import GuidedBackprop, GuidedGradCAM
from tfcam.cam.relevancecam import RelevanceCAM
from tfcam.lrp import LRP, rules

L = keras.layers


class Doubler(L.Layer):
    """A user's own layer: y = 2x."""

    def call(self, x):
        return 2.0 * x


def _custom_model():
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, activation="relu", use_bias=False, name="conv", **init(0))(inp)
    x = Doubler(name="double")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(3, use_bias=False, **init(1))(x))


def test_unsupported_layer_names_class_and_fix():
    model = _custom_model()
    with pytest.raises(ValueError) as err:
        LRP(model)
    message = str(err.value)
    assert "'double'" in message and "Doubler" in message
    assert "tfcam.lrp.register_rule(Doubler" in message


def test_register_rule_one_liner():
    model = _custom_model()
    lrp.register_rule(Doubler, rules.Epsilon(1e-9))
    try:
        x = images(2, size=8)
        ex = LRP(model, composite="lrp_zero").attribute(x, target=1)
        np.testing.assert_allclose(ex.relevance.reshape(2, -1).sum(axis=1), 1.0, rtol=1e-4)
        # the custom layer's rule is also found for relevance at a layer below it
        assert RelevanceCAM(model, "conv").attribute(x).relevance.shape == (2, 6, 6, 4)
    finally:
        lrp.unregister_rule(Doubler)
    with pytest.raises(ValueError, match="Doubler"):
        RelevanceCAM(model, "conv")


def test_guided_methods_need_no_rules_for_custom_layers():
    model = _custom_model()
    x = images(1, size=8)
    assert GuidedBackprop(model).attribute(x).attributions.shape == (1, 8, 8, 3)


def test_lrp_explanation_fields_and_logit_start():
    model = vgg_style(use_bias=False, seed=3)
    x = images(3, seed=4)
    ex = LRP(model, composite="lrp_zero", start="logit").attribute(x, target=[0, 1, 2])
    assert ex.method == "lrp" and ex.layer is None
    assert ex.relevance.shape == (3, 16, 16, 3) and ex.maps.shape == (3, 16, 16)
    np.testing.assert_array_equal(ex.relevance, ex.attributions)
    np.testing.assert_allclose(ex.raw, ex.relevance.sum(axis=-1), rtol=1e-6)
    assert 0 <= ex.maps.min() and ex.maps.max() <= 1
    np.testing.assert_array_equal(ex.targets, [0, 1, 2])
    # LRP-0 without biases, logit start: the input relevance sums to the explained logit
    np.testing.assert_allclose(ex.relevance.reshape(3, -1).sum(axis=1), ex.scores, rtol=1e-4)


def test_presets_and_starts_run():
    """The presets not exercised elsewhere, through a whole walk; an SGLRP explainer."""
    model = vgg_style(seed=5)
    x = images(1, seed=6)
    key = graph.trace(model).input_keys[0]
    for preset in ("epsilon_gamma_box", "epsilon_alpha2_beta1", "epsilon_plus_flat"):
        rel, _, _ = relevances(model, x, preset, start="sglrp")
        assert np.isfinite(rel[key]).all() and np.abs(rel[key]).sum() > 0, preset
    assert np.isfinite(LRP(model, start="sglrp").attribute(x).relevance).all()
    with pytest.raises(ValueError, match="unknown composite"):
        LRP(model, composite="nope")
    with pytest.raises(ValueError, match="unknown start"):
        LRP(model, start="nope")


def test_lrp_is_linear_in_the_start_vector():
    """CLRP in one pass equals one-hot(c) − 1/C Σ_{n≠c} one-hot(n)."""
    model = vgg_style(seed=7)
    x = images(2, seed=8)
    key = graph.trace(model).input_keys[0]
    clrp = relevances(model, x, "epsilon_plus", start="clrp", target=1)[0][key]
    parts = [relevances(model, x, "epsilon_plus", target=c)[0][key] for c in range(4)]
    expected = parts[1] - (parts[0] + parts[2] + parts[3]) / 4
    np.testing.assert_allclose(clrp, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())


def test_callable_target():
    model = vgg_style(seed=9, softmax=False)
    x = images(2, seed=10)
    by_class = LRP(model, start="logit").attribute(x, target=2)
    by_callable = LRP(model, start="logit").attribute(x, target=lambda y: y[:, 2])
    np.testing.assert_allclose(by_callable.relevance, by_class.relevance, rtol=1e-5, atol=1e-7)
    assert by_callable.targets is None
    with pytest.raises(ValueError, match="class target"):
        LRP(model, start="clrp").attribute(x, target=lambda y: y[:, 2])


_BATCH_MODEL = {}


def _batch_explainers():
    if not _BATCH_MODEL:
        model = vgg_style(seed=11)
        _BATCH_MODEL["explainers"] = [
            LRP(model, batch_size=3), RelevanceCAM(model, "conv2", batch_size=3),
            GuidedGradCAM(model, "conv3", batch_size=3),  # its guided walk is Guided Backprop
        ]
    return _BATCH_MODEL["explainers"]


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**16), targets=st.lists(st.integers(0, 3), min_size=3, max_size=3))
def test_batch_consistency(seed, targets):
    """N images at once give what each image gives alone."""
    x = images(3, seed=seed)
    for explainer in _batch_explainers():
        together = explainer.attribute(x, target=targets)
        for i in range(3):
            alone = explainer.attribute(x[i:i + 1], target=targets[i])
            for field in ("maps", "raw", "relevance", "attributions", "channel_weights"):
                value = getattr(together, field)
                if value is not None:
                    np.testing.assert_allclose(value[i:i + 1], getattr(alone, field),
                                               rtol=1e-4, atol=1e-6,
                                               err_msg=f"{explainer.method}.{field}")


def _zoo_model():
    """Preprocessing, padding, depthwise/separable convs, concatenation, average and max
    pooling, reshape and dropout, all without biases."""
    k = dict(init(12), use_bias=False)
    inp = keras.Input((12, 12, 3))
    x = L.Rescaling(2.0, offset=-1.0)(inp)
    x = L.Normalization(mean=[0.1, 0.0, -0.1], variance=[1.5, 1.0, 0.5])(x)
    x = L.ZeroPadding2D(1)(x)
    x = L.Conv2D(6, 3, activation="relu", **k)(x)
    a = L.DepthwiseConv2D(3, padding="same", activation="relu", use_bias=False,
                          depthwise_initializer=k["kernel_initializer"])(x)
    b = L.SeparableConv2D(4, 3, padding="same", use_bias=False,
                          depthwise_initializer=k["kernel_initializer"],
                          pointwise_initializer=k["kernel_initializer"])(x)
    b = L.Activation("relu")(L.BatchNormalization()(b))
    x = L.Concatenate()([a, b])
    x = L.AveragePooling2D(2)(x)
    x = L.Cropping2D(1)(x)
    x = L.Reshape((8, 2, 10))(x)
    x = L.Dropout(0.3)(L.UpSampling2D(2)(x))
    x = L.Conv2D(5, 3, activation="relu", **k)(x)
    x = L.GlobalMaxPooling2D()(x)
    return keras.Model(inp, L.Dense(3, activation="softmax", **k)(x))


@pytest.mark.parametrize("composite", ["lrp_zero", "epsilon_plus", "relevance_cam"])
def test_layer_coverage_and_conservation(composite):
    model = _zoo_model()
    x = images(2, size=12, seed=13)
    program = graph.trace(model)
    target = int(np.argmax(np.asarray(model(x))[0]))
    rel, _, _ = relevances(model, x, composite, target=target)
    r_in = rel[program.input_keys[0]].reshape(2, -1).astype("float64")
    assert np.isfinite(r_in).all()
    if composite == "lrp_zero":  # no biases anywhere, BatchNorm passed through
        scale = np.maximum(1.0, np.abs(r_in).sum(axis=1))
        assert np.all(np.abs(r_in.sum(axis=1) - 1.0) <= 1e-4 * scale)
