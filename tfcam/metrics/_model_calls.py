"""Batched, compiled model calls: the only place in `tfcam.metrics` that runs a model
for scores. Backend-specific code is the few lines of `_compile`."""

from __future__ import annotations

import weakref
from collections.abc import Callable

import keras
import numpy as np

# Compiled forwards per live model (weak keys: a model that is garbage collected drops
# its entry), one per input-preparation function. They hold only a weak reference to
# the model.
_COMPILED: "weakref.WeakKeyDictionary[keras.Model, dict]" = weakref.WeakKeyDictionary()


def _compile(model, prepare: Callable | None) -> Callable:
    """``f(*args) -> the model's outputs on prepare(*args)`` as numpy (inference mode).

    ``prepare`` (keras.ops only, so it compiles on every backend) builds the model's
    input batch from the arguments inside the compiled function; None means the single
    argument is the batch.
    """
    ref = weakref.ref(model)
    prep = prepare or (lambda x: x)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda *a: ref()(prep(*a), training=False), reduce_retracing=True)
        return lambda *a: keras.tree.map_structure(lambda t: t.numpy(), fn(*a))
    if backend == "jax":
        import jax

        # Variables are arguments, not constants baked into the trace, so the compiled
        # function always sees the model's current weights.
        @jax.jit
        def fn(trainable, non_trainable, *a):
            return ref().stateless_call(trainable, non_trainable, prep(*a), training=False)[0]

        def call(*a):
            m = ref()
            out = fn(
                [v.value for v in m.trainable_variables],
                [v.value for v in m.non_trainable_variables],
                *a,
            )
            return keras.tree.map_structure(np.asarray, out)

        return call
    return lambda *a: keras.tree.map_structure(
        keras.ops.convert_to_numpy, ref()(prep(*a), training=False)
    )


def forward(model, prepare: Callable | None = None) -> Callable:
    """The compiled forward of `model` (see `_compile`), created once and cached."""
    per_model = _COMPILED.setdefault(model, {})
    fn = per_model.get(prepare)
    if fn is None:
        fn = per_model[prepare] = _compile(model, prepare)
    return fn


def moved_pixels(start, finish, ranks, table_idx, image_idx, counts):
    """Batch of partially moved images, built inside the compiled call (keras.ops).

    Input b is ``start[table_idx[b]]`` with the pixels ranked below ``counts[b]`` in
    ``ranks[image_idx[b]]`` taken from ``finish[table_idx[b]]`` (all channels).
    start, finish: (T, H, W, C); ranks: (N, H, W) int; the rest (B,) int.
    """
    ops = keras.ops
    s = ops.take(start, table_idx, axis=0)
    f = ops.take(finish, table_idx, axis=0)
    moved = ops.take(ranks, image_idx, axis=0) < ops.reshape(counts, (-1, 1, 1))
    return ops.where(ops.expand_dims(moved, -1), f, s)


def _concat(chunks: list):
    if len(chunks) == 1:
        return chunks[0]
    return keras.tree.map_structure(lambda *xs: np.concatenate(xs, axis=0), *chunks)


