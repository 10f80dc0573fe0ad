"""Conservation: with LRP-0 / z⁺ and no biases, relevance sums to the output relevance at
every layer (every tensor all paths go through), on VGG-style and ResNet-style models."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lrp_helpers import cut_keys, images, init, relevances, resnet_style, vgg_style

from tfcam import graph
from tfcam.lrp import Composite, lrp_zero, rules

L = keras.layers
RTOL = 1e-5


def zplus(canonize=False):
    return Composite(conv=rules.ZPlus(), dense=rules.ZPlus(), canonize=canonize)


def _assert_conserved(model, x, composite, target=0, min_cuts=1):
    program = graph.trace(model)
    rel, walk, _ = relevances(model, x, composite, target=target)
    total = np.ones(len(x))  # one-hot start: one unit of relevance per sample
    cuts = [k for k in cut_keys(program) if k in rel]
    assert len(cuts) >= min_cuts
    for key in cuts:
        sums = rel[key].reshape(len(x), -1).astype("float64").sum(axis=1)
        np.testing.assert_allclose(sums, total, rtol=RTOL, atol=RTOL,
                                   err_msg=f"relevance not conserved at {key}")
    return rel, walk


@pytest.mark.parametrize("composite", [lrp_zero(), zplus()], ids=["lrp0", "zplus"])
def test_conservation_vgg_style(composite):
    model = vgg_style(use_bias=False, seed=2)
    x = images(2, seed=3)
    # VGG-style is a chain: every tensor is a cut (input, 5 convs/acts, pools, dense ...)
    _assert_conserved(model, x, composite, min_cuts=12)


@pytest.mark.parametrize("composite,batchnorm", [
    (lrp_zero(), False),
    (zplus(canonize=True), True),   # BatchNorm folded: its shift becomes a bias, which z⁺ ignores
    (zplus(canonize=False), True),  # BatchNorm passed through
], ids=["lrp0", "zplus_bn_folded", "zplus_bn_pass"])
def test_conservation_resnet_style(composite, batchnorm):
    # (LRP-0 with BatchNorm passed through conserves too in exact arithmetic, but divides
    # by the tiny pre-BatchNorm outputs: float32 loses digits there, which is why LRP
    # composites fold BatchNorm.)
    model = resnet_style(use_bias=False, batchnorm=batchnorm, seed=4)
    x = images(2, seed=5)
    _, walk = _assert_conserved(model, x, composite, min_cuts=6)
    assert sum(isinstance(s.layer, L.Add) for s in walk.sites) == 2


def test_add_split_in_walk_is_exact():
    """Relevance at an Add's output equals the sum of what its rule gives the inputs."""
    model = resnet_style(use_bias=False, batchnorm=False, seed=6)
    x = images(2, seed=7)
    program = graph.trace(model)
    rel, walk, env = relevances(model, x, lrp_zero())
    for site in walk.sites:
        if not isinstance(site.layer, L.Add):
            continue
        ins = [env[k] for k in site.step.inputs]
        outs = [env[k] for k in site.step.outputs]
        r_out = rel[site.step.outputs[0]]
        parts = site.rule.relevance_in(site, ins, outs, [keras.ops.convert_to_tensor(r_out)])
        total = sum(np.asarray(p, "float64") for p in parts)
        np.testing.assert_allclose(total.sum(axis=(1, 2, 3)), r_out.sum(axis=(1, 2, 3)),
                                   rtol=1e-6, atol=1e-7)
    assert program.logit_key in rel


# ------------------------------------------------------------------ property tests
@st.composite
def conv_nets(draw):
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        layers.append(("conv", draw(st.integers(2, 5)), draw(st.sampled_from([1, 3])),
                       draw(st.sampled_from([1, 2])), draw(st.sampled_from(["same", "valid"]))))
        pool = draw(st.sampled_from(["none", "max", "avg"]))
        if pool != "none":
            layers.append((pool,))
    head = draw(st.sampled_from(["gap", "flatten", "gmp"]))
    classes = draw(st.integers(2, 4))
    seed = draw(st.integers(0, 2**16))
    rule = draw(st.sampled_from(["lrp0", "zplus"]))
    return layers, head, classes, seed, rule


def _build(layers, head, classes, seed, size=12):
    k = dict(init(seed), use_bias=False)
    inp = keras.Input((size, size, 3))
    x = inp
    for spec in layers:
        if spec[0] == "conv":
            _, filters, kernel, stride, padding = spec
            if padding == "valid" and x.shape[1] < kernel:
                padding = "same"
            x = L.Conv2D(filters, kernel, strides=stride, padding=padding,
                         activation="relu", **k)(x)
        elif x.shape[1] >= 2:
            x = (L.MaxPooling2D if spec[0] == "max" else L.AveragePooling2D)(2)(x)
    x = {"gap": L.GlobalAveragePooling2D, "flatten": L.Flatten,
         "gmp": L.GlobalMaxPooling2D}[head]()(x)
    out = L.Dense(classes, **k)(x)
    return keras.Model(inp, out)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
@given(conv_nets())
def test_conservation_random_conv_nets(net):
    layers, head, classes, seed, rule = net
    model = _build(layers, head, classes, seed)
    x = np.random.default_rng(seed).uniform(-1, 1, (2, 12, 12, 3)).astype("float32")
    composite = lrp_zero() if rule == "lrp0" else zplus()
    program = graph.trace(model)
    logits = np.asarray(model(x))
    target = int(np.argmax(logits[0]))
    # a network whose units all died outputs 0 for the class: nothing to conserve
    assume(np.all(np.abs(logits[:, target]) > 1e-4))
    rel, _, _ = relevances(model, x, composite, target=target)
    r_in = rel[program.input_keys[0]].reshape(2, -1).astype("float64")
    got = r_in.sum(axis=1)
    if rule == "lrp0":
        # LRP-0 divides by z, which random weights can make small next to the terms that
        # sum to it: float32 rounding is then relative to the size of those terms
        scale = np.maximum(1.0, np.abs(r_in).sum(axis=1))
        assert np.all(np.abs(got - 1.0) <= RTOL * scale), (got, scale)
    else:
        # z⁺ drops relevance only where an output had no positive contribution at all
        # (a dead unit); otherwise it conserves exactly
        assert np.all(got <= 1.0 + RTOL)
        alive = got > 1e-3
        np.testing.assert_allclose(got[alive], 1.0, rtol=RTOL, atol=RTOL)
