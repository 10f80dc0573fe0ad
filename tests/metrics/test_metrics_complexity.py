"""Sparseness (Gini, Chalasani et al. 2020) and complexity (entropy, Bhatt et al. 2020)."""

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tfcam import metrics


def test_gini_by_hand():
    one_hot = np.zeros((1, 4, 4))
    one_hot[0, 2, 1] = 5.0
    maps = np.concatenate([one_hot, np.full((1, 4, 4), 0.3)])
    r = metrics.sparseness(maps)
    assert r.name == "sparseness" and r.higher_is_better
    np.testing.assert_allclose(r.values, [1 - 1 / 16, 0.0], atol=1e-12)
    # sorted [0, 0, 1, 3]: (−3·0 − 1·0 + 1·1 + 3·3) / (4 · 4) = 0.625; signs do not count
    signed = np.array([[[3.0, 0.0], [0.0, -1.0]]])
    assert metrics.sparseness(signed).values[0] == pytest.approx(0.625)


def test_entropy_by_hand():
    one_hot = np.zeros((1, 4, 4))
    one_hot[0, 0, 3] = -2.0
    halves = np.array([[[1.0, 1.0], [0.0, 0.0]]])
    r = metrics.complexity(np.concatenate([one_hot, np.full((1, 4, 4), 0.3)]))
    assert r.name == "complexity" and not r.higher_is_better
    np.testing.assert_allclose(r.values, [0.0, math.log(16)], atol=1e-12)
    assert metrics.complexity(halves).values[0] == pytest.approx(math.log(2))
    three_to_one = metrics.complexity(np.array([[1.0, -3.0]])).values[0]
    assert three_to_one == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))


def test_an_all_zero_map_counts_as_uniform():
    maps = np.zeros((2, 3, 3))
    maps[1, 1, 1] = 1.0
    s, c = metrics.sparseness(maps), metrics.complexity(maps)
    np.testing.assert_allclose(s.values, [0.0, 1 - 1 / 9])
    np.testing.assert_allclose(c.values, [math.log(9), 0.0], atol=1e-12)
    np.testing.assert_array_equal(s.extras["all_zero"], [True, False])
    np.testing.assert_array_equal(c.extras["all_zero"], [True, False])


def test_attributions_with_channels_are_flattened():
    a = np.random.default_rng(0).normal(size=(2, 4, 4, 3))
    np.testing.assert_allclose(metrics.sparseness(a).values,
                               metrics.sparseness(a.reshape(2, 4, 12)).values)
    assert metrics.complexity(a).values.shape == (2,)


def test_errors():
    with pytest.raises(ValueError, match=r"maps must have shape \(N, H, W\)"):
        metrics.sparseness(np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        metrics.complexity(np.full((1, 2, 2), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        metrics.sparseness(np.array([[[np.inf, 1.0]]]))


def pairwise_gini(a):
    """Gini as the mean absolute difference over all pairs, / (2 · mean): another formula."""
    a = np.abs(a.ravel())
    return np.abs(a[:, None] - a[None, :]).sum() / (2 * a.size * a.sum())


@settings(max_examples=25, deadline=None)
@given(maps=arrays(np.float64, (3, 3, 4), elements=st.floats(-10, 10)),
       scale=st.floats(0.01, 100))
def test_against_independent_formulas(maps, scale):
    nonzero = np.abs(maps).reshape(3, -1).sum(axis=1) > 0
    s, c = metrics.sparseness(maps), metrics.complexity(maps)
    for i in np.flatnonzero(nonzero):
        assert s.values[i] == pytest.approx(pairwise_gini(maps[i]), abs=1e-9)
        assert c.values[i] == pytest.approx(scipy.stats.entropy(np.abs(maps[i]).ravel()), abs=1e-9)
    assert np.all((s.values >= -1e-12) & (s.values <= 1 - 1 / 12 + 1e-12))
    assert np.all((c.values >= -1e-12) & (c.values <= math.log(12) + 1e-12))
    np.testing.assert_allclose(metrics.sparseness(scale * maps).values, s.values, atol=1e-9)
    np.testing.assert_allclose(metrics.complexity(scale * maps).values, c.values, atol=1e-9)
