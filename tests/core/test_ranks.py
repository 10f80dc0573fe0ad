"""Sequences (Conv1D, maps (N, T)) and volumes (Conv3D, maps (N, D, H, W)): every method,
and the CAM formulas on nets small enough to know the answer (docs/methods.md)."""

import itertools

import keras
import numpy as np
import pytest
from keras import ops

import tfcam
from tests.core import nets
from tfcam import _maps

# Input shape (without batch) and layers of each rank.
SHAPES = {1: (12, 2), 3: (4, 6, 6, 2)}
CONV = {1: keras.layers.Conv1D, 3: keras.layers.Conv3D}
POOL = {1: keras.layers.GlobalAveragePooling1D, 3: keras.layers.GlobalAveragePooling3D}
RANKS = [pytest.param(1, id="conv1d"), pytest.param(3, id="conv3d")]


def half_pixel_resize(maps, size):
    """The reference: each output point from the 2^r nearest inputs, weights the product of
    per-axis linear weights at source coordinate (i + 0.5) in / out - 0.5, clamped."""
    maps = np.asarray(maps, dtype="float64")
    out = np.zeros((len(maps), *size))
    for point in itertools.product(*(range(s) for s in size)):
        corners = []
        for i, n_in, n_out in zip(point, maps.shape[1:], size):
            x = min(max((i + 0.5) * n_in / n_out - 0.5, 0.0), n_in - 1)
            low = int(np.floor(x))
            high = min(low + 1, n_in - 1)
            corners.append(((low, 1 - (x - low)), (high, x - low)))
        for corner in itertools.product(*corners):
            weight = np.prod([w for _, w in corner])
            out[(slice(None), *point)] += weight * maps[(slice(None), *[c for c, _ in corner])]
    return out


def gap_dense(rank, strides=2, channels=3, classes=3):
    """conv (stride 2: maps are upsampled) -> global average pooling -> Dense."""
    inp = keras.Input(SHAPES[rank])
    x = CONV[rank](channels, 3, strides=strides, padding="same", activation="relu",
                   name="conv")(inp)
    return keras.Model(inp, keras.layers.Dense(classes, name="head")(POOL[rank](name="gap")(x)))


def linear(rank, classes=3):
    """Flatten -> Dense: S_c(x) = sum x W_c + b_c, every input-space method is exact."""
    inp = keras.Input(SHAPES[rank])
    return keras.Model(inp, keras.layers.Dense(classes, name="head")(
        keras.layers.Flatten()(inp)))


def inputs(rank, n=2, seed=0):
    return np.random.default_rng(seed).random((n, *SHAPES[rank])).astype("float32")


def spatial(rank):
    return SHAPES[rank][:-1]


@pytest.fixture(scope="module", params=RANKS)
def rank(request):
    return request.param


@pytest.fixture(scope="module")
def cam_net(rank):
    keras.utils.set_random_seed(1)
    return gap_dense(rank)


# ------------------------------------------------------------------ interpolation
def test_linear_resize_in_2d_is_keras_bilinear_resize():
    # The same code as for sequences and volumes, applied to images, against the resize
    # 2-D maps use: the half-pixel convention is TensorFlow's/Keras's.
    maps = np.random.default_rng(0).random((2, 3, 5)).astype("float32")
    for size in [(7, 11), (6, 10), (3, 9), (12, 5)]:
        ours = np.asarray(_maps.linear_resize(ops.convert_to_tensor(maps), size))
        keras_resize = np.asarray(
            ops.image.resize(maps[..., None], size, interpolation="bilinear"))[..., 0]
        np.testing.assert_allclose(ours, keras_resize, atol=1e-6)


@pytest.mark.parametrize("shape, size", [
    ((2, 5), (13,)), ((2, 4), (8,)), ((2, 7), (3,)),
    ((2, 2, 3, 4), (5, 6, 9)), ((1, 3, 2, 6), (6, 4, 4)),
])
def test_upsample_matches_the_half_pixel_formula(shape, size):
    maps = np.random.default_rng(1).random(shape).astype("float32")
    up = np.asarray(_maps.upsample(ops.convert_to_tensor(maps), size))
    np.testing.assert_allclose(up, half_pixel_resize(maps, size), atol=1e-6)


def test_interpolation_rows_sum_to_one_and_hit_centres():
    matrix = _maps.interpolation_matrix(8, 4)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)
    # Upsampling by 2: outputs 1 and 2 sit at input coordinates 0.25 and 0.75.
    np.testing.assert_allclose(matrix[1], [0.75, 0.25, 0, 0])
    np.testing.assert_allclose(matrix[2], [0.25, 0.75, 0, 0])
    np.testing.assert_allclose(matrix[0], [1, 0, 0, 0])  # -0.25: clamped at the edge


