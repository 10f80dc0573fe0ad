"""Eigen-CAM: the first principal component of the layer's activations, no backward pass."""

import keras
import numpy as np
import pytest

import tfcam
from tests.core import nets


def reference(activations):
    """numpy: centred (P, K) per image, first right singular vector, signed to agree with
    the channel sum, projected, ReLU (float64)."""
    maps = []
    for a in np.asarray(activations, dtype="float64"):
        flat = a.reshape(-1, a.shape[-1])
        centred = flat - flat.mean(axis=0)
        v1 = np.linalg.svd(centred, full_matrices=False)[2][0]
        projection = centred @ v1
        if projection @ flat.sum(axis=1) < 0:
            projection = -projection
        maps.append(np.maximum(projection, 0).reshape(a.shape[:-1]))
    return np.stack(maps)


def test_matches_numpy_svd():
    model, x = nets.gap_dense(size=8, channels=5), nets.images(n=3, size=8)
    ex = tfcam.explain(model, x, "eigen_cam", layer="conv")
    expected = reference(nets.activations(model, "conv", x))
    assert ex.method == "eigen_cam" and ex.raw.shape == (3, 8, 8)
    np.testing.assert_allclose(ex.raw, expected, atol=1e-4 * expected.max())
    np.testing.assert_allclose(ex.maps, nets.minmax(nets.upsample(expected.astype("float32"), (8, 8))), atol=1e-4)
    assert ex.channel_weights.shape == (3, 5)
    np.testing.assert_allclose(np.linalg.norm(ex.channel_weights, axis=1), 1, atol=1e-5)


def test_no_backward_pass(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("Eigen-CAM took a gradient")

    monkeypatch.setattr(tfcam.backend, "value_and_grad", fail)
    monkeypatch.setattr(tfcam.backend, "vjp", fail)
    ex = tfcam.EigenCAM(nets.gap_dense(), "conv").attribute(nets.images(n=2))
    assert np.isfinite(ex.maps).all() and ex.maps.max() == pytest.approx(1.0)


def test_map_does_not_depend_on_the_class():
    model, x = nets.gap_dense(), nets.images(n=2)
    maps = [tfcam.explain(model, x, "eigen_cam", targets=c) for c in range(3)]
    for ex in maps[1:]:
        np.testing.assert_array_equal(ex.maps, maps[0].maps)
    assert not np.allclose(maps[0].scores, maps[1].scores)  # the target sets the scores


@pytest.mark.parametrize("rank", [1, 3])
def test_sequences_and_volumes(rank):
    shape = {1: (12, 2), 3: (4, 6, 6, 2)}[rank]
    conv = {1: keras.layers.Conv1D, 3: keras.layers.Conv3D}[rank]
    pool = {1: keras.layers.GlobalAveragePooling1D, 3: keras.layers.GlobalAveragePooling3D}
    keras.utils.set_random_seed(3)
    inp = keras.Input(shape)
    x = conv(4, 3, padding="same", activation="relu", name="conv")(inp)
    model = keras.Model(inp, keras.layers.Dense(3)(pool[rank]()(x)))
    data = np.random.default_rng(rank).random((2, *shape), dtype="float32")
    ex = tfcam.explain(model, data, "eigen_cam")
    assert ex.maps.shape == (2, *shape[:-1]) and ex.raw.shape == (2, *shape[:-1])
    acts = keras.Model(inp, x)(data)
    np.testing.assert_allclose(ex.raw, reference(acts), atol=1e-4 * reference(acts).max())
