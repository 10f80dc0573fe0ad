"""One masking fill (`tfcam.fill`) for Score-CAM and occlusion: each choice against numpy,
the methods against a numpy reference of their masked scores, and the default unchanged."""

import numpy as np
import pytest

import tfcam
from tests.core import nets
from tfcam.attribution.occlusion import spatial_patch_masks
from tfcam.fill import FILLS, blend, check_fill, fill_like, fill_values

IMAGENET_MEAN = [0.485, 0.456, 0.406]


def blur_reference(x, sigma=5.0, size=11):
    """Separable Gaussian (truncated to `size`, sum 1) with half-sample symmetric borders."""
    radius = (size - 1) // 2
    k = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * sigma ** 2))
    k /= k.sum()
    out = np.asarray(x, np.float64)
    for axis in (1, 2):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="symmetric")
        out = sum(k[j] * np.take(padded, np.arange(j, j + out.shape[axis]), axis=axis)
                  for j in range(size))
    return out


def fill_reference(fill, x):
    """What masked pixels become, in numpy: (N, H, W, C)."""
    if fill == "black":
        return np.zeros_like(x)
    if fill == "mean":
        return np.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape)
    if fill == "blur":
        return blur_reference(x)
    return np.broadcast_to(np.asarray(fill, np.float64), x.shape)


# ------------------------------------------------------------------ the fill module
@pytest.mark.parametrize("fill", ["black", "mean", "blur", 0.5, IMAGENET_MEAN])
def test_masked_image_is_x_m_plus_fill_times_1_minus_m(fill):
    rng = np.random.default_rng(0)
    x = rng.random((2, 14, 13, 3)).astype("float32")
    m = rng.random((2, 14, 13, 1)).astype("float32")
    expected = x * m + fill_reference(fill, x) * (1 - m)
    got = blend(x, m, fill_values(fill, x))
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(fill_like(fill, x), fill_reference(fill, x), atol=1e-6)


def test_black_adds_nothing():
    x = np.random.default_rng(1).standard_normal((2, 4, 4, 3)).astype("float32")
    m = np.random.default_rng(2).random((2, 4, 4, 1)).astype("float32")
    assert fill_values("black", x) is None
    assert np.array_equal(blend(x, m, None), x * m)  # bit for bit the plain product


def test_mean_is_each_images_own_colour():
    x = np.zeros((2, 3, 3, 3), "float32")
    x[0] = [0.1, 0.2, 0.3]
    x[1, 0, 0] = 0.9  # one bright pixel in 9
    f = fill_values("mean", x)
    assert f.shape == (2, 1, 1, 3)
    np.testing.assert_allclose(f[0, 0, 0], [0.1, 0.2, 0.3], atol=1e-7)
    np.testing.assert_allclose(f[1, 0, 0], [0.1, 0.1, 0.1], atol=1e-7)


def test_per_channel_number_must_match_the_channels():
    x = np.zeros((1, 4, 4, 3), "float32")
    np.testing.assert_allclose(fill_values(IMAGENET_MEAN, x)[0, 0, 0], IMAGENET_MEAN, atol=1e-7)
    with pytest.raises(ValueError, match="2 values, one per channel, but the input has 3"):
        fill_values([0.1, 0.2], x)


@pytest.mark.parametrize("bad", ["grey", "Black", "", None, True, [[0.1]], "0.5"])
def test_unknown_fill_names_the_choices(bad):
    with pytest.raises(ValueError, match=r"fill must be one of \['black', 'mean', 'blur'\], a "
                                         r"number or one number per channel"):
        check_fill(bad)
    assert FILLS == ("black", "mean", "blur")


def test_mean_and_blur_need_spatial_axes():
    with pytest.raises(ValueError, match="needs inputs with spatial axes"):
        fill_values("mean", np.zeros((2, 5), "float32"))


# ------------------------------------------------------------------ Score-CAM
def _probabilities(model, x, target):
    logits = np.asarray(model(x), dtype="float64")
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return (probs / probs.sum(1, keepdims=True))[:, target]


def scorecam_weights(model, x, fill, target):
    """Wang et al.'s channel weights: softmax score of X * M_k + fill * (1 - M_k)."""
    a = nets.activations(model, "conv", x)
    filled = fill_reference(fill, x.astype("float64")).astype("float32")
    weights = np.zeros((len(x), a.shape[-1]))
    for i in range(len(x)):
        up = nets.upsample(np.moveaxis(a[i], -1, 0), x.shape[1:3])
        for k in range(a.shape[-1]):
            if np.ptp(a[i, ..., k]) == 0:
                continue  # constant channels are skipped
            mask = nets.minmax(up[k][None])[0][..., None]
            masked = x[i] * mask + filled[i] * (1 - mask)
            weights[i, k] = _probabilities(model, masked[None].astype("float32"), target)[0]
    return weights


@pytest.mark.parametrize("fill", ["mean", "blur", IMAGENET_MEAN])
def test_scorecam_fill_matches_numpy(fill):
    model = nets.gap_dense(size=8, channels=4)
    x = nets.images(n=2)
    ex = tfcam.explain(model, x, "score_cam", targets=2, fill=fill, chunk_size=3)
    np.testing.assert_allclose(ex.channel_weights, scorecam_weights(model, x, fill, 2),
                               rtol=1e-4, atol=1e-6)
    black = tfcam.explain(model, x, "score_cam", targets=2, chunk_size=3)
    assert not np.allclose(ex.channel_weights, black.channel_weights)


