"""The base of every method: model tracing, input checks, batching, compiled functions."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from tfcam import backend, graph, targets
from tfcam.explanation import Explanation
from tfcam.layer_lookup import LayerTap, find_layer, require_spatial
from tfcam.pairs import auto_chunk_size, pair_chunks, scatter


def check_inputs(program: graph.Program, inputs) -> np.ndarray:
    """The inputs as a float32 array (a copy only where a conversion is needed).

    Raises a ValueError naming the expected and received shapes.
    """
    if len(program.input_keys) != 1:
        raise ValueError(
            f"model '{program.model.name}' has {len(program.input_keys)} inputs; tfcam "
            "explains single-input models."
        )
    array = np.asarray(inputs)
    if not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"inputs must be numeric, got dtype {array.dtype}")
    expected = program.input_shapes[0]
    if array.ndim == len(expected) - 1:
        raise ValueError(
            f"model '{program.model.name}' expects a batch of inputs of shape {expected}; got "
            f"one input of shape {array.shape}. Add a batch axis: inputs[None]."
        )
    mismatch = array.ndim != len(expected) or any(
        e is not None and e != a for e, a in zip(expected[1:], array.shape[1:])
    )
    if mismatch:
        raise ValueError(
            f"model '{program.model.name}' expects inputs of shape {expected}; got "
            f"{array.shape}. Resize the images to the model's input size."
        )
    if array.shape[0] == 0:
        raise ValueError("inputs are empty: nothing to explain.")
    return array.astype("float32", copy=False)


class Explainer:
    """Base class. Subclasses set `method` and implement `explain_batch`.

    `explain_batch(images, indices)` gets a float32 batch and the class indices (TOP1 for
    the top-1 class) and returns a dict of numpy arrays with a leading batch axis:
    at least maps, raw, targets and scores.
    """

    method: str = ""
    needs_layer: bool = True

    def __init__(self, model, layer=None, *, batch_size: int = 32, progress: bool | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.program = graph.trace(model)
        self.batch_size = int(batch_size)
        self.progress = progress
        self.tap: LayerTap | None = None
        if self.needs_layer:
            self.tap = find_layer(self.program, layer)
            require_spatial(self.tap, self.program, self.method)
        self._compiled: dict = {}
        self._input_hw: tuple[int, int] | None = None
        self.spec: targets.TargetSpec | None = None

    # ------------------------------------------------------------------ public
    def attribute(self, inputs, target=None) -> Explanation:
        """Explain `inputs` (N, H, W, C) for `target` (int, N ints, None = top-1, callable)."""
        merged = self.run(inputs, target)
        return Explanation(
            maps=merged.pop("maps").astype("float32"),
            raw=merged.pop("raw").astype("float32"),
            targets=None if self.spec.is_callable else merged.pop("targets").astype("int64"),
            scores=merged.pop("scores").astype("float32"),
            method=self.method,
            layer=self.tap.path if self.tap is not None else None,
            **{k: v for k, v in merged.items() if k in _OPTIONAL_FIELDS},
        )

    def run(self, inputs, target=None) -> dict:
        """`explain_batch` over all batches, concatenated: a dict of (N, ...) arrays."""
        images = check_inputs(self.program, inputs)
        self.spec = targets.resolve(target, len(images), self.program)
        parts = [
            self.explain_batch(batch, indices)
            for batch, indices in self._batches(images, self.spec)
        ]
        return {k: np.concatenate([p[k] for p in parts])[: len(images)] for k in parts[0]}

    def explain_batch(self, images: np.ndarray, indices: np.ndarray) -> dict:
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def compiled(self, name: str, fn):
        """`fn` compiled once per explainer, target kind, input size and `name`.

        `fn` may close over per-call values that are fixed for this key (the input size).
        """
        callable_id = id(self.spec.score_fn) if self.spec.is_callable else None
        key = (name, callable_id, self._input_hw)
        if key not in self._compiled:
            self._compiled[key] = backend.compile_function(fn, self.model.variables)
        return self._compiled[key]

    def evaluate_pairs(self, name: str, fn, keep: np.ndarray, indices: np.ndarray,
                       batch_shape, *args) -> np.ndarray:
        """(N, K) values of `fn(*args, image_idx, item_idx, targets)` for the kept pairs.

        The pairs run in compiled chunks (see `tfcam.pairs`); results stay on the device
        until all chunks are dispatched, so an accelerator is never idle between chunks.
        """
        run_chunk = self.compiled(name, fn)
        chunk = self.chunk_for(batch_shape)
        values = [run_chunk(*args, img, item, tgt)[:count]
                  for img, item, tgt, count in pair_chunks(keep, indices, chunk)]
        return scatter(keep, [np.asarray(v) for v in values])

    def chunk_for(self, batch_shape) -> int:
        """Perturbed inputs per model call: `chunk_size` if set, else sized to the device."""
        if getattr(self, "chunk_size", None):
            return int(self.chunk_size)
        return auto_chunk_size(self.program, batch_shape, backend.memory_budget())

    @property
    def input_size(self) -> tuple[int, int]:
        return self._input_hw

    def _batches(self, images: np.ndarray, spec: targets.TargetSpec):
        """(batch, indices) pairs; a final short batch is padded so shapes never change."""
        n = len(images)
        size = min(self.batch_size, n)
        self._input_hw = tuple(images.shape[1:3])
        starts = range(0, n, size)
        bar = tqdm(
            starts, desc=self.method, unit="batch", disable=_disabled(self.progress, len(starts))
        )
        for start in bar:
            batch = images[start : start + size]
            indices = spec.batch(start, start + size)
            short = size - len(batch)
            if short:
                batch = np.concatenate([batch, np.zeros((short, *batch.shape[1:]), batch.dtype)])
                indices = np.concatenate([indices, np.zeros(short, indices.dtype)])
            yield batch, indices


_OPTIONAL_FIELDS = ("channel_weights", "attributions", "relevance", "perturbed_inputs")


def _disabled(progress: bool | None, steps: int) -> bool | None:
    if progress is None:
        return None if steps > 1 else True  # tqdm's None: shown on terminals only
    return not progress


def to_numpy(outputs: dict) -> dict:
    return {k: np.asarray(v) for k, v in outputs.items()}
