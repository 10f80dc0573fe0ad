"""Heatmaps over images."""

import numpy as np


def _display_rgb(images) -> np.ndarray:
    images = np.asarray(images, dtype="float32")
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    images = images[..., :3]
    low = images.min(axis=(1, 2, 3), keepdims=True)
    span = images.max(axis=(1, 2, 3), keepdims=True) - low
    return np.where(span > 0, (images - low) / np.where(span > 0, span, 1), 0.0)


def overlay(images, maps, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """Blend (N, H, W) maps in [0, 1] over (N, H, W, C) images; RGB uint8 (N, H, W, 3)."""
    from matplotlib import colormaps

    maps = np.asarray(maps, dtype="float32")
    rgb = _display_rgb(images)
    if rgb.shape[:3] != maps.shape:
        raise ValueError(
            f"images of shape {np.shape(images)} do not match maps of shape {maps.shape}: "
            "pass the images that were explained."
        )
    heat = colormaps[cmap](np.clip(maps, 0, 1))[..., :3]
    blended = (1 - alpha) * rgb + alpha * heat
    return np.round(blended * 255).astype("uint8")
