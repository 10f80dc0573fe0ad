"""Completeness: Σ attributions against f(x) − f(baseline), on models where it is known."""

import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_helpers import (
    linear_model,
    mean_model,
    np_softmax,
    relu_mlp_without_bias,
    smooth_cnn,
)

import tfcam
from tfcam import metrics

RNG = np.random.default_rng(0)
W = RNG.normal(size=(16, 3))
B = RNG.normal(size=3)
X = RNG.random((3, 4, 4, 1)).astype(np.float32)
X8 = np.random.default_rng(1).random((3, 8, 8, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def smooth():
    return smooth_cnn()


def test_input_x_gradient_of_a_linear_model_is_complete():
    for softmax in (False, True):  # the logit is read before the softmax
        model = linear_model(W, B, softmax=softmax)
        e = tfcam.explain(model, X, "input_x_gradient", targets=[0, 1, 2])
        r = metrics.completeness(model, X, e)
        assert r.name == "completeness" and not r.higher_is_better
        np.testing.assert_array_less(r.values, 1e-5)
        logits = X.reshape(3, -1) @ W + B
        np.testing.assert_allclose(r.extras["score"], logits[np.arange(3), [0, 1, 2]], rtol=1e-5)
        np.testing.assert_allclose(r.extras["score_change"],
                                   (X.reshape(3, -1) @ W)[np.arange(3), [0, 1, 2]], rtol=1e-5)


def test_integrated_gradients_is_complete_with_enough_steps(smooth):
    e = tfcam.explain(smooth, X8, "integrated_gradients", steps=128)
    np.testing.assert_array_less(metrics.completeness(smooth, X8, e).values, 1e-2)
    # the model is far from linear: two trapezoid steps and Input×Gradient are not complete
    coarse = tfcam.explain(smooth, X8, "integrated_gradients", steps=2, rule="riemann_trapezoid")
    assert np.all(metrics.completeness(smooth, X8, coarse).values > 0.1)
    ixg = tfcam.explain(smooth, X8, "input_x_gradient")
    assert np.all(metrics.completeness(smooth, X8, ixg).values > 0.1)


def test_the_baseline_must_be_the_one_integrated_from(smooth):
    e = tfcam.explain(smooth, X8, "integrated_gradients", steps=64, baseline=0.5)
    np.testing.assert_array_less(metrics.completeness(smooth, X8, e, baseline=0.5).values, 1e-2)
    assert np.all(metrics.completeness(smooth, X8, e).values > 0.3)  # black baseline: wrong


def test_lrp_zero_conserves_the_logit_it_starts_with():
    model = relu_mlp_without_bias()  # f(0) = 0
    e = tfcam.explain(model, X, "lrp", composite="lrp_zero", start="logit")
    np.testing.assert_array_less(metrics.completeness(model, X, e).values, 1e-5)
    unit = tfcam.explain(model, X, "lrp", composite="lrp_zero")  # start="one_hot": Σ R = 1
    r = metrics.completeness(model, X, unit)
    np.testing.assert_allclose(r.extras["attribution_sum"], 1.0, atol=1e-5)


def test_channel_sums_and_probabilities():
    model = linear_model(W, B, softmax=True)
    e = tfcam.explain(model, X, "input_x_gradient", targets=[2, 1, 0])
    full = metrics.completeness(model, X, e.attributions, [2, 1, 0])
    summed = metrics.completeness(model, X, e.signed, [2, 1, 0])  # (N, H, W) channel sums
    np.testing.assert_allclose(summed.values, full.values, atol=1e-9)
    p = metrics.completeness(model, X, e, apply_softmax=True)
    probs = np_softmax(X.reshape(3, -1) @ W + B)[np.arange(3), [2, 1, 0]]
    np.testing.assert_allclose(p.extras["score"], probs, rtol=1e-5)


def test_no_score_change_reports_the_absolute_error():
    model = mean_model([[0.0, 0.0]], [0.5, 0.0], size=4)  # ignores its input: Δf = 0
    r = metrics.completeness(model, X, np.full((3, 4, 4), 0.01), 0)
    np.testing.assert_array_equal(r.extras["score_change"], 0.0)
    np.testing.assert_allclose(r.values, 0.16)  # |Σφ| = 16 · 0.01


def test_errors():
    model = linear_model(W, B)
    with pytest.raises(ValueError, match=r"inputs' shape \(3, 4, 4, 1\) or be maps of shape"):
        metrics.completeness(model, X, np.zeros((3, 16)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.completeness(model, X, np.full(X.shape, np.inf))
    with pytest.raises(ValueError, match="baseline must broadcast to the inputs' shape"):
        metrics.completeness(model, X, np.zeros(X.shape), baseline=np.zeros((2, 4, 4, 1)))
    cam = types.SimpleNamespace(maps=np.zeros((3, 4, 4)), attributions=None, method="grad_cam",
                                targets=None)
    with pytest.raises(ValueError, match="has no input-space attributions"):
        metrics.completeness(model, X, cam)


_LINEAR = {}


def _linear(w, b):
    if "m" not in _LINEAR:
        _LINEAR["m"] = linear_model(w, b)
    _LINEAR["m"].layers[-1].set_weights([w.astype(np.float32), b.astype(np.float32)])
    return _LINEAR["m"]


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), t=st.floats(-0.9, 0.9))
def test_scaled_exact_attributions_have_relative_error_t(seed, t):
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=(16, 2)), rng.normal(size=2)
    model = _linear(w, b)
    x = rng.random((2, 4, 4, 1)).astype(np.float32) + 0.1
    exact = x[..., 0] * w[:, 0].reshape(4, 4)  # w ⊙ x sums to f(x) − f(0)
    r = metrics.completeness(model, x, (1 + t) * exact, 0)
    # float32 logits: an absolute rounding of ~1e-6 · Σ|w ⊙ x|, relative to |Δf|
    change = exact.reshape(2, -1).sum(axis=1)
    tolerance = 1e-5 * np.abs(exact).reshape(2, -1).sum(axis=1) / np.abs(change)
    np.testing.assert_array_less(np.abs(r.values - abs(t)), tolerance + 1e-9)
