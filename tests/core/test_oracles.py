"""Each method against its formula on a network where the answer is known (docs/reference.md)."""

import numpy as np
import pytest
from keras import ops

import tfcam
from tests.core import nets


@pytest.mark.parametrize("softmax", [False, True])
def test_cam_gradcam_xgradcam_agree_on_gap_dense(softmax):
    model = nets.gap_dense(softmax=softmax)
    x = nets.images()
    cam = tfcam.explain(model, x, "cam", targets=1)
    grad = tfcam.explain(model, x, "grad_cam", targets=1)
    xgrad = tfcam.explain(model, x, "xgrad_cam", targets=1)
    np.testing.assert_allclose(grad.maps, cam.maps, atol=1e-5)
    np.testing.assert_allclose(xgrad.maps, cam.maps, atol=1e-5)
    kernel = np.asarray(model.get_layer("head").kernel)
    # Grad-CAM weights are W[:, c] / Z exactly; CAM's are W[:, c].
    np.testing.assert_allclose(cam.channel_weights, np.tile(kernel[:, 1], (3, 1)), rtol=1e-6)
    np.testing.assert_allclose(grad.channel_weights, cam.channel_weights / 64, rtol=1e-5)


def test_scores_are_logits_before_softmax():
    model = nets.gap_dense(softmax=True)
    x = nets.images()
    features = np.asarray(model.get_layer("gap").output._keras_history.operation(
        nets.activations(model, "conv", x)))
    head = model.get_layer("head")
    logits = features @ np.asarray(head.kernel) + np.asarray(head.bias)
    ex = tfcam.explain(model, x, "grad_cam")
    np.testing.assert_array_equal(ex.targets, logits.argmax(1))
    np.testing.assert_allclose(ex.scores, logits[np.arange(3), ex.targets], rtol=1e-5)


def _flatten_dense_reference(target):
    model = nets.flatten_dense()
    x = nets.images(size=6, channels=2)
    a = nets.activations(model, "conv", x).astype("float64")
    kernel = np.asarray(model.get_layer("head").kernel, dtype="float64")
    g = np.broadcast_to(kernel[:, target].reshape(a.shape[1:]), a.shape)
    return model, x, a, g


def _normalized_map(raw, size=(6, 6)):
    return nets.minmax(nets.upsample(np.maximum(raw, 0).astype("float32"), size))


