"""Deletion / insertion (RISE) against hand-computed curves and a loop reference."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from metrics_helpers import linear_model, mean_model, np_softmax

from tfcam import metrics

# 2x2 image, score = mean pixel (raw output of class 0, no softmax)
X4 = (np.array([[1.0, 2.0], [3.0, 4.0]]) / 4).reshape(1, 2, 2, 1).astype(np.float32)


@pytest.fixture(scope="module")
def mean2():
    return mean_model([[1.0, 0.0]], [0.0, 0.0], size=2)


def test_deletion_hand_computed(mean2):
    r = metrics.deletion(mean2, X4, X4[..., 0], targets=0, steps=4, apply_softmax=False)
    np.testing.assert_allclose(r.curves[0], [0.625, 0.375, 0.1875, 0.0625, 0.0], atol=1e-6)
    assert r.values[0] == pytest.approx(0.234375, abs=1e-6)
    assert not r.higher_is_better
    np.testing.assert_allclose(r.extras["fraction"], [0, 0.25, 0.5, 0.75, 1])


def test_insertion_hand_computed(mean2):
    r = metrics.insertion(mean2, X4, X4[..., 0], targets=0, steps=4, fill=0.0, apply_softmax=False)
    np.testing.assert_allclose(r.curves[0], [0.0, 0.25, 0.4375, 0.5625, 0.625], atol=1e-6)
    assert r.values[0] == pytest.approx(0.390625, abs=1e-6)
    assert r.higher_is_better


def test_ties_are_row_major(mean2):
    # a constant map deletes pixels in row-major order: 0.25, 0.5, 0.75, 1.0
    r = metrics.deletion(mean2, X4, np.ones((1, 2, 2)), targets=0, steps=4, apply_softmax=False)
    np.testing.assert_allclose(r.curves[0], [0.625, 0.5625, 0.4375, 0.25, 0.0], atol=1e-6)
    # an all-zero map is the same constant map
    z = metrics.deletion(mean2, X4, np.zeros((1, 2, 2)), targets=0, steps=4, apply_softmax=False)
    np.testing.assert_allclose(z.curves, r.curves)


def test_gaussian_blur_kernel():
    img = np.zeros((1, 23, 23, 2), np.float32)
    img[0, 11, 11, 1] = 1.0
    out = metrics.gaussian_blur(img)  # sigma 5, 11 x 11
    k = np.exp(-(np.arange(-5, 6) ** 2) / (2 * 25.0))
    k /= k.sum()
    np.testing.assert_allclose(out[0, 6:17, 6:17, 1], np.outer(k, k), atol=1e-6)
    assert out[0, 5, 11, 1] == 0.0 and out[0, 11, 17, 1] == 0.0  # 11 x 11 support
    assert np.all(out[..., 0] == 0)  # channels are blurred separately


def test_insertion_starts_from_blur():
    model = mean_model([[1.0, 0.0]], [0.0, 0.0], size=16)
    rng = np.random.default_rng(0)
    x = rng.random((2, 16, 16, 1)).astype(np.float32)
    x[1] = 0.3  # constant image: blurring changes nothing, the curve is flat
    r = metrics.insertion(model, x, rng.random((2, 16, 16)), targets=0, apply_softmax=False)
    blurred = metrics.gaussian_blur(x)
    assert r.curves[0, 0] == pytest.approx(blurred[0].mean(), abs=1e-5)
    assert r.curves[0, -1] == pytest.approx(x[0].mean(), abs=1e-5)
    np.testing.assert_allclose(r.curves[1], 0.3, atol=1e-6)
    assert r.values[1] == pytest.approx(0.3, abs=1e-6)
    assert r.curves.shape == (2, 27)  # 256 px, ceil(256 / 28) = 10 px per step: 26 steps


def rise_reference(weights, bias, x, m, pps, start, finish):
    """RISE's single_run, one pixel block per step, in plain numpy."""
    hw = m.size
    n_steps = (hw + pps - 1) // pps
    order = np.argsort(-m.ravel(), kind="stable")
    cur = start.reshape(hw, -1).copy()
    fin = finish.reshape(hw, -1)
    c = int(np.argmax(x.ravel() @ weights + bias))
    scores = []
    for i in range(n_steps + 1):
        scores.append(np_softmax(cur.ravel() @ weights + bias)[c])
        if i < n_steps:
            idx = order[pps * i : pps * (i + 1)]
            cur[idx] = fin[idx]
    scores = np.array(scores)
    return scores, (scores.sum() - scores[0] / 2 - scores[-1] / 2) / (scores.size - 1)


