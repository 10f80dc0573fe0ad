"""`tfcam.visualize.resize_maps`: numpy, the same values as keras' bilinear resize."""
import keras
import numpy as np
import pytest

from tfcam.visualize import resize_maps


@pytest.mark.parametrize("shape, size", [((2, 3, 5), (12, 7)), ((1, 7, 7), (224, 224))])
def test_matches_keras_bilinear_resize(shape, size):
    maps = np.random.default_rng(0).random(shape).astype("float32")
    expected = keras.ops.convert_to_numpy(keras.ops.image.resize(
        maps[..., None], size, interpolation="bilinear", antialias=False))[..., 0]
    np.testing.assert_allclose(resize_maps(maps, size), expected, atol=1e-5)


def test_sequences_and_a_wrong_size():
    np.testing.assert_allclose(resize_maps(np.array([[0.0, 1.0]]), (4,)),
                               [[0.0, 0.25, 0.75, 1.0]])
    with pytest.raises(ValueError, match="2 spatial axes; size"):
        resize_maps(np.zeros((1, 3, 3)), (6,))