def test_scorecam_default_is_black_bit_for_bit():
    model = nets.gap_dense(size=8, channels=4)
    x = nets.images(n=2)
    default = tfcam.explain(model, x, "score_cam", targets=2, chunk_size=3)
    black = tfcam.explain(model, x, "score_cam", targets=2, fill="black", chunk_size=3)
    assert np.array_equal(default.maps, black.maps)
    assert np.array_equal(default.channel_weights, black.channel_weights)
    np.testing.assert_allclose(default.channel_weights, scorecam_weights(model, x, "black", 2),
                               rtol=1e-4, atol=1e-6)
    assert tfcam.ScoreCAM(model, "conv").fill == "black"


def test_scorecam_unknown_fill_fails_before_running():
    model = nets.gap_dense()
    with pytest.raises(ValueError, match=r"fill must be one of \['black', 'mean', 'blur'\]"):
        tfcam.ScoreCAM(model, "conv", fill="gray")


# ------------------------------------------------------------------ occlusion
def occlusion_reference(model, x, fill, target, patch, stride):
    """raw[pixel] = mean over the patches covering it of S(x) - S(x, patch filled)."""
    masks = spatial_patch_masks(x.shape[1:3], patch, stride)[..., None]
    filled = fill_reference(fill, x.astype("float64")).astype("float32")
    score = np.asarray(model(x))[:, target]
    raw = np.zeros(x.shape[:3])
    for i in range(len(x)):
        occluded = x[i] * (1 - masks) + filled[i] * masks
        drops = score[i] - np.asarray(model(occluded.astype("float32")))[:, target]
        raw[i] = np.einsum("p,phw->hw", drops, masks[..., 0]) / np.maximum(masks[..., 0].sum(0), 1)
    return raw


@pytest.mark.parametrize("fill", ["mean", "blur", IMAGENET_MEAN])
def test_occlusion_fill_matches_numpy(fill):
    model = nets.linear(size=6, channels=3)
    x = nets.images(n=2, size=6)
    ex = tfcam.explain(model, x, "occlusion", targets=1, patch=2, stride=2, fill=fill)
    np.testing.assert_allclose(ex.raw, occlusion_reference(model, x, fill, 1, 2, 2),
                               rtol=1e-4, atol=1e-5)


def test_occlusion_default_is_black_bit_for_bit():
    model = nets.linear(size=6, channels=3)
    x = nets.images(n=2, size=6)
    runs = [tfcam.explain(model, x, "occlusion", targets=1, patch=2, **kw)
            for kw in ({}, {"fill": "black"}, {"fill": 0.0})]
    for other in runs[1:]:
        assert np.array_equal(runs[0].raw, other.raw)
    np.testing.assert_allclose(runs[0].raw, occlusion_reference(model, x, "black", 1, 2, 1),
                               rtol=1e-4, atol=1e-5)


def test_occlusion_unknown_fill_names_the_choices():
    with pytest.raises(ValueError, match=r"fill must be one of \['black', 'mean', 'blur'\]"):
        tfcam.Occlusion(nets.linear(), fill="noise")


def test_occlusion_baseline_is_the_old_name_of_fill():
    """Issue 24: one word, `fill`, for what masked pixels become; `baseline=` still works for
    one release, with a DeprecationWarning, and gives the same maps."""
    model = nets.linear()
    x = nets.images(n=1, size=5, channels=2)
    with pytest.warns(DeprecationWarning, match=r"baseline= is now called fill="):
        old = tfcam.explain(model, x, "occlusion", targets=1, patch=2, baseline=0.5)
    new = tfcam.explain(model, x, "occlusion", targets=1, patch=2, fill=0.5)
    np.testing.assert_array_equal(old.raw, new.raw)
    with pytest.raises(TypeError, match="pass fill= only"):
        tfcam.Occlusion(model, fill=0.5, baseline=0.5)


def test_occlusion_fills_each_input_with_its_own_mean():
    """Linear model: occluding a patch of input a drops the score by sum (x_a - mean_a) W_a."""
    from tests.core.test_multi_input import kernel_rows, linear_inputs, linear_two

    model, head = linear_two()
    x = linear_inputs()
    ex = tfcam.explain(model, x, "occlusion", targets=1, patch=2, stride=2, fill="mean",
                       input="a")
    w = kernel_rows(head, 1)[0]  # (4, 4, 2): input a's rows of the kernel
    masks = spatial_patch_masks((4, 4), 2, 2)
    centred = x[0] - x[0].mean(axis=(1, 2), keepdims=True)
    drops = np.einsum("phw,nhwc,hwc->np", masks, centred, w)
    expected = np.einsum("np,phw->nhw", drops, masks) / np.maximum(masks.sum(0), 1)
    np.testing.assert_allclose(ex.raw, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="needs inputs with spatial axes.*input="):
        tfcam.explain(model, x, "occlusion", targets=1, patch=2, fill="mean")
