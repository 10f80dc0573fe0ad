"""Batched (image, item) pairs for perturbation methods (Score-CAM, Ablation-CAM, occlusion).

They run the model once per (image, channel or patch). The pairs of a whole batch are
flattened and evaluated `chunk_size` at a time, so the accelerator stays busy and only one
chunk of perturbed inputs exists at any moment (never channels x images full-size inputs).
"""

from __future__ import annotations

import numpy as np


def select_channels(spans: np.ndarray, means: np.ndarray, max_channels: int | None):
    """Boolean (N, K): channels worth a model call.

    Constant channels (max == min) are skipped: their normalized mask is all zeros.
    With `max_channels`, only the `max_channels` channels of highest mean activation are
    kept per image (Faster Score-CAM).
    """
    keep = spans > 0
    if max_channels is not None and max_channels < keep.shape[1]:
        ranked = np.where(keep, means, -np.inf)
        top = np.argsort(-ranked, axis=1, kind="stable")[:, :max_channels]
        limited = np.zeros_like(keep)
        np.put_along_axis(limited, top, True, axis=1)
        keep &= limited
    return keep


def pair_chunks(keep: np.ndarray, indices: np.ndarray, chunk_size: int):
    """Yield (image_idx, channel_idx, target, count) int32 arrays of exactly `chunk_size`.

    The last chunk is padded with copies of pair 0 (`count` says how many are real).
    """
    images, channels = np.nonzero(keep)
    for start in range(0, len(images), chunk_size):
        img = images[start : start + chunk_size]
        ch = channels[start : start + chunk_size]
        count = len(img)
        pad = chunk_size - count
        img = np.pad(img, (0, pad)).astype("int32")
        ch = np.pad(ch, (0, pad)).astype("int32")
        yield img, ch, indices[img].astype("int32"), count


def scatter(keep: np.ndarray, values: list[np.ndarray]) -> np.ndarray:
    """(N, K) array with the pair values at the kept positions, zeros elsewhere."""
    out = np.zeros(keep.shape, dtype="float32")
    if values:
        out[keep] = np.concatenate(values)
    return out
