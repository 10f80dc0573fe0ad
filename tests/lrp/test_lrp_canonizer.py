"""BatchNorm folding: same forward output, the user's model untouched, and LRP on the
canonized model equals LRP on a model whose weights were folded by hand."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from lrp_helpers import images, init, randomize_batchnorm, relevances, resnet_style

from tfcam import graph
from tfcam.lrp import LRP, BatchNormFolding, Composite, canonized, epsilon_plus

L = keras.layers


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def test_canonized_forward_equals_model_and_model_is_unchanged():
    model = resnet_style(seed=3)
    x = images(3, seed=4)
    before = _weights(model)
    program = graph.trace(model)
    pairs = BatchNormFolding().pairs(program)
    assert len(pairs) == 6  # every conv of the ResNet-style model is followed by a BN
    folded = canonized(model)
    np.testing.assert_allclose(np.asarray(folded(x)), np.asarray(model(x)), rtol=1e-5,
                               atol=1e-5)
    LRP(model, composite=epsilon_plus(canonize=True)).attribute(x)
    for w0, w1 in zip(before, _weights(model)):
        np.testing.assert_array_equal(w0, w1)
    assert sum(isinstance(layer, L.BatchNormalization) for layer in model.layers) == 6


def _bn_after(kind, seed=0):
    k = init(seed)
    in_shape = (6, 6, 3) if kind != "dense" else (5,)
    inp = keras.Input(in_shape)
    layer = {
        "conv": lambda: L.Conv2D(4, 3, strides=2, padding="same", **k),
        "dense": lambda: L.Dense(4, **k),
        "depthwise": lambda: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same",
                                               depthwise_initializer=k["kernel_initializer"]),
        "separable": lambda: L.SeparableConv2D(4, 3, padding="same",
                                               depthwise_initializer=k["kernel_initializer"],
                                               pointwise_initializer=k["kernel_initializer"]),
        "conv_no_bias": lambda: L.Conv2D(4, 3, use_bias=False, **k),
    }[kind]()
    x = L.BatchNormalization()(layer(inp))
    x = L.ReLU()(x)
    if kind != "dense":
        x = L.Flatten()(x)
    model = keras.Model(inp, L.Dense(3, **init(seed + 1))(x))
    randomize_batchnorm(model, seed)
    if getattr(layer, "bias", None) is not None:
        layer.bias.assign(np.random.default_rng(seed).normal(0, 0.3, layer.bias.shape)
                          .astype("float32"))
    return model, in_shape


@pytest.mark.parametrize("kind", ["conv", "dense", "depthwise", "separable", "conv_no_bias"])
def test_folding_each_linear_layer(kind):
    model, in_shape = _bn_after(kind)
    assert len(BatchNormFolding().pairs(graph.trace(model))) == 1
    x = np.random.default_rng(1).normal(size=(2, *in_shape)).astype("float32")
    before = _weights(model)
    np.testing.assert_allclose(np.asarray(canonized(model)(x)), np.asarray(model(x)),
                               rtol=1e-5, atol=1e-5)
    for w0, w1 in zip(before, _weights(model)):
        np.testing.assert_array_equal(w0, w1)


def test_unfoldable_batchnorm_passes_through():
    """A BN after an activation (or reading a tensor used twice) is not folded."""
    inp = keras.Input((6, 6, 3))
    a = L.Conv2D(4, 3, activation="relu", **init(0))(inp)
    b = L.BatchNormalization()(a)              # after an activation: not foldable
    c = L.Conv2D(4, 1, **init(1))(b)
    d = L.BatchNormalization()(c)              # c is also read by the Add: not foldable
    x = L.Add()([c, d])
    model = keras.Model(inp, L.Dense(2, **init(2))(L.GlobalAveragePooling2D()(x)))
    randomize_batchnorm(model, 0)
    assert BatchNormFolding().pairs(graph.trace(model)) == {}
    xs = images(2, size=6)
    np.testing.assert_allclose(np.asarray(canonized(model)(xs)), np.asarray(model(xs)),
                               rtol=1e-5, atol=1e-5)
    rel, _, _ = relevances(model, xs, epsilon_plus(canonize=True))
    assert np.isfinite(rel[graph.trace(model).input_keys[0]]).all()


def _folded_by_hand(model, seed):
    """The ResNet-style model without BatchNorm, convolutions carrying the folded weights."""
    plain = resnet_style(seed=seed, batchnorm=False, use_bias=True)
    for layer in plain.layers:
        if not isinstance(layer, L.Conv2D):
            if layer.get_weights():
                layer.set_weights(model.get_layer(layer.name).get_weights())
            continue
        conv = model.get_layer(layer.name)
        bn = model.get_layer(layer.name.replace("_conv", "_bn"))
        gamma, beta, mean, var = bn.get_weights()
        m = gamma / np.sqrt(var + bn.epsilon)
        kernel, *bias = conv.get_weights()
        bias = bias[0] if bias else np.zeros_like(mean)
        layer.set_weights([kernel * m, (bias - mean) * m + beta])
    return plain


@pytest.mark.parametrize("composite", [
    epsilon_plus(canonize=True),
    Composite(canonize=True),  # LRP-0 everywhere: the folded bias enters z
], ids=["epsilon_plus", "lrp0"])
def test_lrp_with_folding_equals_lrp_on_hand_folded_model(composite):
    model = resnet_style(seed=7)
    plain = _folded_by_hand(model, seed=7)
    x = images(2, seed=8)
    np.testing.assert_allclose(np.asarray(plain(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-5)
    got, _, _ = relevances(model, x, composite, target=2)
    expected, _, _ = relevances(plain, x, composite, target=2)
    key, plain_key = graph.trace(model).input_keys[0], graph.trace(plain).input_keys[0]
    scale = np.abs(expected[plain_key]).max()
    # (LRP-0 divides by small z: float32 rounding differs between the two computations)
    np.testing.assert_allclose(got[key], expected[plain_key], rtol=1e-3, atol=5e-4 * scale)
