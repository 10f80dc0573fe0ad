"""Each LRP rule against a numpy computation on 2-3 layer networks (Dense and convolutions)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from lrp_helpers import NumpyInit, init, linear_jacobian, np_rule, randomize_biases, relevances

from tfcam import graph
from tfcam.lrp import Composite, rules
from tfcam.lrp.start import start_vector

L = keras.layers

LOW, HIGH = -1.5, 1.5  # z^B bounds; the inputs below lie inside them

# case -> (composite kwargs, numpy rule of the first layer, of the others, numpy kwargs)
CASES = {
    "zero": (dict(dense=rules.Zero(), conv=rules.Zero()), "zero", "zero", {}),
    "epsilon": (dict(dense=rules.Epsilon(0.1), conv=rules.Epsilon(0.1)), "epsilon", "epsilon",
                {"epsilon": 0.1}),
    "gamma": (dict(dense=rules.Gamma(0.25), conv=rules.Gamma(0.25)), "gamma", "gamma", {}),
    "alpha2beta1": (dict(dense=rules.AlphaBeta(2, 1), conv=rules.AlphaBeta(2, 1)),
                    "alphabeta", "alphabeta", {}),
    "alpha1beta0": (dict(dense=rules.AlphaBeta(1, 0), conv=rules.AlphaBeta(1, 0)),
                    "alphabeta", "alphabeta", {"alpha": 1.0, "beta": 0.0}),
    "zplus": (dict(dense=rules.ZPlus(), conv=rules.ZPlus()), "zplus", "zplus", {}),
    "zbox": (dict(first=rules.ZBox(LOW, HIGH), dense=rules.Epsilon(1e-6),
                  conv=rules.Epsilon(1e-6)), "zbox", "epsilon", {"epsilon": 1e-6}),
    "flat": (dict(first=rules.Flat(), dense=rules.Zero(), conv=rules.Zero()), "flat", "zero", {}),
    "wsquare": (dict(first=rules.WSquare(), dense=rules.Zero(), conv=rules.Zero()), "wsquare",
                "zero", {}),
}


def _numpy_chain(layers, x, start, case):
    """Forward and LRP backward in numpy over [(J, b, relu)] for one sample."""
    _, first_rule, other_rule, kw = CASES[case]
    acts = [x.ravel().astype("float64")]
    for J, b, relu in layers:
        z = J @ acts[-1] + b
        acts.append(np.maximum(z, 0) if relu else z)
    R = start
    for i in reversed(range(len(layers))):
        J, b, _ = layers[i]
        name = first_rule if i == 0 else other_rule
        extra = dict(kw)
        if name == "zbox":
            extra = dict(low=np.full_like(acts[i], LOW), high=np.full_like(acts[i], HIGH))
        R = np_rule(name, J, b, acts[i], R, **extra)
    return R


def _check(model, layer_specs, x, case, target=1):
    """LRP through the tfcam walk equals the numpy chain, sample by sample."""
    composite = Composite(**CASES[case][0])
    rel, walk, env = relevances(model, x, composite, target=target)
    got = rel[graph.trace(model).input_keys[0]]
    logits = np.asarray(env[graph.trace(model).logit_key])
    for n in range(len(x)):
        start = np.zeros(logits.shape[1])
        start[target] = 1.0
        expected = _numpy_chain(layer_specs, x[n], start, case)
        # float32 against float64: rounding is relative to the largest relevance
        np.testing.assert_allclose(got[n].ravel(), expected, rtol=1e-3,
                                   atol=1e-4 * np.abs(expected).max(), err_msg=case)


@pytest.mark.parametrize("case", list(CASES))
def test_rule_on_dense_network(case):
    k = init(3)
    inp = keras.Input((7,))
    d1, d2 = L.Dense(6, activation="relu", **k), L.Dense(5, activation="relu", **k)
    d3 = L.Dense(3, **k)
    model = keras.Model(inp, d3(d2(d1(inp))))
    randomize_biases(model, 3, scale=0.2)
    x = np.random.default_rng(4).uniform(-1, 1, (3, 7)).astype("float32")
    specs = [(*linear_jacobian(d1, (7,)), True), (*linear_jacobian(d2, (6,)), True),
             (*linear_jacobian(d3, (5,)), False)]
    _check(model, specs, x, case)


CONV_LAYERS = {
    "conv2d_stride_same": lambda i: L.Conv2D(4, 3, strides=2, padding="same",
                                             activation="relu", kernel_initializer=i),
    "conv2d_dilated_valid": lambda i: L.Conv2D(3, 2, dilation_rate=2, activation="relu",
                                               kernel_initializer=i),
    "conv2d_groups": lambda i: L.Conv2D(4, 3, groups=2, padding="same", activation="relu",
                                        kernel_initializer=i),
    "depthwise": lambda i: L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same",
                                             activation="relu", depthwise_initializer=i),
    "separable": lambda i: L.SeparableConv2D(3, 3, depth_multiplier=2, padding="same",
                                             activation="relu", depthwise_initializer=i,
                                             pointwise_initializer=i),
    "conv1d_causal": lambda i: L.Conv1D(3, 3, padding="causal", dilation_rate=2,
                                        activation="relu", kernel_initializer=i),
}


@pytest.mark.parametrize("kind", list(CONV_LAYERS))
def test_rules_on_convolutions(kind):
    """Every rule on a conv layer (strides, padding, dilation, groups, depthwise, separable,
    causal) equals the numpy rule on the layer's Jacobian."""
    in_shape = (8, 3) if kind == "conv1d_causal" else (5, 5, 4)
    inp = keras.Input(in_shape)
    conv = CONV_LAYERS[kind](NumpyInit(5))
    h = conv(inp)
    flat = L.Flatten()(h)
    head = L.Dense(3, **init(6))
    model = keras.Model(inp, head(flat))
    randomize_biases(model, 5, scale=0.2)
    x = np.random.default_rng(6).uniform(-1, 1, (2, *in_shape)).astype("float32")
    J1, b1 = linear_jacobian(conv, in_shape)
    specs = [(J1, b1, True), (*linear_jacobian(head, (int(np.prod(h.shape[1:])),)), False)]
    for case in CASES:
        _check(model, specs, x, case, target=2)