def outputs_of(
    model,
    make_batch: Callable[[int, int], np.ndarray],
    total: int,
    batch_size: int = 64,
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
    return _concat(chunks)


def predict(model, images: np.ndarray, batch_size: int = 64):
    """Model outputs for (N, H, W, C) images, `batch_size` per call."""
    return outputs_of(model, lambda a, b: images[a:b], images.shape[0], batch_size)


def output_activation(model) -> str | None:
    """"softmax" when the model's last layer is a softmax (a Softmax layer, or a layer
    with ``activation="softmax"``), "linear" when it is a layer with a linear
    activation (logits), else None (unknown). Nested models are followed."""
    layer = model
    while hasattr(layer, "layers") and layer.layers:
        outputs = getattr(layer, "outputs", None) or []
        history = getattr(outputs[0], "_keras_history", None) if len(outputs) == 1 else None
        producer = getattr(history, "operation", None)
        layer = producer if producer is not None and producer is not layer else layer.layers[-1]
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", None) or (act if isinstance(act, str) else None)
    if name in ("softmax", "linear"):
        return name
    return None


def needs_softmax(outputs: np.ndarray, model=None) -> bool:
    """Whether class probabilities need a softmax over the outputs.

    With a model whose last layer is known (see `output_activation`), False after a
    softmax and True after a linear layer. Otherwise decided from the outputs: True
    unless every row is already a probability vector (>= 0, sums to 1 within 1e-3).
    """
    kind = output_activation(model) if model is not None else None
    if kind is not None:
        return kind == "linear"
    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim != 2:
        raise ValueError(
            f"model outputs must have shape (N, classes) to score classes; received "
            f"{out.shape}. Pass a callable target for other outputs."
        )
    return not (np.all(out >= -1e-6) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3))


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class ClassScorer:
    """Scores of the explained class for batches of (possibly masked) images.

    The score is the class probability: the model's outputs when they already are
    probabilities, else their softmax. ``apply_softmax=None`` detects which, once, and
    keeps that choice for every masked batch: from the last layer when it is a softmax
    or a linear layer, else from the outputs on the unmasked images (`needs_softmax`). A callable
    target ``score(outputs) -> (N,)`` gets the raw outputs and its values are used as
    they are (``apply_softmax`` is then ignored).
    """

    def __init__(self, model, images: np.ndarray, targets=None, apply_softmax=None, batch_size=64):
        self.model = model
        self.batch_size = int(batch_size)
        self.images = images
        self.n = images.shape[0]
        raw = predict(model, images, self.batch_size)
        self.callable_target = callable(targets)
        if self.callable_target:
            self._score_fn = targets
            self.apply_softmax = False
            self.classes = None
            self.original = self._callable_scores(raw, self.n)
            return
        self.apply_softmax = needs_softmax(raw, model) if apply_softmax is None else bool(apply_softmax)
        probs = self._probabilities(raw)
        self.classes = resolve_targets(targets, probs)
        self.original = probs[np.arange(self.n), self.classes]

    def maps(self, maps_or_explain_fn):
        """The maps themselves, or those of an explain function
        ``explain_fn(model, images, targets)`` called with the resolved targets."""
        if callable(maps_or_explain_fn):
            targets = self._score_fn if self.callable_target else self.classes
            return maps_or_explain_fn(self.model, self.images, targets)
        return maps_or_explain_fn

    def _probabilities(self, raw) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim != 2:
            raise ValueError(
                f"model outputs must have shape (N, classes); received {raw.shape}. "
                "Pass a callable target score(outputs) -> (N,) for other outputs."
            )
        return softmax(raw) if self.apply_softmax else raw

    def _callable_scores(self, raw, m: int) -> np.ndarray:
        s = np.asarray(self._score_fn(raw), dtype=np.float64).reshape(-1)
        if s.shape != (m,):
            raise ValueError(f"the target callable must return shape ({m},); received {s.shape}.")
        return s

    def scores(self, make_batch: Callable[[int, int], np.ndarray], image_index: np.ndarray) -> np.ndarray:
        """Scores for inputs built by ``make_batch``; input i explains image
        ``image_index[i]`` (so its class is that image's target). Returns (M,) float64."""
        image_index = np.asarray(image_index)
        raw = outputs_of(self.model, make_batch, image_index.size, self.batch_size)
        if self.callable_target:
            return self._callable_scores(raw, image_index.size)
        probs = self._probabilities(raw)
        return probs[np.arange(image_index.size), self.classes[image_index]]

    def moved_scores(self, start, finish, ranks, table_idx, image_idx, counts) -> np.ndarray:
        """Scores of the `moved_pixels` inputs, `batch_size` per compiled call; the
        (large) start/finish/ranks tables are converted to backend tensors once, so on
        an accelerator they stay on the device. Input b is scored on the target of image
        ``image_idx[b]``. Returns (B,) float64."""
        tables = [keras.ops.convert_to_tensor(a) for a in (start, finish, ranks)]
        fn = forward(self.model, moved_pixels)
        idx = [np.asarray(a, dtype=np.int32) for a in (table_idx, image_idx, counts)]
        total = idx[0].size
        chunks = [
            fn(*tables, *(a[b : b + self.batch_size] for a in idx))
            for b in range(0, total, self.batch_size)
        ]
        raw = _concat(chunks)
        if self.callable_target:
            return self._callable_scores(raw, total)
        probs = self._probabilities(raw)
        return probs[np.arange(total), self.classes[np.asarray(image_idx)]]

    def scores_of(self, images: np.ndarray) -> np.ndarray:
        """Scores for (N, H, W, C) images, image i scored on target i."""
        return self.scores(lambda a, b: images[a:b], np.arange(images.shape[0]))


def resolve_targets(targets, probs: np.ndarray) -> np.ndarray:
    """(N,) int class indices: None -> top-1 of `probs`; an int -> that class for all;
    a sequence -> one per sample."""
    n, k = probs.shape
    if targets is None:
        return np.argmax(probs, axis=1)
    t = np.asarray(targets)
    if t.ndim == 0:
        t = np.full(n, int(t))
    t = t.reshape(-1)
    if t.shape != (n,) or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(
            f"targets must be None, a class index, or ({n},) integer class indices; "
            f"received {np.asarray(targets).dtype} with shape {np.asarray(targets).shape}."
        )
    if np.any(t < 0) or np.any(t >= k):
        raise ValueError(f"targets must lie in [0, {k}); received {t.min()}..{t.max()}.")
    return t.astype(np.int64)
