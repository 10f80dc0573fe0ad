"""Ground truth for localization: boxes rasterized into masks, masks checked (numpy only).

A box is ``(x0, y0, x1, y1)`` in pixels, half-open like slices (see `boxes_to_masks`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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
        for x0, y0, x1, y1 in pixel_boxes(bxs, h, w):
            masks[i, y0:y1, x0:x1] = True
    return masks


def box_lists(boxes) -> list[np.ndarray]:
    """Boxes as a list of (M_i, 4) float arrays, one per image."""
    if isinstance(boxes, np.ndarray) and boxes.ndim == 2:
        if boxes.shape[1] != 4:
            raise ValueError(f"boxes must have shape (N, 4); received shape {boxes.shape}.")
        return [boxes[i : i + 1].astype(np.float64) for i in range(boxes.shape[0])]
    if not isinstance(boxes, (Sequence, np.ndarray)):
        raise ValueError(  # noqa: TRY004 - a ValueError like every other bad input
            "boxes must be an (N, 4) array or a sequence of per-image boxes."
        )
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


def pixel_boxes(bxs: np.ndarray, h: int, w: int) -> np.ndarray:
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
