"""The score that tfcam's methods explain: the class logit, read before a final softmax.

`ClassScorer` scores the class *probability* (the unit of the masking metrics). The metrics
that compare attributions with changes of the score (infidelity, completeness) need the value
the attributions explain instead: tfcam's gradient, Integrated Gradients and LRP methods
explain the logit, which on a model ending in a softmax is the value before it
(`tfcam.targets`, `Program.logit_key`). `LogitScorer` reads that value, batched and compiled.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import keras
import numpy as np

from tfcam import backend, graph

from ._forward import concat, forward
from ._scoring import ClassScorer, _output_activation, needs_softmax

# Compiled logit forwards per live model (weak keys; the function holds the model only
# through the traced program, which holds it weakly).
_LOGIT_FORWARDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def logit_forward(model) -> Callable[[np.ndarray], np.ndarray]:
    """``f(batch) -> (B, classes)`` numpy logits of a model that ends in a softmax: the
    traced graph run up to the softmax's input, compiled once per model."""
    fn = _LOGIT_FORWARDS.get(model)
    if fn is None:
        program = graph.trace(model)
        key = program.logit_key
        (input_key,) = program.input_keys

        def logits(x):
            return program.evaluate({input_key: x}, (key,))[key]

        compiled = backend.compile_function(logits, model.variables)
        fn = _LOGIT_FORWARDS[model] = lambda x: keras.ops.convert_to_numpy(compiled(x))
    return fn


class LogitScorer(ClassScorer):
    """Scores of the explained class: its logit (``apply_softmax=False``, the default of the
    metrics that use it) or its probability. A `ClassScorer` whose model call stops at the
    logits of a model that ends in a softmax.

    ``apply_softmax``: False reads the logit (before the model's softmax when it ends in one,
    else the model's output); True the softmax of the logits; None the probability as
    `ClassScorer` detects it. A callable target ``score(outputs) -> (N,)`` gets the model's
    outputs and its values are used as they are.

    Attributes:
        original: (N,) scores of the unmodified images.
        classes: (N,) int class indices (None for a callable target).
    """

    def __init__(self, model, images: np.ndarray, targets=None, apply_softmax=False,
                 batch_size: int = 32):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1; received {batch_size}.")
        self.model = model
        self.batch_size = int(batch_size)
        self.images = images
        self.n = images.shape[0]
        self.callable_target = callable(targets)
        ends_in_softmax = not self.callable_target and _output_activation(model) == "softmax"
        self._run = logit_forward(model) if ends_in_softmax else forward(model)
        if not model.built:
            model(images[:1])
        raw = self._outputs(lambda a, b: images[a:b], self.n)
        if self.callable_target:
            self._score_fn = targets
            self.apply_softmax = False
            self.classes = None
            self.original = self._callable_scores(raw, self.n)
            return
        if apply_softmax is None:  # the probability, as ClassScorer reads it
            apply_softmax = True if ends_in_softmax else needs_softmax(raw, model)
        self.apply_softmax = bool(apply_softmax)
        self._resolve_classes(self._probabilities(raw), targets)  # logits unless apply_softmax

    def scores(self, make_batch: Callable[[int, int], np.ndarray], image_index) -> np.ndarray:
        """Scores of the inputs ``make_batch(start, stop)`` builds; input i is scored on the
        class of image ``image_index[i]``. Returns (M,) float64."""
        image_index = np.asarray(image_index)
        return self._class_scores(self._outputs(make_batch, image_index.size), image_index)

    def _outputs(self, make_batch, total: int):
        chunks = []
        for start in range(0, total, self.batch_size):
            stop = min(start + self.batch_size, total)
            chunks.append(self._run(np.ascontiguousarray(make_batch(start, stop), np.float32)))
        return concat(chunks)
