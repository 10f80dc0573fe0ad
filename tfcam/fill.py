"""The value masked pixels take: one definition for every method and metric that masks.

A masked image is ``x * m + fill * (1 - m)``, with the mask m in [0, 1] (1 keeps the pixel):
Score-CAM's channel masks, Average Drop's explanation map, deletion's removed pixels and
occlusion's patches. The fill is

* ``"black"``: 0 in the images' own units (the default everywhere: the papers' formula
  ``X ⊙ M`` applied to the images as the model takes them);
* ``"mean"``: each image's own mean colour, per channel (the mean over its spatial axes);
* ``"blur"``: a Gaussian-blurred copy of the image (RISE's insertion substrate, sigma 5,
  11 × 11: `gaussian_blur`);
* a number, or one number per channel: e.g. ImageNet's mean ``[0.485, 0.456, 0.406]`` for
  [0, 1] images is exactly the 0 of the authors' codes, which mask the *normalized* tensor.

Fills are computed on the host (numpy); `blend` is plain arithmetic, so the same line masks
numpy arrays (the metrics) and backend tensors inside a compiled function (the methods).
"""

from __future__ import annotations

import numbers

import numpy as np

FILLS = ("black", "mean", "blur")
BLUR_SIGMA, BLUR_SIZE = 5.0, 11  # RISE's blur: sigma 5 pixels, an 11 × 11 kernel


def check_fill(fill, name: str = "fill"):
    """The fill itself: one of `FILLS`, or a float32 array (a number or one per channel).

    Raises a ValueError naming the choices (``name``: the argument's name in the message).
    """
    if isinstance(fill, str) and fill in FILLS:
        return fill
    numeric = not isinstance(fill, (str, bool)) and fill is not None and _numeric(fill)
    values = np.asarray(fill, dtype=np.float32) if numeric else None
    if values is None or values.ndim > 1 or values.size == 0:
        raise ValueError(f"{name} must be one of {list(FILLS)}, a number or one number per "
                         f"channel; received {fill!r}.")
    return values


def fill_values(fill, x, *, blur_sigma: float = BLUR_SIGMA, blur_size: int = BLUR_SIZE,
                name: str = "fill"):
    """The fill of each image of ``x`` (N, *spatial, C), numpy float32 of x's rank with a
    batch axis of N (``"mean"`` and numbers keep 1s on the spatial axes), or None for
    ``"black"`` (nothing to add: `blend` is then ``x * m``, bit for bit as before)."""
    fill = check_fill(fill, name)
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    if isinstance(fill, str):
        if fill == "black":
            return None
        axes = tuple(range(1, x.ndim - 1))
        if not axes:  # (N, F) features: no pixels to average or blur over
            raise ValueError(f"{name}={fill!r} needs inputs with spatial axes (N, *spatial, C); "
                             f"received shape {x.shape}. Use \"black\" or a number (or, on a model "
                             "with several inputs, choose the spatial one with input=).")
        if fill == "mean":
            return x.mean(axis=axes, keepdims=True, dtype=np.float64).astype(dtype)
        return gaussian_blur(x, blur_sigma, blur_size).astype(dtype, copy=False)
    shape = (len(x),) + (1,) * (x.ndim - 1)
    if fill.ndim == 1:
        if fill.size not in (1, x.shape[-1]):
            raise ValueError(f"{name} has {fill.size} values, one per channel, but the input has "
                             f"{x.shape[-1]} channels (shape {x.shape}).")
        shape = (*shape[:-1], fill.size)
    return np.ascontiguousarray(np.broadcast_to(fill.reshape(shape[1:]), shape)).astype(dtype)


def fill_like(fill, x, **kwargs) -> np.ndarray:
    """The fill as a full array of x's shape (zeros for ``"black"``): a substrate to copy from."""
    values = fill_values(fill, x, **kwargs)
    x = np.asarray(x)
    if values is None:
        return np.zeros(x.shape, x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32)
    return np.ascontiguousarray(np.broadcast_to(values, x.shape))


def blend(x, keep, fill):
    """``x * keep + fill * (1 - keep)``; ``x * keep`` where ``fill`` is None (black).

    Plain arithmetic: numpy arrays or backend tensors alike (inside compiled functions).
    ``keep`` broadcasts to x (add the channel axis first); ``fill`` comes from `fill_values`.
    """
    if fill is None:
        return x * keep
    return x * keep + fill * (1 - keep)


def gaussian_blur(images, sigma: float = BLUR_SIGMA, size: int = BLUR_SIZE) -> np.ndarray:
    """Per-channel Gaussian blur of (N, *spatial, C) inputs with a ``size``-wide kernel on
    every spatial axis (``size × size`` for images).

    The kernel is the Gaussian of standard deviation ``sigma`` pixels truncated to radius
    ``(size - 1) // 2`` and normalized to sum 1 (scipy.ndimage); borders are reflected.
    RISE's insertion substrate: sigma 5, 11 × 11.
    """
    from scipy import ndimage

    x = np.asarray(images, dtype=np.float32)
    radius = (int(size) - 1) // 2
    axes = tuple(range(1, x.ndim - 1))
    return ndimage.gaussian_filter(x, sigma=float(sigma), radius=radius, axes=axes, mode="reflect")


def _numeric(fill) -> bool:
    if isinstance(fill, numbers.Real):
        return True
    try:
        return np.asarray(fill).dtype.kind in "iuf"
    except (TypeError, ValueError):
        return False
