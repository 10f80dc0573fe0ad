"""Guided Backprop, Deconvnet and Guided Grad-CAM: ReLU rules in the gradient walk."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from lrp_helpers import images, init, nested_model, randomize_biases, relevances

from tfcam import graph
from tfcam.attribution.guided import (
    Deconvnet,
    GuidedBackprop,
    GuidedGradCAM,
    deconvnet_composite,
    guided_composite,
)
from tfcam.cam.gradcam import GradCAM
from tfcam.lrp import Composite, rules

L = keras.layers


def _net(relu_style, seed=0):
    """conv-relu-conv-relu-pool-dense-relu-dense with the ReLUs written `relu_style`."""
    k = init(seed)

    def act(x, name):
        if relu_style == "layer":
            return L.ReLU(name=name)(x)
        if relu_style == "activation_layer":
            return L.Activation("relu", name=name)(x)
        return keras.ops.relu(x)  # a keras.ops.relu node in the functional graph

    inp = keras.Input((10, 10, 3))
    if relu_style == "own":
        x = L.Conv2D(5, 3, activation="relu", name="c1", **k)(inp)
        x = L.Conv2D(6, 3, activation="relu", name="c2", **k)(x)
        x = L.Flatten()(L.MaxPooling2D()(x))
        x = L.Dense(8, activation="relu", name="d1", **k)(x)
    else:
        x = act(L.Conv2D(5, 3, name="c1", **k)(inp), "r1")
        x = act(L.Conv2D(6, 3, name="c2", **k)(x), "r2")
        x = L.Flatten()(L.MaxPooling2D()(x))
        x = act(L.Dense(8, name="d1", **k)(x), "r3")
    model = keras.Model(inp, L.Dense(4, activation="softmax", name="d2", **k)(x))
    randomize_biases(model, seed)
    return model


def _input_relevance(model, x, composite, target):
    rel, _, _ = relevances(model, x, composite, target=target)
    return rel[graph.trace(model).input_keys[0]]


def test_guided_backprop_on_own_relu_equals_separate_relu_layers():
    x = images(3, size=10, seed=2)
    own = _net("own")
    reference = GuidedBackprop(own).attribute(x, target=1).attributions
    deconv_reference = Deconvnet(own).attribute(x, target=1).attributions
    plain = _input_relevance(own, x, Composite(default=rules.Gradient()), 1)
    assert not np.allclose(reference, plain, atol=1e-6)  # the ReLU rule really acts
    assert not np.allclose(deconv_reference, plain, atol=1e-6)
    for style in ("layer", "activation_layer", "ops"):
        separate = _net(style)
        got = GuidedBackprop(separate).attribute(x, target=1)
        np.testing.assert_allclose(got.attributions, reference, rtol=1e-5, atol=1e-8,
                                   err_msg=style)
        np.testing.assert_allclose(
            _input_relevance(separate, x, deconvnet_composite(), 1), deconv_reference,
            rtol=1e-5, atol=1e-8, err_msg=style)
    assert got.maps.shape == (3, 10, 10) and 0 <= got.maps.min() and got.maps.max() <= 1


def test_guided_and_deconvnet_match_numpy_on_dense_net():
    k = init(3)
    inp = keras.Input((6,))
    d1, d2, d3 = L.Dense(5, **k), L.Dense(4, **k), L.Dense(3, **k)
    model = keras.Model(inp, d3(L.ReLU()(d2(L.ReLU()(d1(inp))))))
    randomize_biases(model, 3, scale=0.3)
    x = np.random.default_rng(0).normal(size=(2, 6)).astype("float32")
    W = [np.asarray(d.kernel, "float64") for d in (d1, d2, d3)]
    b = [np.asarray(d.bias, "float64") for d in (d1, d2, d3)]
    guided = _input_relevance(model, x, guided_composite(), 2)
    deconv = _input_relevance(model, x, deconvnet_composite(), 2)
    for n in range(2):
        z1 = x[n] @ W[0] + b[0]
        z2 = np.maximum(z1, 0) @ W[1] + b[1]
        g = W[2][:, 2]
        g_guided = np.maximum(g, 0) * (z2 > 0)
        g_guided = W[0] @ (np.maximum(W[1] @ g_guided, 0) * (z1 > 0))
        g_deconv = W[0] @ np.maximum(W[1] @ np.maximum(g, 0), 0)
        np.testing.assert_allclose(guided[n], g_guided, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(deconv[n], g_deconv, rtol=1e-5, atol=1e-7)


def _flat_copy(nested):
    inp = keras.Input((16, 16, 3))
    x = inp
    for layer in nested.layers[0].layers[1:] + nested.layers[1:]:
        x = layer(x)
    return keras.Model(inp, x)


def test_relus_inside_nested_models_are_guided():
    nested = nested_model(seed=5)
    x = images(2, seed=3)
    got = GuidedBackprop(nested).attribute(x, target=0).attributions
    expected = GuidedBackprop(_flat_copy(nested)).attribute(x, target=0).attributions
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-8)
    plain = _input_relevance(nested, x, Composite(default=rules.Gradient()), 0)
    assert not np.allclose(got, plain, atol=1e-6)


def test_guided_gradcam_is_guided_backprop_times_gradcam():
    model = _net("own", seed=4)
    x = images(2, size=10, seed=5)
    ex = GuidedGradCAM(model, "c2").attribute(x, target=2)
    guided = GuidedBackprop(model).attribute(x, target=2).attributions
    cam = GradCAM(model, "c2").attribute(x, target=2)
    expected = guided * cam.maps[..., None]
    np.testing.assert_allclose(ex.attributions, expected, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ex.raw, np.abs(expected).max(axis=-1), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ex.channel_weights, cam.channel_weights, rtol=1e-5, atol=1e-8)
    assert ex.method == "guided_grad_cam" and ex.layer == "c2"
    assert ex.maps.shape == (2, 10, 10) and 0 <= ex.maps.min() and ex.maps.max() <= 1


@pytest.mark.parametrize("cls", [GuidedBackprop, Deconvnet])
def test_scores_and_targets(cls):
    model = _net("own", seed=6)
    x = images(2, size=10, seed=7)
    ex = cls(model).attribute(x)
    logits = np.asarray(graph.trace(model).evaluate(
        {graph.trace(model).input_keys[0]: keras.ops.convert_to_tensor(x)},
        [graph.trace(model).logit_key])[graph.trace(model).logit_key])
    np.testing.assert_array_equal(ex.targets, logits.argmax(axis=1))
    np.testing.assert_allclose(ex.scores, logits.max(axis=1), rtol=1e-5)
