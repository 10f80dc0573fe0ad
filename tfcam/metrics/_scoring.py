"""The score a faithfulness metric reads: the explained class's probability.

Targets are checked by `tfcam.targets` (the explainers' rules and messages); whether the
outputs already are probabilities is read from the model's traced graph (`tfcam.graph`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np

from tfcam import graph
from tfcam import targets as tfcam_targets

from ._forward import concat, forward, outputs_of, predict


def top1_classes(model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(N,) the model's top-1 output index for each image (the raw outputs' argmax)."""
    n = images.shape[0]
    return np.argmax(np.asarray(predict(model, images, batch_size)).reshape(n, -1), axis=1)


def _output_activation(model) -> str | None:
    """"softmax", "linear" or None (unknown) from the traced graph (`Program.output_activation`);
    None too for a model tfcam cannot trace."""
    try:
        program = graph.trace(model)
    except (TypeError, ValueError):
        return None
    return program.output_activation


def needs_softmax(outputs: np.ndarray, model=None) -> bool:
    """Whether class probabilities need a softmax over the outputs.

    With a model whose graph ends in a softmax, False; in a layer without activation
    (logits), True. Otherwise decided from the outputs: True unless every row is already a
    probability vector (>= 0, sums to 1 within 1e-3).
    """
    kind = _output_activation(model) if model is not None else None
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
    """Row-wise softmax in float64."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class ClassScorer:
    """Scores of the explained class for batches of (possibly masked) images.

    The score is the class probability: the model's outputs when they already are
    probabilities, else their softmax. ``apply_softmax=None`` detects which, once, and
    keeps that choice for every masked batch: from the traced graph when it ends in a
    softmax or a layer without activation, else from the outputs on the unmasked images
    (`needs_softmax`). A callable target ``score(outputs) -> (N,)`` gets the raw outputs
    and its values are used as they are (``apply_softmax`` is then ignored).

    Attributes:
        original: (N,) scores of the unmodified images.
        classes: (N,) int class indices (None for a callable target).
    """

    def __init__(self, model, images: np.ndarray, targets=None, apply_softmax=None, batch_size=32):
        self.model = model
        self.batch_size = int(batch_size)
        self.images = images
        self.n = images.shape[0]
        raw = predict(model, images, self.batch_size)
        self.callable_target = callable(targets)
        self.classes: np.ndarray | None = None
        if self.callable_target:
            self._score_fn = targets
            self.apply_softmax = False
            self.original = self._callable_scores(raw, self.n)
            return
        self.apply_softmax = needs_softmax(raw, model) if apply_softmax is None else bool(apply_softmax)
        self._resolve_classes(self._probabilities(raw), targets)

    def _resolve_classes(self, scores: np.ndarray, targets) -> None:
        """`classes` (the targets, the top-1 of `scores` where None) and `original`, the
        images' own scores of those classes."""
        indices = tfcam_targets.class_indices(targets, self.n, scores.shape[1], self.model.name)
        top1 = np.argmax(scores, axis=1)
        self.classes = np.where(indices == tfcam_targets.TOP1, top1, indices).astype(np.int64)
        self.original = scores[np.arange(self.n), self.classes]

    def maps(self, maps_or_explain_fn):
        """The maps themselves, or those of an explain function
        ``explain_fn(model, images, targets)`` called with the resolved targets."""
        if callable(maps_or_explain_fn):
            targets = self._score_fn if self.callable_target else self.classes
            return maps_or_explain_fn(self.model, self.images, targets)
        return maps_or_explain_fn

    def scores(self, make_batch: Callable[[int, int], np.ndarray], image_index: np.ndarray) -> np.ndarray:
        """Scores for inputs built on the host by ``make_batch(start, stop)``; input i
        explains image ``image_index[i]`` (so its class is that image's target).
        Returns (M,) float64."""
        image_index = np.asarray(image_index)
        raw = outputs_of(self.model, make_batch, image_index.size, self.batch_size)
        return self._class_scores(raw, image_index)

    def prepared_scores(self, prepare: Callable, tables: Sequence, per_input: Sequence,
                        image_index) -> np.ndarray:
        """Scores of inputs built inside the compiled model call.

        Input b is ``prepare(*tables, *(a[b] for a in per_input))`` (keras.ops, batched):
        the (large) ``tables`` are converted to backend tensors once, so on an accelerator
        they stay on the device, and only the (B,) int arrays of ``per_input`` travel,
        ``batch_size`` entries per call. Input b is scored on the target of image
        ``image_index[b]``. Returns (B,) float64.
        """
        tables = [keras.ops.convert_to_tensor(a) for a in tables]
        fn = forward(self.model, prepare)
        idx = [np.asarray(a, dtype=np.int32) for a in per_input]
        total = idx[0].size
        chunks = [
            fn(*tables, *(a[b : b + self.batch_size] for a in idx))
            for b in range(0, total, self.batch_size)
        ]
        return self._class_scores(concat(chunks), np.asarray(image_index))

    def _class_scores(self, raw, image_index: np.ndarray) -> np.ndarray:
        if self.callable_target:
            return self._callable_scores(raw, image_index.size)
        probs = self._probabilities(raw)
        assert self.classes is not None  # resolved in __init__ for every non-callable target
        return probs[np.arange(image_index.size), self.classes[image_index]]

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
