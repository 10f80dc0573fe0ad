"""`tfcam.image_files`: the one reader of photos (command line, benchmark folders and grids)."""
import numpy as np

from tfcam.image_files import read_image, to_rgb


def test_the_scale_comes_from_the_dtype_not_the_values(tmp_path):
    # regression: the benchmark's folder reader divided by 255 only when max > 1, so a dark
    # 8-bit photo (every pixel <= 1) came in 255 times too bright
    dark = np.ones((4, 4, 3), np.uint8)
    np.testing.assert_allclose(to_rgb(dark), 1 / 255)
    from skimage import io
    io.imsave(tmp_path / "dark.png", dark, check_contrast=False)
    np.testing.assert_allclose(read_image(tmp_path / "dark.png"), 1 / 255)
    np.testing.assert_allclose(to_rgb(np.full((2, 2), 65535, np.uint16)), 1.0)
    floats = np.full((2, 2, 3), 0.25, np.float32)
    np.testing.assert_array_equal(to_rgb(floats), floats)