# ------------------------------------------------------------------ CAM oracles
def test_cam_and_gradcam_are_the_dense_kernel_weighted_sum(rank, cam_net):
    x = inputs(rank, n=3)
    a = nets.activations(cam_net, "conv", x).astype("float64")
    kernel = np.asarray(cam_net.get_layer("head").kernel, dtype="float64")
    raw = np.maximum(np.tensordot(a, kernel[:, 1], axes=([-1], [0])), 0)
    expected = nets.minmax(half_pixel_resize(raw, spatial(rank)))
    cam = tfcam.explain(cam_net, x, "cam", targets=1)
    grad = tfcam.explain(cam_net, x, "grad_cam", targets=1)
    xgrad = tfcam.explain(cam_net, x, "xgrad_cam", targets=1)
    positions = np.prod(a.shape[1:-1])
    np.testing.assert_allclose(cam.channel_weights, np.tile(kernel[:, 1], (3, 1)), rtol=1e-6)
    np.testing.assert_allclose(grad.channel_weights, cam.channel_weights / positions,
                               rtol=1e-5)
    np.testing.assert_allclose(cam.raw, raw, rtol=1e-5, atol=1e-6)
    assert cam.maps.shape == (3, *spatial(rank))
    for ex in (cam, grad, xgrad):
        np.testing.assert_allclose(ex.maps, expected, atol=1e-5)


def _probabilities(model, x, target):
    logits = np.asarray(model(x), dtype="float64")
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return (probs / probs.sum(1, keepdims=True))[:, target]


def test_scorecam_weights_and_map(rank, cam_net):
    x = inputs(rank)
    a = nets.activations(cam_net, "conv", x)
    ex = tfcam.explain(cam_net, x, "score_cam", targets=2, chunk_size=4)
    for i in range(len(x)):
        up = half_pixel_resize(np.moveaxis(a[i], -1, 0), spatial(rank))  # (K, *spatial)
        weights = np.zeros(a.shape[-1])
        for k in range(a.shape[-1]):
            if np.ptp(a[i, ..., k]) > 0:
                mask = nets.minmax(up[k][None])[0]
                weights[k] = _probabilities(cam_net, (x[i] * mask[..., None])[None], 2)[0]
        np.testing.assert_allclose(ex.channel_weights[i], weights, rtol=1e-4, atol=1e-6)
        expected = nets.minmax(np.maximum(np.tensordot(weights, up, axes=1), 0)[None])[0]
        np.testing.assert_allclose(ex.maps[i], expected, atol=1e-4)


def test_ablationcam_closed_form(rank, cam_net):
    # Through global average pooling, zeroing channel k lowers the logit by W[k, c] mean(A^k).
    x = inputs(rank, n=3)
    a = nets.activations(cam_net, "conv", x)
    ex = tfcam.explain(cam_net, x, "ablation_cam", targets=0, chunk_size=4)
    kernel = np.asarray(cam_net.get_layer("head").kernel)
    drop = kernel[:, 0] * a.mean(axis=tuple(range(1, a.ndim - 1)))
    np.testing.assert_allclose(ex.channel_weights, drop / ex.scores[:, None], rtol=1e-3,
                               atol=1e-5)


# ------------------------------------------------------------------ input-space oracles
def test_input_space_methods_on_a_linear_model(rank):
    model = linear(rank)
    x = inputs(rank)
    w = np.asarray(model.get_layer("head").kernel)[:, 1].reshape(SHAPES[rank])
    sal = tfcam.explain(model, x, "saliency", targets=1)
    assert sal.maps.shape == sal.raw.shape == (2, *spatial(rank))
    np.testing.assert_allclose(sal.raw, np.broadcast_to(np.abs(w).max(-1), sal.raw.shape),
                               rtol=1e-5)
    ig = tfcam.explain(model, x, "integrated_gradients", targets=1, steps=2, baseline=0.5)
    np.testing.assert_allclose(ig.attributions, (x - 0.5) * w, rtol=1e-4, atol=1e-6)
    occluded = tfcam.explain(model, x, "occlusion", targets=1, patch=1, stride=1)
    np.testing.assert_allclose(occluded.raw, (x * w).sum(-1), rtol=1e-4, atol=1e-5)


