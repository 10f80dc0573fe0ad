"""Batched (image, item) pairs for perturbation methods (Score-CAM, Ablation-CAM, occlusion).

They run the model once per (image, channel or patch). The pairs of a whole batch are
flattened and evaluated `chunk_size` at a time, so the accelerator stays busy and only one
chunk of perturbed inputs exists at any moment (never channels x images full-size inputs).
"""

from __future__ import annotations

import numpy as np


def select_channels(spans: np.ndarray, ranks: np.ndarray, max_channels: int | None):
    """Boolean (N, K): channels worth a model call.

    Constant channels (max == min) are skipped: their normalized mask is all zeros.
    With `max_channels`, only the `max_channels` non-constant channels of highest `ranks`
    (N, K) are kept per image (Faster Score-CAM; the ranks are the channels' mean or
    standard deviation of activation, see `ScoreCAM`); ties go to the lower channel index.
    """
    keep = spans > 0
    if max_channels is not None and max_channels < keep.shape[1]:
        ranked = np.where(keep, ranks, -np.inf)
        top = np.argsort(-ranked, axis=1, kind="stable")[:, :max_channels]
        limited = np.zeros_like(keep)
        np.put_along_axis(limited, top, True, axis=1)
        keep &= limited
    return keep


def pair_chunks(keep: np.ndarray, indices: np.ndarray, chunk_size: int):
    """Yield (image_idx, channel_idx, target, count) int32 arrays of exactly `chunk_size`.

    The last chunk is padded with copies of pair 0 (`count` says how many are real). With
    fewer pairs than `chunk_size`, chunks shrink to the next power of two: little padding,
    and only a few distinct shapes to compile.
    """
    images, channels = np.nonzero(keep)
    if 0 < len(images) < chunk_size:
        chunk_size = min(chunk_size, 2 ** int(np.ceil(np.log2(len(images)))))
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


def auto_chunk_size(program, input_shape, budget_bytes: int, largest: int = 256,
                    backward: bool = False) -> int:
    """How many model inputs to run at once within `budget_bytes` of device memory.

    A forward pass holds the input and, at its peak, about three of the largest layer
    outputs (a residual branch and its skip); a forward and backward pass (`backward`:
    Integrated Gradients' path points, SmoothGrad's noisy copies) keeps every layer's
    output and the input's gradient. float32; powers of two, from 1 to `largest`.
    """
    input_elements = int(np.prod(input_shape[1:]))
    sizes = [
        int(np.prod(shape[1:])) for step in program.steps for shape in step.output_shapes
        if all(d is not None for d in shape[1:])
    ]
    if backward:
        per_input = 4 * (2 * input_elements + (sum(sizes) or input_elements * 64))
    else:  # unknown sizes: a rough guess
        per_input = 4 * (input_elements + 3 * (max(sizes, default=0) or input_elements * 64))
    fitting = max(1, budget_bytes // per_input)
    return int(min(largest, 2 ** int(np.log2(fitting))))

