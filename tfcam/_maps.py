"""Map post-processing shared by all methods: resize to the input and normalize to [0, 1].

Maps have one batch axis and 1 to 3 spatial axes: (N, T) for sequences, (N, H, W) for
images, (N, D, H, W) for volumes. Layers and inputs have a channel axis after those.
"""

import numpy as np
from keras import ops

# Einsum letters for the spatial axes of each rank; "hw" keeps the 2-D formulas unchanged.
_SPATIAL_LETTERS = {1: "t", 2: "hw", 3: "dhw"}


def spatial_axes(x) -> tuple[int, ...]:
    """The spatial axes of a (N, spatial..., channels) tensor: 1 .. rank - 2."""
    return tuple(range(1, len(x.shape) - 1))


def spatial_letters(rank: int) -> str:
    """Einsum letters for `rank` spatial axes ("hw" for images)."""
    return _SPATIAL_LETTERS[rank]


def minmax(maps):
    """Per-sample `(m - min) / (max - min)` over all but the batch axis; 0 where max == min.

    Never NaN: a constant map (all zeros after a ReLU, say) normalizes to zeros.
    """
    axes = tuple(range(1, len(maps.shape)))
    low = ops.min(maps, axis=axes, keepdims=True)
    span = ops.max(maps, axis=axes, keepdims=True) - low
    safe_span = ops.where(span > 0, span, ops.ones_like(span))
    return ops.where(span > 0, (maps - low) / safe_span, ops.zeros_like(maps))


def host_minmax(maps, axes) -> np.ndarray:
    """`minmax` on the host, in float64, over `axes` (numpy; the metrics' comparisons)."""
    m = np.asarray(maps, dtype=np.float64)
    low = m.min(axis=axes, keepdims=True)
    span = m.max(axis=axes, keepdims=True) - low
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (m - low) / safe, 0.0)


def interpolation_matrix(out_size: int, in_size: int) -> np.ndarray:
    """(out, in) float32 weights of linear interpolation along one axis.

    The convention of TensorFlow's bilinear resize without antialiasing (and of
    `keras.ops.image.resize`): half-pixel centres, source coordinate
    `(i + 0.5) * in / out - 0.5`, clamped to the first and last sample at the edges.
    """
    source = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    source = np.clip(source, 0.0, in_size - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, in_size - 1)
    fraction = source - low
    matrix = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, low), 1.0 - fraction)
    np.add.at(matrix, (rows, high), fraction)
    return matrix.astype("float32")


def linear_resize(maps, size):
    """Separable linear resize of (N, *spatial) maps to (N, *size), any number of axes."""
    out = maps
    for in_size, out_size in zip(maps.shape[1:], size):
        matrix = ops.cast(interpolation_matrix(int(out_size), int(in_size)), out.dtype)
        # Contracting axis 1 appends the resized axis last: after every axis, order is restored.
        out = ops.tensordot(out, matrix, axes=[[1], [1]])
    return out


def upsample(maps, size):
    """Linear resize of (N, *spatial) maps to (N, *size): bilinear for images (the
    `keras.ops.image.resize` of before), separable linear for sequences and volumes."""
    size = tuple(int(s) for s in size)
    if tuple(maps.shape[1:]) == size:
        return maps
    if len(size) == 2:
        return ops.image.resize(maps[..., None], size, interpolation="bilinear")[..., 0]
    return linear_resize(maps, size)


def to_input_resolution(raw, size, relu_after_upsample=False):
    """`raw` (N, *spatial) at the layer's resolution -> maps (N, *size) in [0, 1]."""
    up = upsample(raw, size)
    if relu_after_upsample:
        up = ops.relu(up)
    return minmax(up)


def channel_max_abs(x):
    """max over channels of |x|: (N, *spatial, C) -> (N, *spatial). An input without
    spatial axes, (N, F), keeps its features: |x| (N, F)."""
    if len(x.shape) <= 2:
        return ops.abs(x)
    return ops.max(ops.abs(x), axis=-1)


def channel_sum(x):
    """The sum over channels: (N, *spatial, C) -> (N, *spatial); (N, F) stays (N, F)."""
    if len(x.shape) <= 2:
        return x
    return ops.sum(x, axis=-1)
