"""Running a model for the metrics: compiled forwards (through `tfcam.backend`), batched."""

from __future__ import annotations

import weakref
from collections.abc import Callable

import keras
import numpy as np

from tfcam import backend

# Compiled forwards per live model (weak keys: a model that is garbage collected drops its
# entry), one per input-preparation function; `backend.compile_forward` holds the model
# only weakly, so an entry never keeps its model alive.
_COMPILED: weakref.WeakKeyDictionary[keras.Model, dict] = weakref.WeakKeyDictionary()


def forward(model, prepare: Callable | None = None) -> Callable:
    """``f(*args) -> the model's outputs on prepare(*args)`` as numpy (inference mode),
    compiled once per model and ``prepare`` and cached.

    ``prepare`` (keras.ops only, so it compiles on every backend) builds the model's input
    batch from the arguments inside the compiled call; None means the single argument is
    the batch. The weights are read at each call, so re-drawn weights are never stale.
    """
    per_model = _COMPILED.setdefault(model, {})
    fn = per_model.get(prepare)
    if fn is None:
        compiled = backend.compile_forward(model, prepare)
        fn = per_model[prepare] = lambda *args: keras.tree.map_structure(
            keras.ops.convert_to_numpy, compiled(*args)
        )
    return fn


def concat(chunks: list):
    """Per-batch outputs (numpy, the model's output structure) joined along axis 0."""
    if len(chunks) == 1:
        return chunks[0]
    return keras.tree.map_structure(lambda *xs: np.concatenate(xs, axis=0), *chunks)


def outputs_of(
    model,
    make_batch: Callable[[int, int], np.ndarray],
    total: int,
    batch_size: int = 32,
):
    """Model outputs for `total` inputs produced lazily in chunks.

    Args:
        make_batch: ``make_batch(start, stop) -> (stop - start, H, W, C)`` float32: the
            inputs with flat indices ``start .. stop-1``. Built one chunk at a time so
            that a large stack of masked images never has to exist in memory at once.
        total: number of inputs.
        batch_size: inputs per model call.

    Returns:
        The model's outputs for all inputs, concatenated along axis 0 (numpy; the
        same structure as the model's output).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; received {batch_size}.")
    fn = forward(model)
    chunks = []
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        x = np.ascontiguousarray(make_batch(start, stop), dtype=np.float32)
        if not model.built:
            model(x[:1])
        chunks.append(fn(x))
    return concat(chunks)


def predict(model, inputs: np.ndarray, batch_size: int = 32):
    """Model outputs for (N, H, W, C) images, `batch_size` per call."""
    return outputs_of(model, lambda a, b: inputs[a:b], inputs.shape[0], batch_size)
