"""Photos as tfcam's callers need them: float32 RGB in [0, 1], whatever the file or array.

Used by the command line (`tfcam explain`) and the benchmark's own-photo and grid data. The
scale comes from the dtype (uint8 / 255, uint16 / 65535, floats kept), never from the values:
a dark 8-bit photo whose pixels are all <= 1 is still divided by 255.
"""

from __future__ import annotations

import numpy as np


def to_rgb(image) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] from a photo array: grey (H, W) or (H, W, 1) repeated to
    RGB, an alpha channel dropped, the first frame of an animation."""
    from skimage import util

    image = np.asarray(image)
    if image.ndim == 4:  # an animated GIF or a multi-page TIFF: its first frame
        image = image[0]
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 2, 3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f"an image of shape {image.shape} is not a photo of 1 to 4 channels")
    if image.shape[-1] in (2, 4):  # grey or RGB with alpha: drop the alpha channel
        image = image[..., :-1]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return util.img_as_float32(image)


def read_image(path) -> np.ndarray:
    """The photo at `path` (any format scikit-image reads) as `to_rgb` gives it; a ValueError
    naming the file where it cannot be read."""
    from skimage import io

    try:
        image = io.imread(path)
    except Exception as e:  # noqa: BLE001 - imageio and PIL raise many kinds
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot read image {path}: {reason} (give a PNG, JPEG, BMP, TIFF or "
                         "GIF file)") from None
    try:
        return to_rgb(image)
    except ValueError as e:
        raise ValueError(f"image {path}: {e}") from None
