"""Finding the user's image files and shaping them for the model (reading: `tfcam.image_files`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfcam.cli.errors import UsageError

# What a folder given on the command line contributes: the images scikit-image reads.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def image_paths(arguments) -> list[Path]:
    """The image files named on the command line; a folder stands for its images (sorted)."""
    paths = []
    for argument in arguments:
        path = Path(argument).expanduser()
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not inside:
                raise UsageError(f"folder {path} has no images ({', '.join(IMAGE_SUFFIXES)})")
            paths.extend(inside)
        elif path.exists():
            paths.append(path)
        else:
            raise UsageError(f"image {path} does not exist: check the path")
    return paths


def model_input(model) -> tuple:
    """(height, width, channels) of the model's one image input; None where it takes any."""
    if len(model.inputs) != 1:
        raise UsageError(
            f"model '{model.name}' takes {len(model.inputs)} inputs: the command line explains "
            "models of one image input; in Python, tfcam.explain(model, [x1, x2]) takes several"
        )
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4:
        raise UsageError(
            f"model '{model.name}' takes inputs of shape {shape}, not images (batch, height, "
            "width, channels): use tfcam.explain in Python for sequences and volumes"
        )
    if shape[-1] not in (1, 3):
        raise UsageError(f"model '{model.name}' takes images of {shape[-1]} channels; the command "
                         "line reads RGB or grey images (1 or 3 channels)")
    return shape[1], shape[2], shape[-1]


def fit_to_model(image: np.ndarray, height, width, channels) -> np.ndarray:
    """`image` (H, W, 3) resized to the model's (height, width) (kept where the model takes
    any size) and made grey for a one-channel model; [0, 1] float32."""
    from skimage import color, transform

    target = (height or image.shape[0], width or image.shape[1])
    if image.shape[:2] != target:
        image = transform.resize(image, target, order=1, anti_aliasing=True, preserve_range=True)
    if channels == 1:
        image = color.rgb2gray(image)[..., None]
    return np.clip(image, 0, 1).astype("float32")
