"""Average Drop, Increase in Confidence and Win % against hand-computed values.

Model: logits = [2m, 0.5 - m] with m the mean pixel, so p(class 0) = sigmoid(3m - 0.5).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from metrics_helpers import mean_model, np_softmax

from tfcam import metrics

X = (np.arange(16, dtype=np.float32) / 15).reshape(1, 4, 4, 1)  # mean 0.5
Y = 0.7310585786300049  # sigmoid(1.0)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture(scope="module")
def model():
    return mean_model([[2.0, -1.0]], [0.0, 0.5])


@pytest.fixture(scope="module")
def softmax_model():
    return mean_model([[2.0, -1.0]], [0.0, 0.5], softmax=True)


def test_average_drop_half_map(model):
    r = metrics.average_drop(model, X, np.full((1, 4, 4), 0.5))
    # masked mean 0.25 -> p = sigmoid(0.25) = 0.5621765; drop = 100 (Y - O) / Y
    assert r.values[0] == pytest.approx(23.10103221286177, abs=1e-4)
    assert r.mean == pytest.approx(r.values[0])
    assert r.higher_is_better is False
    assert r.extras["original"][0] == pytest.approx(Y, abs=1e-6)


def test_average_drop_edge_maps(model):
    maps = np.stack([np.zeros((4, 4)), np.ones((4, 4))])
    r = metrics.average_drop(model, np.concatenate([X, X]), maps)
    assert r.values[0] == pytest.approx(100 * (Y - sigmoid(-0.5)) / Y, abs=1e-4)  # all-zero map
    assert r.values[1] == pytest.approx(0.0, abs=1e-4)  # map equal to 1 everywhere: unchanged
    assert r.std == pytest.approx(np.std(r.values))


def test_average_drop_matches_numpy_for_any_map(model):
    rng = np.random.default_rng(0)
    maps = rng.random((5, 4, 4))
    x = np.repeat(X, 5, axis=0)
    m = (x[..., 0] * maps).mean(axis=(1, 2))
    o = sigmoid(3 * m - 0.5)
    expected = 100 * np.maximum(0, Y - o) / Y
    r = metrics.average_drop(model, x, maps, batch_size=2)
    np.testing.assert_allclose(r.values, expected, atol=1e-4)


def test_softmax_detection(model, softmax_model):
    maps = np.full((1, 4, 4), 0.5)
    a = metrics.average_drop(model, X, maps)
    b = metrics.average_drop(softmax_model, X, maps)
    np.testing.assert_allclose(a.values, b.values, atol=1e-5)
    # forcing no softmax on logits scores the raw logit instead: 2 * 0.25 vs 2 * 0.5
    c = metrics.average_drop(model, X, maps, apply_softmax=False)
    assert c.values[0] == pytest.approx(50.0, abs=1e-4)


def test_top_percent_binary_mask(model):
    # map ranks pixels by value; top 25% = the 4 brightest pixels (values 12..15 / 15)
    maps = X[..., 0].copy()
    r = metrics.average_drop(model, X, maps, top_percent=25)
    m = (12 + 13 + 14 + 15) / 15 / 16
    assert r.extras["masked"][0] == pytest.approx(sigmoid(3 * m - 0.5), abs=1e-6)
    # a constant map keeps the first 4 pixels in row-major order (ties are stable)
    r = metrics.average_drop(model, X, np.ones((1, 4, 4)), top_percent=25)
    m = (0 + 1 + 2 + 3) / 15 / 16
    assert r.extras["masked"][0] == pytest.approx(sigmoid(3 * m - 0.5), abs=1e-6)


def test_increase_in_confidence(model):
    # class 1 (logit 0.5 - m) gains when pixels are darkened
    maps = np.stack([np.full((4, 4), 0.5), np.ones((4, 4))])
    x = np.concatenate([X, X])
    r = metrics.increase_in_confidence(model, x, maps, targets=1)
    np.testing.assert_array_equal(r.values, [100.0, 0.0])  # equal score is no increase
    assert r.higher_is_better
    r0 = metrics.increase_in_confidence(model, x, maps)  # top-1 is class 0, which loses
    np.testing.assert_array_equal(r0.values, [0.0, 0.0])


def test_win_percent(model):
    x = np.concatenate([X, X, X])
    a = np.stack([np.ones((4, 4)), np.zeros((4, 4)), np.full((4, 4), 0.5)])
    b = np.stack([np.zeros((4, 4)), np.ones((4, 4)), np.full((4, 4), 0.5)])
    r = metrics.win_percent(model, x, a, b)
    np.testing.assert_array_equal(r.values, [100.0, 0.0, 50.0])  # the tie counts half
    assert r.mean == pytest.approx(50.0)
    assert metrics.win_percent(model, x, b, a).mean + r.mean == pytest.approx(100.0)


@settings(max_examples=15, deadline=None)
@given(arrays(np.float64, (2, 4, 4), elements=st.floats(0, 1)), arrays(np.float64, (2, 4, 4), elements=st.floats(0, 1)))
def test_win_percent_complementary(model, a, b):
    x = np.concatenate([X, X])
    ab = metrics.win_percent(model, x, a, b).values
    ba = metrics.win_percent(model, x, b, a).values
    np.testing.assert_allclose(ab + ba, 100.0)
    d = metrics.average_drop(model, x, a).values
    assert np.all((d >= 0) & (d <= 100))


def test_callable_target(model):
    r = metrics.average_drop(model, X, np.full((1, 4, 4), 0.5), targets=lambda out: out[:, 0])
    assert r.values[0] == pytest.approx(50.0, abs=1e-4)  # raw logit 1.0 -> 0.5


def test_shape_errors_name_shapes(model):
    with pytest.raises(ValueError, match=r"\(1, 4, 4\).*\(1, 3, 4\)"):
        metrics.average_drop(model, X, np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match="images must have shape"):
        metrics.average_drop(model, X[0], np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.average_drop(model, X, np.full((1, 4, 4), 2.0))
    with pytest.raises(ValueError, match="targets"):
        metrics.average_drop(model, X, np.zeros((1, 4, 4)), targets=[0, 1])
    with pytest.raises(ValueError, match="top_percent"):
        metrics.average_drop(model, X, np.zeros((1, 4, 4)), top_percent=0)


def test_explain_function_instead_of_maps(model):
    seen = []

    def explain_fn(m, images, targets):
        seen.append(np.asarray(targets).tolist())
        return np.full((len(images), 4, 4), 0.5)

    r = metrics.average_drop(model, X, explain_fn)
    assert r.values[0] == pytest.approx(23.10103221286177, abs=1e-4)
    metrics.deletion(model, X, explain_fn, targets=1, steps=4)
    assert seen == [[0], [1]]  # resolved top-1, then the given class
    assert metrics.HIGHER_IS_BETTER["average_drop"] is False


# ------------------------------------------------------------------ the masking fill
def test_average_drop_fill_mean_matches_numpy(model):
    """X ⊙ L + mean(X) ⊙ (1 − L): the masked-out part takes each image's own mean colour."""
    rng = np.random.default_rng(3)
    x = rng.random((5, 4, 4, 1)).astype(np.float32)
    maps = rng.random((5, 4, 4))
    mu = x.mean(axis=(1, 2, 3), dtype=np.float64)
    masked = x[..., 0] * maps + mu[:, None, None] * (1 - maps)
    y, o = sigmoid(3 * mu - 0.5), sigmoid(3 * masked.mean(axis=(1, 2)) - 0.5)
    r = metrics.average_drop(model, x, maps, fill="mean", batch_size=2)
    np.testing.assert_allclose(r.extras["original"], y, atol=1e-6)
    np.testing.assert_allclose(r.extras["masked"], o, atol=1e-6)
    np.testing.assert_allclose(r.values, 100 * np.maximum(0, y - o) / y, atol=1e-4)
    ic = metrics.increase_in_confidence(model, x, maps, targets=1, fill="mean")
    y1, o1 = 1 - y, 1 - o  # two classes: p(1) = 1 - p(0)
    assert np.abs(y1 - o1).min() > 1e-4  # no near-tie to flip
    np.testing.assert_array_equal(ic.values, 100.0 * (y1 < o1))


