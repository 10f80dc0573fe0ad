"""Products of a signal and gates (issue 25 §2): squeeze-and-excitation, hard-swish.

Signal-take-all (Arras et al., 2017): the gates are held constant, all relevance goes to
the signal, none to the gates; relevance is conserved.
"""
from __future__ import annotations

import types

import keras
import numpy as np
import pytest
from lrp_helpers import cut_keys, images, relevances

import tfcam
from tfcam import graph
from tfcam.lrp import lrp_zero, rules
from tfcam.lrp.walk import Walk

L = keras.layers


def se_net(seed=0, hard=False):
    """conv (no bias) -> squeeze-and-excitation (or hard-swish) -> GAP -> Dense (no bias)."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(6, 3, padding="same", use_bias=False, activation="relu", name="conv")(inp)
    if hard:  # MobileNetV3's hard-swish: x * ReLU6(x + 3) / 6
        gate = L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    else:
        squeezed = L.GlobalAveragePooling2D(keepdims=True)(x)
        gate = L.Conv2D(6, 1, activation="sigmoid", name="excite")(squeezed)
    x = L.Multiply(name="gated")([x, gate])
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(4, use_bias=False, name="head")(x))


def test_the_rule_gives_the_signal_everything_and_the_gate_nothing():
    rng = np.random.default_rng(0)
    x, g = rng.random((2, 4, 4, 3)), rng.random((2, 1, 1, 3))
    r = rng.normal(size=(2, 4, 4, 3))
    site = types.SimpleNamespace(gates=(False, True), path="p", layer=None)
    r_x, r_g = rules.GatedProduct().relevance_in(site, [x, g], [x * g], [r])
    np.testing.assert_allclose(np.asarray(r_x), r)
    np.testing.assert_array_equal(np.asarray(r_g), 0.0)
    # a broadcast signal (the gate is the larger input) sums over the broadcast axes
    site = types.SimpleNamespace(gates=(True, False), path="p", layer=None)
    _, r_small = rules.GatedProduct().relevance_in(site, [x, g], [x * g], [r])
    np.testing.assert_allclose(np.asarray(r_small), r.sum(axis=(1, 2), keepdims=True))


@pytest.mark.parametrize("hard", [False, True], ids=["squeeze_excite", "hard_swish"])
def test_relevance_is_conserved_through_the_gate(hard):
    model = se_net(hard=hard)
    program = graph.trace(model)
    x = images(2, size=8, seed=3)
    rel, walk, _ = relevances(model, x, lrp_zero(), target=1)
    (site,) = [s for s in walk.sites if s.path == "gated"]
    assert site.gates == (False, True)  # the gate is computed from the signal
    gate_key = site.step.inputs[1]
    np.testing.assert_array_equal(rel[gate_key], 0.0)
    for key in [k for k in cut_keys(program) if k in rel]:  # input, conv, the product, ...
        np.testing.assert_allclose(rel[key].reshape(2, -1).sum(1), 1.0, rtol=1e-5)


def test_a_product_of_two_independent_signals_is_refused_when_planned():
    a, b = keras.Input((4,)), keras.Input((4,))
    model = keras.Model([a, b], L.Dense(2)(L.Multiply(name="both")([a, b])))
    with pytest.raises(ValueError, match=r"gated-product rule needs one signal and gates at "
                                         r"'both'.*register_rule"):
        Walk(graph.trace(model), lrp_zero())


@pytest.mark.parametrize("build", [
    lambda: keras.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3)),
    lambda: keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3)),
], ids=["EfficientNetB0", "MobileNetV3Small"])
def test_lrp_explains_keras_applications_with_gates(build):
    keras.utils.set_random_seed(0)
    model = build()
    x = np.random.default_rng(0).random((1, 32, 32, 3)).astype("float32")
    ex = tfcam.explain(model, x, method="lrp")
    assert np.isfinite(ex.relevance).all() and ex.maps.std() > 0.01


def test_inception_resnets_scaled_residual_is_split_in_proportion():
    """InceptionResNetV2's CustomScaleLayer, x + scale * branch: linear, so Proportional
    (relevance conserved, each input's share its contribution)."""
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    keras.utils.set_random_seed(1)
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, padding="same", use_bias=False, activation="relu")(inp)
    branch = L.Conv2D(4, 1, use_bias=False, activation="relu")(x)
    x = CustomScaleLayer(0.2, name="scaled")([x, branch])
    model = keras.Model(inp, L.Dense(3, use_bias=False)(L.GlobalAveragePooling2D()(x)))
    rel, walk, env = relevances(model, images(2, size=8, seed=2), lrp_zero(), target=0)
    (site,) = [s for s in walk.sites if s.path == "scaled"]
    assert isinstance(site.rule, rules.Proportional)
    shortcut, branch = (np.asarray(env[k]) for k in site.step.inputs)
    out = rel[site.step.outputs[0]]
    np.testing.assert_allclose(out.reshape(2, -1).sum(1), 1.0, rtol=1e-5)
    r_short, r_branch = (np.asarray(r) for r in site.rule.relevance_in(
        site, [env[k] for k in site.step.inputs], [env[site.step.outputs[0]]], [out]))
    total = shortcut + 0.2 * branch
    share = np.divide(out, total, out=np.zeros_like(out), where=total != 0)  # 0 where both are
    np.testing.assert_allclose(r_short, shortcut * share, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(r_branch, 0.2 * branch * share, rtol=1e-4, atol=1e-7)
    assert np.abs(r_branch).sum() > 0.05  # the branch gets a real share
