"""LRP through the layers transformers are made of (issue 25 §2): LayerNormalization and
GroupNormalization with the standard deviation held constant (the LN-rule), multi-head
attention with the attention weights held constant (the AH-rule; Ali et al., ICML 2022),
each against numpy on one layer, and relevance conserved through a bias-free block."""
from __future__ import annotations

import types

import keras
import numpy as np
import pytest
from keras import ops
from lrp_helpers import relevances

from tfcam import graph
from tfcam.lrp import Composite, lrp_zero, rules

L = keras.layers
EPS = 1e-6


def _eps_lrp(jacobian, x, z, r):
    """Numpy LRP-ε through an affine map with Jacobian (out, in): x ⊙ Jᵀ (r / (z + ε sign z))."""
    s = r / (z + EPS * np.where(z >= 0, 1.0, -1.0))
    return x * (jacobian.T @ s)


def _tensors(*lists):
    """The recorded tensors a rule gets from the walk (float32 tensors, not numpy)."""
    return [[ops.convert_to_tensor(np.asarray(v, "float32")) for v in values] for values in lists]


def _site(layer, step=None):
    return types.SimpleNamespace(layer=layer, path=layer.name, step=step)


def _random_affine(layer, seed):
    """Random non-trivial gamma and beta (a fresh layer has 1 and 0)."""
    rng = np.random.default_rng(seed)
    for variable in layer.weights:
        variable.assign(rng.normal(1.0 if "gamma" in variable.path else 0.0, 0.5,
                                   variable.shape).astype("float32"))


def test_layer_norm_rule_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 6)).astype("float32")
    norm = L.LayerNormalization(epsilon=1e-3)
    norm(x)
    _random_affine(norm, 1)
    y = np.asarray(norm(x))
    r = rng.normal(size=y.shape).astype("float32")
    (got,) = rules.ConstantNormalizer(EPS).relevance_in(_site(norm), *_tensors([x], [y], [r]))
    gamma, beta = np.asarray(norm.gamma), np.asarray(norm.beta)
    d = x.shape[-1]
    for n in range(2):
        for t in range(3):
            v = x[n, t].astype("float64")
            sigma = np.sqrt(v.var() + 1e-3)
            jacobian = np.diag(gamma / sigma) @ (np.eye(d) - 1.0 / d)  # σ held constant
            z = jacobian @ v + beta
            np.testing.assert_allclose(z, y[n, t], rtol=1e-4, atol=1e-5)  # the same layer
            np.testing.assert_allclose(np.asarray(got)[n, t], _eps_lrp(jacobian, v, z, r[n, t]),
                                       rtol=1e-3, atol=1e-5)


