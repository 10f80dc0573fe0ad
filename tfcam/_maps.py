"""Map post-processing shared by all methods: resize to the input and normalize to [0, 1]."""

from keras import ops


def minmax(maps):
    """Per-sample `(m - min) / (max - min)` over all but the batch axis; 0 where max == min.

    Never NaN: a constant map (all zeros after a ReLU, say) normalizes to zeros.
    """
    axes = tuple(range(1, len(maps.shape)))
    low = ops.min(maps, axis=axes, keepdims=True)
    span = ops.max(maps, axis=axes, keepdims=True) - low
    safe_span = ops.where(span > 0, span, ops.ones_like(span))
    return ops.where(span > 0, (maps - low) / safe_span, ops.zeros_like(maps))


def upsample(maps, size):
    """Bilinear resize of (N, h, w) maps to (N, H, W)."""
    if tuple(maps.shape[1:3]) == tuple(size):
        return maps
    return ops.image.resize(maps[..., None], size, interpolation="bilinear")[..., 0]


def to_input_resolution(raw, size, relu_after_upsample=False):
    """`raw` (N, h, w) at the layer's resolution -> maps (N, H, W) in [0, 1]."""
    up = upsample(raw, size)
    if relu_after_upsample:
        up = ops.relu(up)
    return minmax(up)