def test_gradcam_formula():
    model, x, a, g = _flatten_dense_reference(2)
    weights = g.mean(axis=(1, 2))
    ex = tfcam.explain(model, x, "grad_cam", targets=2)
    signed = np.einsum("nk,nhwk->nhw", weights, a)
    assert np.abs(signed).max() > 1e-3  # (class 2's map is all negative: raw is all 0)
    np.testing.assert_allclose(ex.channel_weights, weights, rtol=1e-5)
    np.testing.assert_allclose(ex.signed, signed, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ex.raw, np.maximum(signed, 0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ex.maps, _normalized_map(ex.raw), atol=1e-5)


def test_gradcampp_formula():
    model, x, a, g = _flatten_dense_reference(0)
    sums = a.sum(axis=(1, 2), keepdims=True)
    denominator = 2 * g**2 + sums * g**3
    alpha = np.where(denominator != 0, g**2 / np.where(denominator != 0, denominator, 1), 0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(1, 2))
    ex = tfcam.explain(model, x, "grad_cam_pp", targets=0)
    np.testing.assert_allclose(ex.channel_weights, weights, rtol=1e-4, atol=1e-7)
    expected = np.maximum(np.einsum("nk,nhwk->nhw", weights, a), 0)
    np.testing.assert_allclose(ex.raw, expected, rtol=1e-4, atol=1e-6)


def test_xgradcam_formula():
    model, x, a, g = _flatten_dense_reference(1)
    weights = (a * g).sum(axis=(1, 2)) / (a.sum(axis=(1, 2)) + 1e-7)
    ex = tfcam.explain(model, x, "xgrad_cam", targets=1)
    np.testing.assert_allclose(ex.channel_weights, weights, rtol=1e-4, atol=1e-6)


def test_layercam_formula():
    model, x, a, g = _flatten_dense_reference(1)
    expected = np.maximum((np.maximum(g, 0) * a).sum(-1), 0)
    ex = tfcam.explain(model, x, "layer_cam", targets=1)
    np.testing.assert_allclose(ex.raw, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ex.maps, _normalized_map(expected), atol=1e-5)


def _probabilities(model, x, target):
    logits = np.asarray(model(x), dtype="float64")
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return (probs / probs.sum(1, keepdims=True))[:, target]


@pytest.mark.parametrize("max_channels", [None, 2])
def test_scorecam_formula(max_channels):
    model = nets.gap_dense(size=8, channels=4)
    x = nets.images(n=2)
    a = nets.activations(model, "conv", x)
    ex = tfcam.explain(model, x, "score_cam", targets=2, max_channels=max_channels, chunk_size=3)
    for i in range(2):
        spans = a[i].max(axis=(0, 1)) - a[i].min(axis=(0, 1))
        kept = np.flatnonzero(spans > 0)
        if max_channels:
            means = a[i].mean(axis=(0, 1))
            kept = kept[np.argsort(-means[kept], kind="stable")[:max_channels]]
        up = nets.upsample(np.moveaxis(a[i], -1, 0), (8, 8))
        weights = np.zeros(4)
        for k in kept:
            mask = nets.minmax(up[k][None])[0]
            weights[k] = _probabilities(model, (x[i] * mask[..., None])[None], 2)[0]
        np.testing.assert_allclose(ex.channel_weights[i], weights, rtol=1e-4, atol=1e-6)
        expected = nets.minmax(np.maximum(np.einsum("k,khw->hw", weights, up), 0)[None])[0]
        np.testing.assert_allclose(ex.maps[i], expected, atol=1e-4)


def test_ablationcam_closed_form():
    # conv -> GAP -> Dense: zeroing channel k lowers the logit by W[k, c] * mean(A^k).
    model = nets.gap_dense()
    x = nets.images()
    a = nets.activations(model, "conv", x)
    ex = tfcam.explain(model, x, "ablation_cam", targets=0, chunk_size=5)
    kernel = np.asarray(model.get_layer("head").kernel)
    drop = kernel[:, 0] * a.mean(axis=(1, 2))
    np.testing.assert_allclose(ex.channel_weights, drop / ex.scores[:, None], rtol=1e-3,
                               atol=1e-5)


def _linear_kernel(model, target, shape):
    return np.asarray(model.get_layer("head").kernel)[:, target].reshape(shape)


def test_saliency_and_input_x_gradient_on_linear_model():
    model = nets.linear()
    x = nets.images(size=5, channels=2)
    w = _linear_kernel(model, 1, x.shape[1:])
    sal = tfcam.explain(model, x, "saliency", targets=1)
    np.testing.assert_allclose(sal.attributions, np.broadcast_to(w, x.shape), rtol=1e-5)
    np.testing.assert_allclose(sal.raw, np.broadcast_to(np.abs(w).max(-1), x.shape[:3]),
                               rtol=1e-5)
    ixg = tfcam.explain(model, x, "input_x_gradient", targets=1)
    np.testing.assert_allclose(ixg.raw, (x * w).sum(-1), rtol=1e-5, atol=1e-6)


def test_integrated_gradients_exact_on_linear_model():
    model = nets.linear()
    x = nets.images(size=5, channels=2)
    w = _linear_kernel(model, 0, x.shape[1:])
    for rule in ("gausslegendre", "riemann_trapezoid"):
        ex = tfcam.explain(model, x, "integrated_gradients", targets=0, steps=4, rule=rule,
                           baseline=0.5)
        np.testing.assert_allclose(ex.attributions, (x - 0.5) * w, rtol=1e-4, atol=1e-6)


def test_integrated_gradients_completeness():
    model = nets.gap_dense(softmax=False)
    x = nets.images()
    ex = tfcam.explain(model, x, "integrated_gradients", targets=2, steps=64)
    baseline_scores = np.asarray(model(np.zeros_like(x)))[:, 2]
    np.testing.assert_allclose(ex.attributions.sum(axis=(1, 2, 3)), ex.scores - baseline_scores,
                               rtol=2e-2, atol=2e-3)


def test_smoothgrad_without_noise_is_saliency():
    model = nets.gap_dense()
    x = nets.images()
    smooth = tfcam.explain(model, x, "smooth_grad", samples=3, noise_level=0.0)
    plain = tfcam.explain(model, x, "saliency")
    np.testing.assert_allclose(smooth.raw, plain.raw, rtol=1e-5, atol=1e-7)


def test_smoothgrad_averages_noisy_gradients():
    # On a linear model every noisy gradient is the kernel: the average is the kernel.
    model = nets.linear()
    x = nets.images(size=5, channels=2)
    ex = tfcam.explain(model, x, "smooth_grad", targets=2, samples=4, noise_level=0.3)
    np.testing.assert_allclose(ex.attributions[0], _linear_kernel(model, 2, x.shape[1:]),
                               rtol=1e-5)


def test_smoothgrad_noise_has_the_documented_scale():
    # S = sum_ij w_ij relu(x_ij - b): dS/dx = w 1[x > b], whose mean over noise N(0, sigma^2)
    # is w Phi((x - b) / sigma), with sigma = noise_level * (max - min) of the image.
    import keras
    from scipy.stats import norm

    b, noise_level = 0.5, 0.2
    inp = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(1, 1, activation="relu", name="shift")(inp)
    out = keras.layers.Dense(1, use_bias=False, name="head")(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    model.get_layer("shift").set_weights([np.ones((1, 1, 1, 1)), np.array([-b])])
    w = np.where(np.arange(16) % 2, 1.0, -1.0).reshape(16, 1)
    model.get_layer("head").set_weights([w])
    image = np.linspace(0, 1, 16, dtype="float32").reshape(1, 4, 4, 1)  # range 1: sigma 0.2
    ex = tfcam.explain(model, image, "smooth_grad", targets=0, samples=4000,
                       noise_level=noise_level)
    expected = w.reshape(1, 4, 4, 1) * norm.cdf((image - b) / noise_level)
    # 4000 samples: a standard error under 0.008; sigma off by a quarter moves some pixels 0.05
    np.testing.assert_allclose(ex.attributions, expected, atol=0.035)


def test_occlusion_on_linear_model():
    model = nets.linear()
    x = nets.images(size=5, channels=2)
    w = _linear_kernel(model, 1, x.shape[1:])
    ex = tfcam.explain(model, x, "occlusion", targets=1, patch=1, stride=1)
    np.testing.assert_allclose(ex.raw, (x * w).sum(-1), rtol=1e-4, atol=1e-5)
    # 2x2 patches with stride 1: each pixel gets the mean drop of the patches covering it.
    ex = tfcam.explain(model, x, "occlusion", targets=1, patch=2, stride=1)
    contributions = (x * w).sum(-1)
    drops = np.zeros_like(contributions)
    counts = np.zeros(contributions.shape[1:])
    for top in range(4):
        for left in range(4):
            patch = contributions[:, top:top + 2, left:left + 2].sum(axis=(1, 2))
            drops[:, top:top + 2, left:left + 2] += patch[:, None, None]
            counts[top:top + 2, left:left + 2] += 1
    np.testing.assert_allclose(ex.raw, drops / counts, rtol=1e-4, atol=1e-5)


def test_visualize_class_climbs_the_score():
    model = nets.gap_dense(size=8)
    result = tfcam.visualize_class(model, 1, steps=15, learning_rate=0.5, jitter=1,
                                   blur_every=5, progress=False)
    assert result.image.shape == (8, 8, 3)
    assert np.isfinite(result.image).all()
    assert result.scores[-1] > result.scores[0]


def test_minmax_never_nan():
    from tfcam._maps import minmax

    out = np.asarray(minmax(ops.convert_to_tensor(np.zeros((2, 3, 3), "float32"))))
    assert np.array_equal(out, np.zeros((2, 3, 3)))
