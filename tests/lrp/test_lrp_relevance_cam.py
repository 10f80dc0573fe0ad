"""Relevance-CAM: the closed form on conv -> GAP -> Dense, any layer of VGG/ResNet-style
models, layers inside nested models."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from lrp_helpers import (
    gap_net,
    images,
    nested_model,
    relevances,
    resnet_style,
    vgg_style,
)

from tfcam import graph
from tfcam.cam.relevancecam import RelevanceCAM
from tfcam.layer_lookup import find_layer
from tfcam.lrp import relevance_at

L = keras.layers


def _activations(model, layer_name, x):
    return np.asarray(keras.Model(model.input, model.get_layer(layer_name).output)(x))


def test_closed_form_at_last_layer():
    """z⁺, one-hot start: w_k = x_k W⁺[k,c] / Σ_k' x_k' W⁺[k',c], x_k the channel mean."""
    model, dense = gap_net()
    x = images(2, size=8, seed=2)
    target = 1
    ex = RelevanceCAM(model, "conv", start="one_hot").attribute(x, target=target)
    A = _activations(model, "conv", x).astype("float64")
    means = A.mean(axis=(1, 2))                      # (N, K)
    w_pos = np.maximum(np.asarray(dense.kernel), 0)  # (K, C)
    contrib = means * w_pos[:, target]
    expected = contrib / contrib.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ex.channel_weights, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ex.relevance.sum(axis=(1, 2)), ex.channel_weights, rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(ex.raw, np.einsum("nk,nhwk->nhw", expected, A), rtol=1e-4,
                               atol=1e-6)
    assert ex.maps.shape == (2, 8, 8) and ex.maps.min() >= 0 and ex.maps.max() <= 1
    assert ex.relevance.shape == A.shape and ex.method == "relevance_cam" and ex.layer == "conv"


def test_clrp_start_is_the_default_and_contrastive():
    """Default start is CLRP: w = w(c) − 1/C Σ_{n≠c} w(n), each from the closed form."""
    model, dense = gap_net(seed=3)
    x = images(2, size=8, seed=4)
    ex = RelevanceCAM(model, "conv").attribute(x, target=0)
    means = _activations(model, "conv", x).astype("float64").mean(axis=(1, 2))
    w_pos = np.maximum(np.asarray(dense.kernel), 0)
    per_class = []
    for c in range(3):
        contrib = means * w_pos[:, c]
        per_class.append(contrib / contrib.sum(axis=1, keepdims=True))
    expected = per_class[0] - (per_class[1] + per_class[2]) / 3
    np.testing.assert_allclose(ex.channel_weights, expected, rtol=1e-5, atol=1e-6)


LAYERS = {
    "vgg": ("conv1", "conv2", "conv3"),                 # shallow, middle, last
    "resnet": ("stem_relu", "b1_1_conv", "b2_out"),     # stem, inside a block, last
}


@pytest.mark.parametrize("kind,depth", [(k, d) for k in LAYERS for d in range(3)],
                         ids=[f"{k}-{n}" for k in LAYERS for n in ("shallow", "mid", "last")])
def test_any_layer(kind, depth):
    model = vgg_style(seed=1) if kind == "vgg" else resnet_style(seed=1)
    layer = LAYERS[kind][depth]
    x = images(2, seed=6)
    ex = RelevanceCAM(model, layer).attribute(x)
    tap = find_layer(graph.trace(model), layer)
    h, w, k = tap.shape[1:]
    assert ex.relevance.shape == (2, h, w, k) and ex.raw.shape == (2, h, w)
    assert ex.channel_weights.shape == (2, k)
    assert ex.maps.shape == (2, 16, 16) and np.isfinite(ex.maps).all()
    assert 0 <= ex.maps.min() and ex.maps.max() <= 1 and ex.maps.max() > 0
    np.testing.assert_allclose(ex.relevance.sum(axis=(1, 2)), ex.channel_weights, rtol=1e-4,
                               atol=1e-6)
    assert np.abs(ex.channel_weights).sum() > 0


def test_relevance_is_conserved_across_layers_of_a_chain():
    """z⁺ ignores biases: on a chain, every layer carries the same total relevance."""
    model = vgg_style(seed=2)
    x = images(2, seed=3)
    totals = []
    for layer in ("conv1", "conv2", "conv3"):
        key = find_layer(graph.trace(model), layer).key
        rel, _, _ = relevances(model, x, "relevance_cam", start="clrp", target=1, stop=key)
        totals.append(rel[key].reshape(2, -1).sum(axis=1))
    np.testing.assert_allclose(totals[0], totals[2], rtol=1e-4)
    np.testing.assert_allclose(totals[1], totals[2], rtol=1e-4)


def _flat_copy(nested):
    """The nested model's computation as one flat Functional model (same layer objects)."""
    base = nested.layers[0]
    inp = keras.Input((16, 16, 3))
    x = inp
    for layer in base.layers[1:]:
        x = layer(x)
    for layer in nested.layers[1:]:
        x = layer(x)
    return keras.Model(inp, x)


@pytest.mark.parametrize("layer", ["inner_conv1", "base/inner_relu"])
def test_layer_inside_nested_model(layer):
    nested = nested_model(seed=4)
    flat = _flat_copy(nested)
    x = images(2, seed=8)
    got = RelevanceCAM(nested, layer).attribute(x, target=2)
    expected = RelevanceCAM(flat, layer.split("/")[-1]).attribute(x, target=2)
    assert got.layer == ("base/inner_conv1" if layer == "inner_conv1" else layer)
    np.testing.assert_allclose(got.relevance, expected.relevance, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.maps, expected.maps, rtol=1e-5, atol=1e-6)


def test_relu_flag_and_relevance_at():
    model = vgg_style(seed=5)
    x = images(2, seed=9)
    ex = RelevanceCAM(model, "conv2", relu=True).attribute(x, target=3)
    assert (ex.raw >= 0).all()
    A, R, scores = relevance_at(model, x, "conv2", targets=3)
    np.testing.assert_allclose(R, ex.relevance, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(scores, ex.scores, rtol=1e-6)
    np.testing.assert_allclose(np.maximum(np.einsum("nk,nhwk->nhw", R.sum(axis=(1, 2)), A), 0),
                               ex.raw, rtol=1e-4, atol=1e-6)