def test_start_vectors_match_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5)).astype("float32")
    idx = np.array([0, 3, 4], "int32")
    one_hot = np.eye(5)[idx]
    got = {s: np.asarray(start_vector(s, ops.convert_to_tensor(logits),
                                      ops.convert_to_tensor(idx)))
           for s in ("one_hot", "logit", "clrp", "sglrp")}
    np.testing.assert_allclose(got["one_hot"], one_hot)
    np.testing.assert_allclose(got["logit"], one_hot * logits, rtol=1e-6)
    np.testing.assert_allclose(got["clrp"], np.where(one_hot > 0, 1.0, -1.0 / 5), rtol=1e-6)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pc = p[np.arange(3), idx][:, None]
    expected = np.where(one_hot > 0, pc * (1 - pc), -pc * p)
    np.testing.assert_allclose(got["sglrp"], expected, rtol=1e-5, atol=1e-7)
    # SGLRP is the gradient of the target's probability with respect to the logits
    jac = pc * (one_hot - p)
    np.testing.assert_allclose(got["sglrp"], jac, rtol=1e-5, atol=1e-7)


class _FakeSite:
    def __init__(self, fn):
        self.fn, self.linear, self.path, self.layer = fn, None, "add", None

    def forward(self, *xs):
        return [self.fn(*xs)]


def test_add_split_sums_exactly():
    rng = np.random.default_rng(1)
    x1, x2, x3 = (ops.convert_to_tensor(rng.normal(size=(2, 4, 4, 3)).astype("float32"))
                  for _ in range(3))
    out = x1 + x2 + x3
    R = ops.convert_to_tensor(rng.normal(size=(2, 4, 4, 3)).astype("float32"))
    site = _FakeSite(lambda a, b, c: a + b + c)
    parts = rules.Proportional().relevance_in(site, [x1, x2, x3], [out], [R])
    total = sum(np.asarray(p, "float64") for p in parts)
    np.testing.assert_allclose(total, np.asarray(R), rtol=1e-5, atol=1e-6)
    # each branch gets its share x_i / sum(x) of the relevance
    np.testing.assert_allclose(np.asarray(parts[0]), np.asarray(x1 / out * R), rtol=1e-4,
                               atol=1e-5)


def test_alpha_beta_needs_difference_one():
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        rules.AlphaBeta(2.0, 2.0)


def test_weight_rule_on_layer_without_weights_is_explained():
    inp = keras.Input((4, 4, 2))
    model = keras.Model(inp, L.Dense(2, **init(0))(L.Flatten()(L.AveragePooling2D(2)(inp))))
    composite = Composite(layers={L.AveragePooling2D: rules.ZPlus()})
    with pytest.raises(ValueError, match="AveragePooling2D"):
        relevances(model, np.ones((1, 4, 4, 2), "float32"), composite)
