"""Infidelity (Yeh et al. 2019) against answers known in closed form on linear models."""

import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_helpers import linear_model, mean_model, np_softmax

import tfcam
from tfcam import metrics

RNG = np.random.default_rng(0)
W = RNG.normal(size=(16, 3))
B = RNG.normal(size=3)
X = RNG.random((3, 4, 4, 1)).astype(np.float32)
CLASSES = np.array([0, 1, 2])
GRAD = np.stack([W[:, c].reshape(4, 4, 1) for c in CLASSES])  # df/dx of each image's class


@pytest.fixture(scope="module")
def linear():
    return linear_model(W, B)


@pytest.fixture(scope="module")
def linear_softmax():
    return linear_model(W, B, softmax=True)


@pytest.mark.parametrize("normalize", [False, True])
def test_exact_gradient_of_a_linear_model_has_zero_infidelity(linear, linear_softmax, normalize):
    for model in (linear, linear_softmax):  # the logit is read before the softmax
        r = metrics.infidelity(model, X, GRAD, CLASSES, normalize=normalize)
        assert r.name == "infidelity" and not r.higher_is_better
        np.testing.assert_allclose(r.values, 0.0, atol=1e-10)
        assert r.extras["attribution_dot"].shape == (3, 100)
        # the perturbations did change the score: the zero is not trivial
        assert np.abs(r.extras["score_change"]).mean() > 0.1


def test_gaussian_infidelity_is_s2_times_the_squared_error_of_the_gradient(linear):
    # f linear: IᵀΦ − Δf = Iᵀ(Φ − w), so E[·²] = s²‖Φ − w‖² (I ~ N(0, s²)). The estimate is
    # s²‖d‖² times a mean of P chi-square(1) draws: relative std sqrt(2 / P) = 0.016 at
    # P = 8000; 5 standard deviations is 0.08.
    d = RNG.normal(size=GRAD.shape)
    r = metrics.infidelity(linear, X, GRAD + d, CLASSES, n_perturbations=8000, noise_std=0.1,
                           batch_size=2048)
    expected = 0.01 * (d**2).reshape(3, -1).sum(axis=1)
    np.testing.assert_allclose(r.values / expected, 1.0, atol=0.08)


def test_normalize_removes_the_attributions_scale(linear):
    r = metrics.infidelity(linear, X, 3.0 * GRAD, CLASSES, normalize=True)
    np.testing.assert_allclose(r.values, 0.0, atol=1e-10)
    np.testing.assert_allclose(r.extras["beta"], 1 / 3, rtol=1e-6)
    plain = metrics.infidelity(linear, X, 3.0 * GRAD, CLASSES, normalize=False)
    assert np.all(plain.values > 1e-2)  # (3 − 1)² s² ‖w‖² without the optimal scale
    np.testing.assert_array_equal(plain.extras["beta"], 1.0)


def test_square_removal_with_input_x_gradient_is_exact(linear):
    # Φ = w ⊙ (x − b) is exactly the effect of setting any square to b on a linear model
    baseline = 0.25
    r = metrics.infidelity(linear, X, GRAD * (X - baseline), CLASSES, perturbation="square",
                           baseline=baseline)
    np.testing.assert_allclose(r.values, 0.0, atol=1e-10)
    # ...and not with the plain gradient
    g = metrics.infidelity(linear, X, GRAD, CLASSES, perturbation="square", baseline=baseline)
    assert np.all(g.values > 1e-3)


def test_noisy_baseline_with_the_gradient_is_exact(linear):
    r = metrics.infidelity(linear, X, GRAD, CLASSES, perturbation="noisy_baseline",
                           baseline=[0.5], noise_std=0.05)
    np.testing.assert_allclose(r.values, 0.0, atol=1e-10)


def test_squares_are_uniform_over_all_squares():
    # 2 × 2 image of 2s, f = mean pixel, Φ = 1 everywhere, squares of side 1 or 2:
    # four 1-squares (IᵀΦ = 1, Δf = 0.5, error 0.25) and one 2-square (4, 2, error 4).
    model = mean_model([[1.0, 0.0]], [0.0, 0.0], size=2)
    x = np.full((1, 2, 2, 1), 2.0, np.float32)
    r = metrics.infidelity(model, x, np.ones((1, 2, 2)), 0, perturbation="square",
                           max_square=2, n_perturbations=2000, apply_softmax=False)
    errors = (r.extras["attribution_dot"] - r.extras["score_change"]) ** 2
    np.testing.assert_allclose(np.sort(np.unique(errors.round(6))), [0.25, 4.0])
    share_big = np.mean(r.extras["attribution_dot"] == 4.0)
    assert share_big == pytest.approx(0.2, abs=0.05)  # 1 of 5 squares; std 0.009
    assert r.values[0] == pytest.approx(np.mean(errors), rel=1e-9)