def test_average_drop_per_channel_fill_is_the_normalized_zero():
    """fill = ImageNet's mean on [0, 1] images: what masking the normalized tensor gives."""
    mean = np.array([0.485, 0.456, 0.406])
    w = np.array([[1.0, -1.0], [2.0, 0.5], [-1.5, 1.0]])
    rgb = mean_model(w, [0.0, 0.0], channels=3)
    rng = np.random.default_rng(4)
    x = rng.random((3, 4, 4, 3)).astype(np.float32)
    maps = rng.random((3, 4, 4))
    masked = x * maps[..., None] + mean * (1 - maps[..., None])
    p = lambda img: np_softmax(img.mean(axis=(1, 2)) @ w)
    t = p(x.astype(np.float64)).argmax(1)
    y, o = p(x.astype(np.float64))[np.arange(3), t], p(masked)[np.arange(3), t]
    r = metrics.average_drop(rgb, x, maps, fill=list(mean))
    np.testing.assert_allclose(r.extras["masked"], o, atol=1e-6)
    np.testing.assert_allclose(r.values, 100 * np.maximum(0, y - o) / y, atol=1e-4)


def test_top_percent_fills_the_dropped_pixels(model):
    r = metrics.average_drop(model, X, X[..., 0].copy(), top_percent=25, fill=0.5)
    m = (12 + 13 + 14 + 15) / 15 / 16 + 0.5 * 12 / 16  # 12 pixels dropped to 0.5
    assert r.extras["masked"][0] == pytest.approx(sigmoid(3 * m - 0.5), abs=1e-6)


