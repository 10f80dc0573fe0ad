"""Shape checks and conversions shared by the metrics (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence

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


def boxes_to_masks(boxes, shape: tuple[int, int]) -> np.ndarray:
    """Rasterize boxes into boolean masks.

    Args:
        boxes: (N, 4) array, or a length-N sequence whose items are one box (4,) or
            several boxes (M, 4) (their union is drawn). A box is ``(x0, y0, x1, y1)``
            in pixels, x along the width; it covers columns ``floor(x0) <= x < ceil(x1)``
            and rows ``floor(y0) <= y < ceil(y1)`` (half-open, like slices), clipped to
            the image. ``(3, 5, 4, 6)`` is the single pixel at row 5, column 3.
        shape: (H, W) of the masks.

    Returns:
        (N, H, W) bool.
    """
    per_image = box_lists(boxes)
    h, w = int(shape[0]), int(shape[1])
    masks = np.zeros((len(per_image), h, w), dtype=bool)
    for i, bxs in enumerate(per_image):
        for x0, y0, x1, y1 in _pixel_boxes(bxs, h, w):
            masks[i, y0:y1, x0:x1] = True
    return masks


def box_lists(boxes) -> list[np.ndarray]:
    """Boxes as a list of (M_i, 4) float arrays, one per image."""
    if isinstance(boxes, np.ndarray) and boxes.ndim == 2:
        if boxes.shape[1] != 4:
            raise ValueError(f"boxes must have shape (N, 4); received shape {boxes.shape}.")
        return [boxes[i : i + 1].astype(np.float64) for i in range(boxes.shape[0])]
    if not isinstance(boxes, (Sequence, np.ndarray)):
        raise ValueError("boxes must be an (N, 4) array or a sequence of per-image boxes.")
    out = []
    for i, b in enumerate(boxes):
        arr = np.asarray(b, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ValueError(
                f"boxes[{i}] must have shape (4,) or (M, 4) as (x0, y0, x1, y1); "
                f"received shape {arr.shape}."
            )
        out.append(arr)
    return out


def _pixel_boxes(bxs: np.ndarray, h: int, w: int) -> np.ndarray:
    """Integer half-open (x0, y0, x1, y1) clipped to the image."""
    if bxs.size == 0:
        return np.zeros((0, 4), dtype=int)
    lo = np.floor(bxs[:, :2]).astype(int)
    hi = np.ceil(bxs[:, 2:]).astype(int)
    x0 = np.clip(lo[:, 0], 0, w)
    y0 = np.clip(lo[:, 1], 0, h)
    x1 = np.clip(hi[:, 0], 0, w)
    y1 = np.clip(hi[:, 1], 0, h)
    return np.stack([x0, y0, x1, y1], axis=1)


def as_masks(masks_or_boxes, n: int, hw: tuple[int, int], name: str = "masks") -> np.ndarray:
    """Ground truth as (N, H, W) bool.

    Accepts masks of shape (N, H, W) (any dtype; nonzero is inside) or boxes in any
    form `boxes_to_masks` takes. A 3-D array of shape exactly (N, H, W) is always read
    as masks; pass several boxes per image as a list of (M, 4) arrays.
    """
    arr = None
    try:
        arr = np.asarray(masks_or_boxes)
    except ValueError:  # ragged per-image box lists
        arr = None
    if arr is None or arr.dtype == object or arr.shape != (n, *hw):
        if arr is not None and arr.ndim == 3 and arr.shape[-1] != 4:
            raise ValueError(
                f"{name} must have shape ({n}, {hw[0]}, {hw[1]}) or be boxes "
                f"(x0, y0, x1, y1); received shape {arr.shape}."
            )
        arr = boxes_to_masks(masks_or_boxes, hw)
    if arr.shape != (n, *hw):
        raise ValueError(
            f"{name} must have shape ({n}, {hw[0]}, {hw[1]}) or be {n} boxes "
            f"(x0, y0, x1, y1); received {arr.shape[0]} images."
        )
    return arr.astype(bool, copy=False)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two flattened arrays, never NaN.

    Defined as 1.0 when both are constant (identical, fully tied rankings) and 0.0
    when exactly one is constant.
    """
    from scipy.stats import spearmanr

    a = np.ravel(a)
    b = np.ravel(b)
    ca = a.size < 2 or np.all(a == a[0])
    cb = b.size < 2 or np.all(b == b[0])
    if ca and cb:
        return 1.0
    if ca or cb:
        return 0.0
    rho = spearmanr(a, b).statistic
    return float(rho) if np.isfinite(rho) else 0.0


def minmax(m: np.ndarray) -> np.ndarray:
    """(m - min) / (max - min) per map over the last two axes; 0 where max == min."""
    m = np.asarray(m, dtype=np.float64)
    lo = m.min(axis=(-2, -1), keepdims=True)
    span = m.max(axis=(-2, -1), keepdims=True) - lo
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (m - lo) / safe, 0.0)


def descending_ranks(maps: np.ndarray) -> np.ndarray:
    """(N, H, W) int: each pixel's position when the map is sorted in descending order.

    Ties keep row-major order (stable sort): of two equal pixels the one earlier in
    row-major order ranks first. Rank 0 is the most salient pixel.
    """
    n, h, w = maps.shape
    flat = maps.reshape(n, h * w)
    order = np.argsort(-flat, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(h * w)[None, :].repeat(n, axis=0), axis=1)
    return ranks.reshape(n, h, w)