def test_occlusion_patches_cover_every_spatial_axis(rank):
    model = linear(rank)
    x = inputs(rank, n=1)
    w = np.asarray(model.get_layer("head").kernel)[:, 0].reshape(SHAPES[rank])
    ex = tfcam.explain(model, x, "occlusion", targets=0, patch=2, stride=2)
    contributions = (x * w).sum(-1)[0]
    # Stride = patch: the patches tile the input, so each point gets its own patch's drop.
    expected = np.zeros_like(contributions)
    for corner in itertools.product(*(range(0, s, 2) for s in contributions.shape)):
        block = tuple(slice(c, c + 2) for c in corner)
        expected[block] = contributions[block].sum()
    np.testing.assert_allclose(ex.raw[0], expected, rtol=1e-4, atol=1e-5)
    assert ex.perturbed_inputs[0] == np.prod([s // 2 for s in contributions.shape])


# ------------------------------------------------------------------ every method
OPTIONS = {"smooth_grad": {"samples": 2}, "integrated_gradients": {"steps": 2},
           "score_cam": {"chunk_size": 4}, "ablation_cam": {"chunk_size": 4},
           "occlusion": {"patch": 2, "stride": 2, "chunk_size": 8}}


@pytest.fixture(scope="module")
def deep_net(rank):
    """conv -> max pooling -> conv -> GAP -> Dense: relu, pooling and a stride on the way."""
    keras.utils.set_random_seed(2)
    inp = keras.Input(SHAPES[rank])
    x = CONV[rank](3, 3, padding="same", activation="relu", name="c1")(inp)
    x = {1: keras.layers.MaxPooling1D, 3: keras.layers.MaxPooling3D}[rank](2, name="pool")(x)
    x = CONV[rank](4, 3, padding="same", activation="relu", name="conv")(x)
    return keras.Model(inp, keras.layers.Dense(3, name="head")(POOL[rank](name="gap")(x)))


@pytest.mark.parametrize("method", tfcam.methods())
def test_every_method_gives_maps_of_the_input_shape(method, rank, deep_net):
    x = inputs(rank)
    ex = tfcam.explain(deep_net, x, method, **OPTIONS.get(method, {}))
    assert ex.maps.shape == (2, *spatial(rank))
    assert np.isfinite(ex.maps).all() and ex.maps.min() >= 0 and ex.maps.max() <= 1
    assert ex.maps.max() > 0, f"{method} gave an empty map"
    if ex.layer is not None:
        assert ex.layer == "conv"  # the default: the last layer of the input's rank


# ------------------------------------------------------------------ which layers
def test_layer_of_another_rank_is_not_spatial_for_the_input():
    # An image model with a sequence part: its (N, 36, C) tokens lie on the 6×6 grid of the
    # image (a token layer, issue 25 §3, with conv2d's map), the (N, 34, C) Conv1D output on
    # none, which the error says, naming reshape= and the layers that do.
    inp = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv2d")(inp)
    x = keras.layers.Reshape((36, 3), name="as_sequence")(x)
    x = keras.layers.Conv1D(4, 3, activation="relu", name="conv1d")(x)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(x)))
    images = nets.images(n=1, size=6, channels=2)
    default = tfcam.explain(model, images, "grad_cam")
    assert default.layer == "as_sequence"
    np.testing.assert_allclose(default.maps, tfcam.explain(model, images, "grad_cam",
                                                           layer="conv2d").maps, atol=1e-6)
    with pytest.raises(ValueError, match=r"'conv1d' outputs tokens of shape \(None, 34, 4\).*"
                                         r"reshape=\(h, w\).*conv2d"):
        tfcam.explain(model, images, "grad_cam", layer="conv1d")


def test_sequence_model_rejects_a_dense_layer_and_names_conv_layers(cam_net, rank):
    layout = {1: "3-D", 3: "5-D"}[rank]
    with pytest.raises(ValueError, match=f"{layout}.*'head' outputs shape.*'conv'"):
        tfcam.explain(cam_net, inputs(rank), "grad_cam", layer="head")


def test_cam_names_the_pooling_of_the_layers_rank():
    inp = keras.Input(SHAPES[1])
    x = keras.layers.Conv1D(3, 3, name="conv")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    with pytest.raises(ValueError, match="GlobalAveragePooling1D.*grad_cam"):
        tfcam.explain(model, inputs(1), "cam")


def test_images_without_a_channel_axis_still_take_a_2d_layer():
    inp = keras.Input((8, 8))
    x = keras.layers.Reshape((8, 8, 1))(inp)
    x = keras.layers.Conv2D(3, 3, strides=2, padding="same", activation="relu", name="conv")(x)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))
    ex = tfcam.explain(model, nets.images(n=2, size=8, channels=1)[..., 0], "grad_cam")
    assert ex.layer == "conv" and ex.maps.shape == (2, 8, 8)