def test_a_map_counts_once_per_channel():
    w = RNG.normal(size=(2 * 2 * 3, 2))
    model = linear_model(w, [0.0, 0.0], size=2, channels=3)
    x = RNG.random((2, 2, 2, 3)).astype(np.float32)
    m = RNG.normal(size=(2, 2, 2))
    as_map = metrics.infidelity(model, x, m, 0, n_perturbations=20)
    explicit = metrics.infidelity(model, x, np.repeat(m[..., None], 3, axis=-1), 0,
                                  n_perturbations=20)
    np.testing.assert_allclose(as_map.values, explicit.values, rtol=1e-12)


def test_reproducible_from_the_seed_at_any_batch_size(linear):
    a = metrics.infidelity(linear, X, GRAD * 0.5, CLASSES, n_perturbations=13, batch_size=4)
    b = metrics.infidelity(linear, X, GRAD * 0.5, CLASSES, n_perturbations=13, batch_size=39)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-5)
    np.testing.assert_array_equal(a.extras["attribution_dot"], b.extras["attribution_dot"])
    c = metrics.infidelity(linear, X, GRAD * 0.5, CLASSES, n_perturbations=13, seed=1)
    assert not np.allclose(a.values, c.values)


def test_logit_or_probability(linear_softmax):
    logits = X.reshape(3, -1) @ W + B
    r = metrics.infidelity(linear_softmax, X, GRAD, CLASSES, n_perturbations=2)
    np.testing.assert_allclose(r.extras["original"], logits[np.arange(3), CLASSES], rtol=1e-5)
    p = metrics.infidelity(linear_softmax, X, GRAD, CLASSES, n_perturbations=2,
                           apply_softmax=True)
    np.testing.assert_allclose(p.extras["original"], np_softmax(logits)[np.arange(3), CLASSES],
                               rtol=1e-5)


def test_an_explanation_gives_its_attributions_and_targets(linear):
    e = tfcam.explain(linear, X, "saliency", targets=CLASSES)
    r = metrics.infidelity(linear, X, e)
    np.testing.assert_allclose(r.values, 0.0, atol=1e-10)


def test_errors(linear):
    with pytest.raises(ValueError, match=r"inputs' shape \(3, 4, 4, 1\) or be maps of shape"):
        metrics.infidelity(linear, X, np.zeros((3, 4, 4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.infidelity(linear, X, np.full((3, 4, 4), np.nan))
    with pytest.raises(ValueError, match="perturbation must be one of"):
        metrics.infidelity(linear, X, GRAD, perturbation="blur")
    with pytest.raises(ValueError, match="noise_std must be a positive number"):
        metrics.infidelity(linear, X, GRAD, noise_std=0)
    with pytest.raises(ValueError, match="max_square must be at most the image's shorter side 4"):
        metrics.infidelity(linear, X, GRAD, perturbation="square", max_square=5)
    with pytest.raises(ValueError, match="n_perturbations must be an integer >= 1"):
        metrics.infidelity(linear, X, GRAD, n_perturbations=0)
    with pytest.raises(ValueError, match=r"baseline must broadcast to the inputs' shape"):
        metrics.infidelity(linear, X, GRAD, baseline=np.zeros(3))
    cam = types.SimpleNamespace(maps=np.zeros((3, 4, 4)), attributions=None, method="grad_cam",
                                targets=None)
    with pytest.raises(ValueError, match="has no input-space attributions"):
        metrics.infidelity(linear, X, cam)


_LINEAR = {}


def _linear(w):
    # one model reused across hypothesis examples: only its weights change
    if "m" not in _LINEAR:
        _LINEAR["m"] = linear_model(w, np.zeros(2))
    _LINEAR["m"].layers[-1].set_weights([w.astype(np.float32), np.zeros(2, np.float32)])
    return _LINEAR["m"]


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(0.1, 10.0),
       kind=st.sampled_from(["gaussian", "square"]))
def test_normalized_is_at_most_plain_and_scale_free(seed, scale, kind):
    rng = np.random.default_rng(seed)
    model = _linear(rng.normal(size=(16, 2)))
    x = rng.random((2, 4, 4, 1)).astype(np.float32)
    phi = rng.normal(size=(2, 4, 4, 1))
    plain = metrics.infidelity(model, x, phi, 0, perturbation=kind, n_perturbations=16)
    norm = metrics.infidelity(model, x, phi, 0, perturbation=kind, n_perturbations=16,
                              normalize=True)
    scaled = metrics.infidelity(model, x, scale * phi, 0, perturbation=kind, n_perturbations=16,
                                normalize=True)
    assert np.all(plain.values >= 0) and np.all(norm.values >= 0)
    assert np.all(norm.values <= plain.values * (1 + 1e-9) + 1e-12)  # β is the optimal scale
    np.testing.assert_allclose(scaled.values, norm.values, rtol=1e-6, atol=1e-12)