def test_default_fill_is_black_bit_for_bit(model):
    rng = np.random.default_rng(5)
    x, maps = rng.random((4, 4, 4, 1)).astype(np.float32), rng.random((4, 4, 4))
    default = metrics.average_drop(model, x, maps)
    black = metrics.average_drop(model, x, maps, fill="black")
    assert np.array_equal(default.values, black.values)
    assert np.array_equal(default.extras["masked"], black.extras["masked"])
    wins = [metrics.win_percent(model, x, maps, maps[::-1], **kw).values for kw in ({}, {"fill": "black"})]
    assert np.array_equal(*wins)


def test_unknown_fill_names_the_choices(model):
    with pytest.raises(ValueError, match=r"fill must be one of \['black', 'mean', 'blur'\]"):
        metrics.average_drop(model, X, np.zeros((1, 4, 4)), fill="grey")
    with pytest.raises(ValueError, match=r"deletion_fill must be one of \['black', 'mean', 'blur'\]"):
        metrics.deletion(model, X, np.zeros((1, 4, 4)), fill="grey")


def test_deletion_to_each_images_mean_colour():
    """Deletion's fill "mean": removed pixels take the image's mean (RISE deletes to 0
    in the normalized tensor, the data set's mean colour)."""
    score = mean_model([[1.0, 0.0]], [0.0, 0.0])  # the explained score is the mean pixel
    r = metrics.deletion(score, X, X[..., 0].copy(), targets=0, steps=4, fill="mean",
                         apply_softmax=False)
    values = np.sort(X.ravel())[::-1]  # brightest first, 4 pixels per step
    expected = [(X.sum() - values[:k].sum() + k * 0.5) / 16 for k in range(0, 17, 4)]
    np.testing.assert_allclose(r.curves[0], expected, atol=1e-6)
    black = metrics.deletion(score, X, X[..., 0].copy(), targets=0, steps=4, apply_softmax=False)
    assert np.array_equal(black.curves, metrics.deletion(
        score, X, X[..., 0].copy(), targets=0, steps=4, fill="black", apply_softmax=False).curves)