def test_group_norm_rule_matches_numpy():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    norm = L.GroupNormalization(groups=2, epsilon=1e-3)
    norm(x)
    _random_affine(norm, 3)
    y = np.asarray(norm(x))
    r = rng.normal(size=y.shape).astype("float32")
    (got,) = rules.ConstantNormalizer(EPS).relevance_in(_site(norm), *_tensors([x], [y], [r]))
    gamma, beta = np.asarray(norm.gamma), np.asarray(norm.beta)
    for n in range(2):
        for g in range(2):
            channels = slice(2 * g, 2 * g + 2)
            v = x[n, :, :, channels].astype("float64").ravel()  # one group: (3, 3, 2)
            size = v.size
            sigma = np.sqrt(v.var() + 1e-3)
            scale = np.tile(gamma[channels], size // 2) / sigma
            jacobian = np.diag(scale) @ (np.eye(size) - 1.0 / size)
            z = jacobian @ v + np.tile(beta[channels], size // 2)
            np.testing.assert_allclose(z, y[n, :, :, channels].ravel(), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(
                np.asarray(got)[n, :, :, channels].ravel(),
                _eps_lrp(jacobian, v, z, r[n, :, :, channels].ravel()), rtol=1e-3, atol=1e-5)


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`:UserWarning")  # still a Keras option
def test_rms_scaling_passes_relevance_unchanged():
    x = np.random.default_rng(4).normal(size=(2, 5)).astype("float32")
    norm = L.LayerNormalization(rms_scaling=True)
    r = np.random.default_rng(5).normal(size=(2, 5)).astype("float32")
    (got,) = rules.ConstantNormalizer().relevance_in(
        _site(norm), *_tensors([x], [np.asarray(norm(x))], [r]))
    np.testing.assert_array_equal(np.asarray(got), r)


def _attention_model(cross: bool, use_bias=True, seed=0):
    keras.utils.set_random_seed(seed)
    query = keras.Input((4, 6), name="query")
    value = keras.Input((5, 6), name="value") if cross else query
    out = L.MultiHeadAttention(2, 3, use_bias=use_bias, name="mha")(query, value)
    inputs = [query, value] if cross else query
    return keras.Model(inputs, out)


@pytest.mark.parametrize("cross", [False, True], ids=["self", "cross"])
def test_attention_rule_matches_numpy(cross):
    model = _attention_model(cross)
    mha = model.get_layer("mha")
    rng = np.random.default_rng(6)
    q = rng.normal(size=(2, 4, 6)).astype("float32")
    v = rng.normal(size=(2, 5, 6)).astype("float32") if cross else q
    (step,) = [s for s in graph.trace(model).steps if s.layer is mha]
    feed = {graph.trace(model).input_keys[0]: q}
    if cross:
        feed[graph.trace(model).input_keys[1]] = v
    inputs = [feed[k] for k in step.inputs]
    y, weights = mha(q, v, return_attention_scores=True)
    y, weights = np.asarray(y, "float64"), np.asarray(weights, "float64")
    r = rng.normal(size=y.shape)
    got = rules.ConstantAttention(EPS).relevance_in(_site(mha, step),
                                                       *_tensors(inputs, [y], [r]))
    w_v = np.asarray(mha._value_dense.kernel, "float64")  # the biases are in z = y
    w_o = np.asarray(mha._output_dense.kernel, "float64")
    for n in range(2):
        # out[t, c'] = Σ_{h,d} (Σ_s A[h,t,s] (x[s] W_v + b_v)[h,d]) W_o[h,d,c'] + b_o: linear in x
        jac = np.einsum("hts,chd,hde->tesc", weights[n], w_v, w_o).reshape(y[n].size, -1)
        z = y[n].ravel()
        expected = _eps_lrp(jac, v[n].astype("float64").ravel(), z, r[n].ravel())
        # by key: self-attention reads one tensor as query, key and value
        value_key = graph.trace(model).input_keys[-1]
        by_key = {}
        for key, g in zip(step.inputs, got):
            by_key[key] = by_key.get(key, 0.0) + np.asarray(g)[n]
        np.testing.assert_allclose(by_key.pop(value_key).ravel(), expected, rtol=1e-3,
                                   atol=1e-6)
        assert all(not np.any(g) for g in by_key.values())  # the query gets none


def _block(seed=0):
    """A pre-norm attention block without biases, pooled: relevance must be conserved."""
    keras.utils.set_random_seed(seed)
    tokens = keras.Input((5, 8))
    h = L.LayerNormalization(center=False, name="norm")(tokens)
    h = L.MultiHeadAttention(2, 4, use_bias=False, name="mha")(h, h)
    x = L.Add()([tokens, h])
    h = L.Dense(16, activation="gelu", use_bias=False)(L.GroupNormalization(
        groups=2, center=False)(x))
    x = L.Add()([x, L.Dense(8, use_bias=False)(h)])
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(tokens, L.Dense(3, use_bias=False)(x))


def test_relevance_is_conserved_through_a_transformer_block():
    model = _block()
    x = np.random.default_rng(7).normal(size=(3, 5, 8)).astype("float32")
    rel, walk, _ = relevances(model, x, lrp_zero(), target=1)
    program = graph.trace(model)
    kinds = {type(s.rule).__name__ for s in walk.sites}
    assert {"ConstantNormalizer", "ConstantAttention"} <= kinds
    total = np.asarray(rel[program.input_keys[0]]).sum(axis=(1, 2))
    # the walk starts from 1 at the target; GELU passes relevance unchanged: conserved up
    # to the ε of each rule
    np.testing.assert_allclose(total, 1.0, rtol=1e-4)


def test_a_normalizer_rule_on_another_layer_is_refused_when_planned():
    model = _block()
    with pytest.raises(ValueError, match="ConstantNormalizer handles LayerNormalization"):
        relevances(model, np.zeros((1, 5, 8), "float32"),
                   Composite(layers={L.Dense: rules.ConstantNormalizer()}), target=0)
