"""Max-sensitivity (Yeh et al. 2019): known answers, batching and the class explained."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_helpers import linear_model, mean_model

from tfcam import metrics

RNG = np.random.default_rng(0)
W = RNG.normal(size=(16, 3))
X = RNG.random((3, 4, 4, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def linear():
    return linear_model(W, np.zeros(3))


class Spy:
    """An explain function that records what it was called with."""

    def __init__(self, fn):
        self.fn, self.images, self.targets = fn, [], []

    def __call__(self, images, targets):
        self.images.append(np.array(images))
        self.targets.append(np.array(targets))
        return self.fn(images)


def test_the_gradient_of_a_linear_model_does_not_move(linear):
    for field in ("maps", "attributions"):
        r = metrics.max_sensitivity(linear, X, "saliency", [0, 1, 2], field=field)
        assert r.name == "max_sensitivity" and not r.higher_is_better
        np.testing.assert_allclose(r.values, 0.0, atol=1e-6)
        assert r.extras["sensitivities"].shape == (3, 10)


def test_input_x_gradient_moves_by_w_times_delta(linear):
    # Φ(y) = w ⊙ y, so the relative change is ‖w ⊙ δ‖ / ‖w ⊙ x‖ for the documented draws
    r = metrics.max_sensitivity(linear, X, "input_x_gradient", [0, 1, 2], field="attributions",
                                radius=0.05, n_perturbations=4, seed=3)
    for i, c in enumerate([0, 1, 2]):
        w = W[:, c].reshape(4, 4, 1)
        deltas = [np.random.default_rng([3, i, j]).uniform(-0.05, 0.05, (4, 4, 1))
                  for j in range(4)]
        expected = max(np.linalg.norm(w * d) for d in deltas) / np.linalg.norm(w * X[i])
        assert r.values[i] == pytest.approx(expected, rel=1e-4)


def test_a_nonlinear_explanation_against_its_hand_computed_change(linear):
    spy = Spy(lambda images: images[..., 0] ** 2)  # Φ(y) = y², a (B, 4, 4) map
    r = metrics.max_sensitivity(linear, X, spy, [0, 1, 2], radius=0.1, n_perturbations=5,
                                batch_size=7)
    seen = np.concatenate(spy.images)
    np.testing.assert_array_equal(seen[:3], X)  # the images first, then their copies
    copies = seen[3:].reshape(3, 5, 4, 4, 1)
    delta = copies - X[:, None]
    assert np.all(np.abs(delta) <= 0.1 + 1e-6) and np.abs(delta).max() > 0.05
    change = np.linalg.norm((copies[..., 0] ** 2 - X[:, None, ..., 0] ** 2).reshape(3, 5, -1),
                            axis=2)
    expected = change.max(axis=1) / np.linalg.norm((X[..., 0] ** 2).reshape(3, -1), axis=1)
    np.testing.assert_allclose(r.values, expected, rtol=1e-5)


def test_copies_are_explained_in_shared_batches():
    spy = Spy(lambda images: images[..., 0])
    model = mean_model([[1.0, 0.0]], [0.0, 0.0], size=4)
    metrics.max_sensitivity(model, X, spy, n_perturbations=10, batch_size=16)
    assert [len(t) for t in spy.targets] == [16, 16, 1]  # 3 + 30 inputs: ceil(33 / 16) calls


def test_copies_keep_the_class_explained_at_the_image():
    # logit0 − logit1 = 2·mean(x): images with a tiny margin, whose copies' top-1 flips
    model = mean_model([[1.0, -1.0]], [0.0, 0.0], size=4)
    x = np.full((2, 4, 4, 1), 0.002, np.float32)
    x[1] *= -1  # top-1: class 0 for image 0, class 1 for image 1
    spy = Spy(lambda images: images[..., 0])
    r = metrics.max_sensitivity(model, x, spy, radius=0.05, n_perturbations=20, batch_size=8)
    targets = np.concatenate(spy.targets)
    images = np.concatenate(spy.images)
    np.testing.assert_array_equal(targets[:2], [0, 1])
    np.testing.assert_array_equal(targets[2:], np.repeat([0, 1], 20))
    own_top1 = (images[2:].mean(axis=(1, 2, 3)) < 0).astype(int)
    assert np.any(own_top1 != targets[2:])  # some copies' own top-1 differs: it was not used
    np.testing.assert_array_equal(r.extras["targets"], [0, 1])


def test_a_zero_explanation_divides_by_one():
    # Φ(y) = y − x₀: zero at the image, δ at a copy, so the value is max ‖δ‖ itself
    x0 = X[:1]
    spy = Spy(lambda images: images - x0)
    r = metrics.max_sensitivity(mean_model([[1.0, 0.0]], [0.0, 0.0]), x0, spy, n_perturbations=6)
    deltas = np.concatenate(spy.images)[1:] - x0
    assert r.extras["norm"][0] == 0.0
    assert r.values[0] == pytest.approx(np.linalg.norm(deltas.reshape(6, -1), axis=1).max(),
                                        rel=1e-5)


def test_errors(linear):
    with pytest.raises(ValueError, match="radius must be a positive number"):
        metrics.max_sensitivity(linear, X, "saliency", radius=0)
    with pytest.raises(ValueError, match="n_perturbations must be an integer >= 1"):
        metrics.max_sensitivity(linear, X, "saliency", n_perturbations=0)
    with pytest.raises(ValueError, match="field must be one of"):
        metrics.max_sensitivity(linear, X, "saliency", field="heatmap")
    with pytest.raises(ValueError, match="explain must be a tfcam method name"):
        metrics.max_sensitivity(linear, X, 3)
    with pytest.raises(ValueError, match="options are passed to a tfcam method"):
        metrics.max_sensitivity(linear, X, lambda i, t: i, options={"steps": 2})
    with pytest.raises(ValueError, match="NaN"):
        metrics.max_sensitivity(linear, X, lambda i, t: np.full(i.shape, np.nan))
    with pytest.raises(ValueError, match=r"must have shape \(3, \.\.\.\), one per image"):
        metrics.max_sensitivity(linear, X, lambda i, t: i[:1], batch_size=3)
    with pytest.raises(ValueError, match="unknown method"):
        metrics.max_sensitivity(linear, X, "no_such_method")


_MEAN = {}


def _mean_model():
    if "m" not in _MEAN:
        _MEAN["m"] = mean_model([[1.0, 0.0]], [0.0, 0.0])
    return _MEAN["m"]


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(0.1, 10.0), batch_size=st.integers(1, 12),
       radius=st.floats(1e-3, 0.5))
def test_properties(seed, scale, batch_size, radius):
    x = np.random.default_rng(seed).random((2, 4, 4, 1)).astype(np.float32) + 0.1
    model = _mean_model()
    square = metrics.max_sensitivity(model, x, lambda i, t: i**2, radius=radius,
                                     n_perturbations=3, seed=seed)
    scaled = metrics.max_sensitivity(model, x, lambda i, t: scale * i**2, radius=radius,
                                     n_perturbations=3, seed=seed, batch_size=batch_size)
    constant = metrics.max_sensitivity(model, x, lambda i, t: np.ones(i.shape), radius=radius,
                                       n_perturbations=3, batch_size=batch_size)
    assert np.all(square.values > 0)
    # relative, seeded; the maps are float32, whose rounding (~1e-7) the difference
    # Φ(x + δ) − Φ(x) of size ~radius magnifies by 1/radius (seed 1, scale 3, radius 1e-3:
    # 1.8e-5 apart)
    np.testing.assert_allclose(scaled.values, square.values, rtol=max(1e-5, 1e-6 / radius))
    np.testing.assert_array_equal(constant.values, 0.0)
    # identity map: ‖δ‖ / ‖x‖ <= r·sqrt(D) / ‖x‖
    ident = metrics.max_sensitivity(model, x, lambda i, t: i, radius=radius, n_perturbations=3)
    bound = radius * math.sqrt(16) / np.linalg.norm(x.reshape(2, -1), axis=1)
    assert np.all(ident.values <= bound * (1 + 1e-5))
