"""Maps resized on the host the way tfcam resizes them to the input (numpy)."""

from __future__ import annotations

import numpy as np

from tfcam._maps import interpolation_matrix


def resize_maps(maps, size) -> np.ndarray:
    """(N, *spatial) maps -> (N, *size) float32 by separable linear interpolation: half-pixel
    centres, clamped at the edges (`keras.ops.image.resize`'s bilinear, without
    antialiasing), with the weights tfcam upsamples its layer maps with. Any number of
    spatial axes (sequences, images, volumes)."""
    out = np.asarray(maps, np.float32)
    if out.ndim - 1 != len(size):
        raise ValueError(f"maps of shape {out.shape} have {out.ndim - 1} spatial axes; "
                         f"size {tuple(size)} has {len(size)}")
    for in_size, out_size in zip(out.shape[1:], size):
        # contracting axis 1 appends the resized axis last: after every axis, order is restored
        out = np.tensordot(out, interpolation_matrix(int(out_size), int(in_size)), axes=([1], [1]))
    return out