@settings(max_examples=12, deadline=None)
@given(
    steps=st.integers(1, 20),
    batch_size=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_matches_loop_reference(steps, batch_size, seed):
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(16, 3))
    bias = rng.normal(size=3)
    model = _linear(weights, bias)
    x = rng.random((3, 4, 4, 1)).astype(np.float32)
    maps = rng.integers(0, 4, (3, 4, 4)) / 3.0  # many ties
    d, i = metrics.deletion_insertion(
        model, x, maps, steps=steps, insertion_fill=0.5, batch_size=batch_size
    )
    pps = math.ceil(16 / steps)
    for n in range(3):
        curve, area = rise_reference(weights, bias, x[n], maps[n], pps, x[n], np.zeros_like(x[n]))
        np.testing.assert_allclose(d.curves[n], curve, atol=1e-5)
        assert d.values[n] == pytest.approx(area, abs=1e-5)
        curve, area = rise_reference(weights, bias, x[n], maps[n], pps, np.full_like(x[n], 0.5), x[n])
        np.testing.assert_allclose(i.curves[n], curve, atol=1e-5)
        assert i.values[n] == pytest.approx(area, abs=1e-5)


_LINEAR = {}


def _linear(weights, bias):
    # one model reused across hypothesis examples: only its weights change
    if "m" not in _LINEAR:
        _LINEAR["m"] = linear_model(weights, bias)
    _LINEAR["m"].layers[-1].set_weights([weights.astype(np.float32), bias.astype(np.float32)])
    return _LINEAR["m"]


@settings(max_examples=10, deadline=None)
@given(
    maps=arrays(np.float64, (2, 4, 4), elements=st.floats(0, 1)),
    steps=st.integers(1, 30),
    bias=st.floats(-3, 3),
)
def test_constant_score_model_auc_equals_score(maps, steps, bias):
    model = _constant_model()
    model.layers[-1].set_weights([np.zeros((1, 2), np.float32), np.array([bias, 0.0], np.float32)])
    x = np.random.default_rng(0).random((2, 4, 4, 1)).astype(np.float32)
    p = 1 / (1 + np.exp(-bias))
    d, i = metrics.deletion_insertion(model, x, maps, targets=0, steps=steps)
    np.testing.assert_allclose(d.values, p, atol=1e-5)
    np.testing.assert_allclose(i.values, p, atol=1e-5)


_CONST = {}


def _constant_model():
    if "m" not in _CONST:
        _CONST["m"] = mean_model([[0.0, 0.0]], [0.0, 0.0])
    return _CONST["m"]


def test_step_schedule_when_not_divisible(mean2):
    model = mean_model([[1.0, 0.0]], [0.0, 0.0], size=4)
    x = np.random.default_rng(1).random((1, 4, 4, 1)).astype(np.float32)
    r = metrics.deletion(model, x, x[..., 0], steps=5)  # 16 px -> 4 px per step -> 4 steps
    assert r.curves.shape == (1, 5)
    assert r.extras["pixels_per_step"] == 4
    r = metrics.deletion(model, x, x[..., 0], pixels_per_step=3)  # RISE's `step`
    assert r.curves.shape == (1, 7)
    np.testing.assert_allclose(r.extras["fraction"][-2:], [15 / 16, 1.0])


def test_combined_equals_separate(mean2):
    rng = np.random.default_rng(2)
    x = rng.random((4, 2, 2, 1)).astype(np.float32)
    maps = rng.random((4, 2, 2))
    d, i = metrics.deletion_insertion(mean2, x, maps, steps=3, batch_size=5)
    np.testing.assert_allclose(d.values, metrics.deletion(mean2, x, maps, steps=3).values, atol=1e-6)
    np.testing.assert_allclose(i.values, metrics.insertion(mean2, x, maps, steps=3).values, atol=1e-6)


def test_errors(mean2):
    with pytest.raises(ValueError, match=r"\(1, 2, 2\)"):
        metrics.deletion(mean2, X4, np.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.deletion(mean2, X4, np.full((1, 2, 2), np.nan))
    with pytest.raises(ValueError, match="insertion_fill"):
        metrics.insertion(mean2, X4, np.zeros((1, 2, 2)), fill="noise")


def test_old_keyword_names_still_work_with_a_warning(mean2):
    """Issue 24: `fill` and `inputs` are the words now; the old keywords work for a release."""
    maps = X4[..., 0]
    new = metrics.deletion(mean2, X4, maps, targets=0, steps=4, fill=0.0, apply_softmax=False)
    with pytest.warns(DeprecationWarning, match=r"baseline= is now called fill="):
        old = metrics.deletion(mean2, X4, maps, targets=0, steps=4, baseline=0.0, apply_softmax=False)
    np.testing.assert_array_equal(old.values, new.values)
    with pytest.warns(DeprecationWarning, match=r"images= is now called inputs="):
        old = metrics.deletion(mean2, images=X4, maps=maps, targets=0, steps=4, apply_softmax=False)
    np.testing.assert_array_equal(old.values, new.values)


def test_insertion_starts_from_the_blur_by_default(mean2):
    """The default answers the question asked: insertion's start is RISE's blurred copy."""
    maps = X4[..., 0]
    default = metrics.insertion(mean2, X4, maps, targets=0, steps=4, apply_softmax=False)
    blur = metrics.insertion(mean2, X4, maps, targets=0, steps=4, fill="blur", apply_softmax=False)
    black = metrics.insertion(mean2, X4, maps, targets=0, steps=4, fill="black", apply_softmax=False)
    np.testing.assert_array_equal(default.curves, blur.curves)
    assert not np.array_equal(default.curves, black.curves)
