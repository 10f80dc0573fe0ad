"""Checks and conversions of what a metric takes: images and maps (numpy only).

Each raises a ValueError naming the shape it expected and the one it received.
"""

from __future__ import annotations

import numpy as np


def as_images(images) -> np.ndarray:
    """(N, H, W, C) float32 numpy array, or a ValueError naming the shape."""
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise ValueError(
            f"images must have shape (N, H, W, C); received shape {arr.shape}. "
            "Add a batch axis with images[None] or a channel axis with images[..., None]."
        )
    return arr.astype(np.float32, copy=False)


def as_maps(maps, n: int | None = None, hw: tuple[int, int] | None = None, name: str = "maps"):
    """(N, H, W) float64 finite numpy array, checked against N and (H, W)."""
    arr = np.asarray(maps, dtype=np.float64)
    expected = f"({n if n is not None else 'N'}, {hw[0] if hw else 'H'}, {hw[1] if hw else 'W'})"
    if arr.ndim != 3:
        raise ValueError(f"{name} must have shape {expected}; received shape {arr.shape}.")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must have shape {expected}; received shape {arr.shape}.")
    if hw is not None and arr.shape[1:] != tuple(hw):
        raise ValueError(
            f"{name} must have shape {expected} (the input resolution); received shape "
            f"{arr.shape}. Resize the maps to the images' height and width first."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contain NaN or infinite values.")
    return arr


def as_unit_maps(maps, n=None, hw=None, name: str = "maps") -> np.ndarray:
    """Like `as_maps`, and the values must lie in [0, 1] (1e-6 slack, then clipped)."""
    arr = as_maps(maps, n, hw, name)
    if arr.size and (arr.min() < -1e-6 or arr.max() > 1 + 1e-6):
        raise ValueError(
            f"{name} must lie in [0, 1]; received values in [{arr.min():.4g}, {arr.max():.4g}]. "
            "Normalize each map (e.g. min-max) first."
        )
    return np.clip(arr, 0.0, 1.0)
