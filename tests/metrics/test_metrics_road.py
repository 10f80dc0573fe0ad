"""ROAD (Rong et al. 2022): the noisy linear imputation and the MoRF / LeRF curves."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from metrics_helpers import mean_model, np_softmax

from tfcam import metrics

impute = metrics.noisy_linear_imputation

OFFSETS = {(-1, -1): 1 / 12, (-1, 0): 1 / 6, (-1, 1): 1 / 12, (0, -1): 1 / 6, (0, 1): 1 / 6,
           (1, -1): 1 / 12, (1, 0): 1 / 6, (1, 1): 1 / 12}


def neighbour_mean(img, r, c):
    """Weighted mean of the in-image neighbours of (r, c), written out by hand."""
    h, w = img.shape[:2]
    total, weight = 0.0, 0.0
    for (dr, dc), wt in OFFSETS.items():
        if 0 <= r + dr < h and 0 <= c + dc < w:
            total = total + wt * img[r + dr, c + dc]
            weight += wt
    return total / weight


def test_a_linear_ramp_is_reproduced_inside_the_image():
    rows, cols = np.mgrid[0:7, 0:8]
    img = np.stack([0.1 * rows + 0.05 * cols, 1.0 - 0.02 * cols + 0.3 * rows], axis=-1)
    removed = np.zeros((7, 8), bool)
    removed[1:6, 2:5] = True  # an interior block (no border pixel: the weights stay symmetric)
    removed[3, 6] = True
    out = impute(img, removed)
    np.testing.assert_allclose(out, img, atol=1e-12)


def test_a_constant_image_stays_constant_even_at_the_border():
    img = np.full((5, 6, 3), 0.7)
    removed = np.random.default_rng(0).random((5, 6)) < 0.6
    removed[0, 0] = True
    np.testing.assert_allclose(impute(img, removed), img, atol=1e-12)


def test_nothing_removed_is_unchanged():
    img = np.random.default_rng(1).random((4, 4, 2))
    np.testing.assert_array_equal(impute(img, np.zeros((4, 4), bool), noise_std=0.5), img)


def test_a_corner_is_the_renormalized_mean_of_its_three_neighbours():
    img = np.arange(9, dtype=np.float64).reshape(3, 3, 1)
    removed = np.zeros((3, 3), bool)
    removed[0, 0] = True
    out = impute(img, removed)
    # (1/6·v01 + 1/6·v10 + 1/12·v11) / (5/12) = (2·1 + 2·3 + 4) / 5
    assert out[0, 0, 0] == pytest.approx(12 / 5)
    np.testing.assert_array_equal(out.ravel()[1:], img.ravel()[1:])


@settings(max_examples=15, deadline=None)
@given(img=arrays(np.float64, (5, 6, 2), elements=st.floats(-1, 1)),
       removed=arrays(bool, (5, 6)))
def test_every_removed_pixel_is_the_mean_of_its_neighbours(img, removed):
    removed = removed.copy()
    removed[2, 3] = False  # at least one pixel anchors the system
    out = impute(img, removed)
    np.testing.assert_array_equal(out[~removed], img[~removed])
    for r, c in zip(*np.nonzero(removed)):
        np.testing.assert_allclose(out[r, c], neighbour_mean(out, r, c), atol=1e-9)


def test_the_noise_has_the_asked_standard_deviation():
    img = np.random.default_rng(2).random((32, 32, 1))
    removed = np.zeros((32, 32), bool)
    removed[4:28, 4:28] = True  # 576 removed values
    clean = impute(img, removed)
    noisy = impute(img, removed, noise_std=0.01, rng=np.random.default_rng(3))
    diff = (noisy - clean)[removed]
    assert np.std(diff) == pytest.approx(0.01, rel=0.15)  # sample std: relative sd 3%
    np.testing.assert_array_equal(noisy[~removed], img[~removed])


# 3 × 3 image (not a ramp: imputing changes it), score = mean pixel (class 0's raw output)
X9 = (np.arange(9, dtype=np.float32) ** 2).reshape(1, 3, 3, 1) / 64
MAP9 = np.array([[[0.0, 0.1, 0.2], [0.3, 0.9, 0.4], [0.5, 0.6, 0.7]]])


@pytest.fixture(scope="module")
def mean3():
    return mean_model([[1.0, 0.0]], [0.0, 0.0], size=3)


def test_morf_and_lerf_by_hand(mean3):
    img = X9[0].astype(np.float64)
    # 12 % of 9 pixels = 1: MoRF removes the centre (ranked first), LeRF the corner (0, 0)
    morf = metrics.road(mean3, X9, MAP9, 0, percentages=[12], noise_std=0.0, apply_softmax=False)
    centre = neighbour_mean(img, 1, 1)[0]
    assert abs(centre - img[1, 1, 0]) > 0.05
    expected = (img.sum() - img[1, 1, 0] + centre) / 9
    assert morf.curves[0, 0] == pytest.approx(expected, abs=1e-6)
    lerf = metrics.road(mean3, X9, MAP9, 0, order="lerf", percentages=[12], noise_std=0.0,
                        apply_softmax=False)
    corner = (2 * img[0, 1, 0] + 2 * img[1, 0, 0] + img[1, 1, 0]) / 5
    expected = (img.sum() - img[0, 0, 0] + corner) / 9
    assert lerf.curves[0, 0] == pytest.approx(expected, abs=1e-6)
    assert morf.name == "road_morf" and not morf.higher_is_better
    assert lerf.name == "road_lerf" and lerf.higher_is_better
    np.testing.assert_array_equal(morf.extras["removed_pixels"], [1])


def test_curves_against_a_loop_reference():
    model = mean_model([[2.0, -1.0]], [0.0, 0.3], size=6, channels=1)
    rng = np.random.default_rng(4)
    x = rng.random((2, 6, 6, 1)).astype(np.float32)
    maps = rng.random((2, 6, 6))
    pct = [10, 35, 60, 90]
    for order in ("morf", "lerf"):
        r = metrics.road(model, x, maps, percentages=pct, order=order, seed=5, batch_size=3)
        for i in range(2):
            ranking = np.argsort(-maps[i].ravel(), kind="stable")
            for t, p in enumerate(pct):
                k = int(36 * p / 100)
                chosen = ranking[:k] if order == "morf" else ranking[36 - k:]
                removed = np.zeros(36, bool)
                removed[chosen] = True
                img = impute(x[i], removed.reshape(6, 6), 0.01, np.random.default_rng([5, i, t]))
                logits = img.mean() * np.array([2.0, -1.0]) + [0.0, 0.3]
                c = int(np.argmax(x[i].mean() * np.array([2.0, -1.0]) + [0.0, 0.3]))
                assert r.curves[i, t] == pytest.approx(np_softmax(logits)[c], abs=1e-5)
        np.testing.assert_allclose(r.values, r.curves.mean(axis=1))


def test_a_model_that_ignores_the_input_has_a_flat_curve():
    model = mean_model([[0.0, 0.0]], [1.0, 0.0], size=8)
    x = np.random.default_rng(6).random((2, 8, 8, 1)).astype(np.float32)
    maps = np.random.default_rng(7).random((2, 8, 8))
    p = 1 / (1 + np.exp(-1.0))
    for order in ("morf", "lerf"):
        r = metrics.road(model, x, maps, order=order)
        assert r.curves.shape == (2, 9)
        np.testing.assert_allclose(r.curves, p, atol=1e-6)
        np.testing.assert_allclose(r.values, p, atol=1e-6)


def test_a_percentage_that_removes_no_pixel_keeps_the_score(mean3):
    r = metrics.road(mean3, X9, MAP9, 0, percentages=[5, 50], apply_softmax=False)
    np.testing.assert_array_equal(r.extras["removed_pixels"], [0, 4])
    assert r.curves[0, 0] == pytest.approx(r.extras["original"][0], abs=1e-7)


def test_reproducible_at_any_batch_size():
    model = mean_model([[1.0, 0.0]], [0.0, 0.0], size=8)
    x = np.random.default_rng(8).random((3, 8, 8, 1)).astype(np.float32)
    maps = np.random.default_rng(9).random((3, 8, 8))
    a = metrics.road(model, x, maps, batch_size=1)
    b = metrics.road(model, x, maps, batch_size=10)
    np.testing.assert_allclose(a.curves, b.curves, atol=1e-7)
    c = metrics.road(model, x, maps, seed=1)
    assert not np.allclose(a.curves, c.curves, atol=1e-9)


def test_errors(mean3):
    shares = r"percentages must be shares of pixels to remove in \(0, 100\)"
    for bad in ([0, 50], [50, 100], [-5], [150], []):
        with pytest.raises(ValueError, match=shares):
            metrics.road(mean3, X9, MAP9, percentages=bad)
    with pytest.raises(ValueError, match='order must be "morf" or "lerf"'):
        metrics.road(mean3, X9, MAP9, order="random")
    with pytest.raises(ValueError, match="noise_std must be a number >= 0"):
        metrics.road(mean3, X9, MAP9, noise_std=-1)
    with pytest.raises(ValueError, match=r"\(1, 3, 3\)"):
        metrics.road(mean3, X9, np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.road(mean3, X9, np.full((1, 3, 3), np.nan))
    with pytest.raises(ValueError, match="at least one kept pixel"):
        impute(np.zeros((2, 2, 1)), np.ones((2, 2), bool))
    with pytest.raises(ValueError, match=r"image must be \(H, W, C\) and removed \(H, W\)"):
        impute(np.zeros((2, 2)), np.ones((2, 2), bool))
