"""Sums (Add, Average) split by magnitude (`rules.AbsProportional`, the presets' rule): exact
shares on known numbers, and conservation without sign flips on a pre-activation residual
stack, where LRP-0's split `x_i / Σ x_j` amplifies Σ|R| (ResNet50V2: relevance kept −475)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from lrp_helpers import cut_keys, images, init, relevances

from tfcam import graph
from tfcam.lrp import Composite, composites, epsilon_plus, rules

L = keras.layers


class _AddSite:
    path, layer, linear = "add", None, None

    def forward(self, *xs):
        return [sum(xs[1:], xs[0])]


def _split(rule, *xs, r):
    xs = [ops.convert_to_tensor(np.asarray(x, "float32")) for x in xs]
    out = sum(xs[1:], xs[0])
    parts = rule.relevance_in(_AddSite(), xs, [out], [ops.convert_to_tensor(
        np.asarray(r, "float32"))])
    return [np.asarray(p) for p in parts]


def test_magnitude_split_on_known_numbers():
    # s + f = [1, 2, 5]: they cancel in the first two elements, agree in the last
    s, f, r = [[2.0, -1.0, 4.0]], [[-1.0, 3.0, 1.0]], [[1.0, 1.0, 1.0]]
    r_s, r_f = _split(rules.AbsProportional(), s, f, r=r)
    np.testing.assert_allclose(r_s, [[2 / 3, 1 / 4, 4 / 5]], rtol=1e-6)
    np.testing.assert_allclose(r_f, [[1 / 3, 3 / 4, 1 / 5]], rtol=1e-6)
    # LRP-0 gives shares outside [0, 1] where they cancel, the same where they agree
    p_s, p_f = _split(rules.Proportional(), s, f, r=r)
    np.testing.assert_allclose(p_s, [[2.0, -0.5, 0.8]], rtol=1e-6)
    np.testing.assert_allclose(p_f, [[-1.0, 1.5, 0.2]], rtol=1e-6)


def test_magnitude_split_conserves_and_keeps_sign():
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(2, 4, 4, 3)) for _ in range(3)]
    r = rng.normal(size=(2, 4, 4, 3))
    parts = _split(rules.AbsProportional(), *xs, r=r)
    np.testing.assert_allclose(sum(parts), r, rtol=1e-5, atol=1e-6)
    for p in parts:  # each share in [0, 1]: same sign as r, no larger
        assert np.all(p * r >= 0) and np.all(np.abs(p) <= np.abs(r) + 1e-6)


def preactivation_stack(blocks=3, size=8, seed=0):
    """ResNet V2's pattern without biases: a signed stream x; per block
    x + conv(ReLU(BatchNorm(x))), then BatchNorm -> ReLU -> GAP -> Dense."""
    k = dict(init(seed), use_bias=False)
    inp = keras.Input((size, size, 3))
    x = L.Conv2D(6, 3, padding="same", name="stem", **k)(inp)
    for b in range(blocks):
        y = L.Activation("relu", name=f"b{b}_relu")(L.BatchNormalization(name=f"b{b}_bn")(x))
        y = L.Conv2D(6, 3, padding="same", name=f"b{b}_conv", **init(seed + b + 1),
                     use_bias=False)(y)
        x = L.Add(name=f"b{b}_add")([x, y])
    x = L.Activation("relu", name="post_relu")(L.BatchNormalization(name="post_bn")(x))
    out = L.Dense(4, name="fc", **k)(L.GlobalAveragePooling2D(name="gap")(x))
    model = keras.Model(inp, out)
    for la in model.layers:  # BatchNorm without shift, so that no bias absorbs relevance
        if isinstance(la, L.BatchNormalization):
            la.moving_mean.assign(np.zeros(6, "float32"))
            la.beta.assign(np.zeros(6, "float32"))
    return model


def _zplus(sums):
    return Composite(conv=rules.ZPlus(), dense=rules.ZPlus(), sums=sums)


def test_preactivation_stack_conserves_without_sign_flips():
    model, x = preactivation_stack(), images(2, size=8, seed=1)
    rel, walk, _ = relevances(model, x, _zplus(rules.AbsProportional()))
    adds = [s for s in walk.sites if isinstance(s.layer, L.Add)]
    assert len(adds) == 3 and all(isinstance(s.rule, rules.AbsProportional) for s in adds)
    cuts = [k for k in cut_keys(graph.trace(model)) if k in rel]
    assert len(cuts) >= 4  # the input and the stream between blocks
    for key in cuts:
        r = rel[key].reshape(len(x), -1).astype("float64")
        np.testing.assert_allclose(r.sum(axis=1), 1.0, rtol=1e-5, err_msg=key)
        assert r.min() >= 0, key  # one-hot start, z⁺ and magnitude shares: nothing negative


def test_proportional_split_amplifies_on_the_same_stack():
    """The failure the magnitude split removes: LRP-0 on the cancelling stream conserves Σ R
    but not Σ|R|."""
    model, x = preactivation_stack(), images(2, size=8, seed=1)
    rel, _, _ = relevances(model, x, _zplus(rules.Proportional()))
    cuts = [rel[k].reshape(len(x), -1).astype("float64")
            for k in cut_keys(graph.trace(model)) if k in rel]
    for r in cuts:
        np.testing.assert_allclose(r.sum(axis=1), 1.0, rtol=1e-4)
    largest = np.max([np.abs(r).sum(axis=1) for r in cuts], axis=0)
    assert np.all(largest > 1.2), largest  # 1.78 and 1.45 on this stack of 3 blocks


def test_sums_by_magnitude_on_request_and_x_plus_y_of_two_tensors():
    inp = keras.Input((4,))
    a, b = L.Dense(3, name="a")(inp), L.Dense(3, name="b")(inp)
    out = L.Dense(2, name="out")(ops.add(L.Average(name="avg")([a, b]), a) + 1.0)
    program = graph.trace(keras.Model(inp, out))
    rules_by_kind = {}
    by_magnitude = epsilon_plus(sums=rules.AbsProportional())
    for step in program.steps:
        rule = by_magnitude.rule_for(step)
        rules_by_kind.setdefault(type(step.layer).__name__, set()).add(
            (len(step.inputs), type(rule).__name__))
    assert rules_by_kind["Average"] == {(2, "AbsProportional")}
    # x + y of two tensors by magnitude; x + 1.0 (one tensor and a constant) keeps LRP-0
    assert rules_by_kind["Add"] == {(2, "AbsProportional"), (1, "Proportional")}
    # the presets' default is zennit's: LRP-0's split of every sum
    average = next(s for s in program.steps if isinstance(s.layer, L.Average))
    for preset in (epsilon_plus(), composites.epsilon_plus_flat(), composites.lrp_zero()):
        assert isinstance(preset.rule_for(average), rules.Proportional), preset.name


def test_max_pooling_over_zero_padding_gives_the_padding_its_share():
    """ResNet50V2's stem (signed conv -> ZeroPadding -> MaxPool): where a window's real values
    are all negative the padding's 0 is the maximum, and winner-take-all hands that window's
    relevance to the padding, which the crop then drops, as a bias absorbs its share."""
    inp = keras.Input((1, 4, 1))
    y = L.MaxPooling2D((1, 2))(L.ZeroPadding2D(((0, 0), (1, 1)))(inp))  # [0,-3] [-1,2] [5,0]
    bn = L.BatchNormalization(epsilon=1e-3)
    out = L.Dense(1, use_bias=False, kernel_initializer="ones")(L.Flatten()(bn(y)))
    model = keras.Model(inp, out)
    bn.moving_mean.assign([-1.0])  # BN(y) = y + 1: [1, 3, 6], the logit 10
    bn.moving_variance.assign([1.0 - 1e-3])
    x = np.array([-3.0, -1.0, 2.0, 5.0], "float32").reshape(1, 1, 4, 1)
    rel, _, _ = relevances(model, x, composites.lrp_zero())
    got = rel[graph.trace(model).input_keys[0]].ravel()
    np.testing.assert_allclose(got, [0.0, 0.0, 0.3, 0.6], rtol=1e-5, atol=1e-7)


def test_the_default_split_of_sums_is_the_explicit_lrp_zero_split():
    """epsilon_plus() (sums=None) gives the relevance of epsilon_plus(sums=Proportional()),
    at every cut, and not that of the magnitude split on this cancelling stream."""
    model, x = preactivation_stack(), images(2, size=8, seed=1)
    default, _, _ = relevances(model, x, epsilon_plus())
    explicit, _, _ = relevances(model, x, epsilon_plus(sums=rules.Proportional()))
    magnitude, _, _ = relevances(model, x, epsilon_plus(sums=rules.AbsProportional()))
    assert default.keys() == explicit.keys()
    for key in default:
        np.testing.assert_allclose(default[key], explicit[key], rtol=1e-6, atol=1e-7, err_msg=key)
    # below the first Add the two splits part (the cuts above it agree)
    assert any(not np.allclose(default[k], magnitude[k], atol=1e-4) for k in default)
