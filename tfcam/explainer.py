"""The base of every method: model tracing, input checks, batching, compiled functions.

Per-input results of a model with several inputs (maps of input-space methods, CAM maps
resized to each input) are tuples with one entry per input (None where there is none)
until `attribute` makes them lists; see `tfcam.inputs` for how inputs travel.
"""

from __future__ import annotations

import collections

import numpy as np
from tqdm.auto import tqdm

from tfcam import backend, graph, twin
from tfcam._maps import to_input_resolution
from tfcam.explanation import Explanation
from tfcam.inputs import check_inputs, each, num_samples, resolve_input, rows
from tfcam.layer_lookup import LayerTap, find_layer, require_spatial
from tfcam.options import check_options
from tfcam.pairs import auto_chunk_size, pair_chunks, scatter
from tfcam.targets import TargetSpec
from tfcam.targets import resolve as resolve_targets

# `target=` not given (None is a value: the top-1 class).
_UNSET = object()


class Explainer:
    """Base class. A method is registered with `@register("id")` (which sets `method`) and
    writes `traced`, its computation on one batch; the base compiles it and batches.

    `traced(images, indices, *extra)` gets a float32 batch and the class indices (TOP1 for
    the top-1 class), traced inside a compiled function (keras.ops only), and returns a
    dict of tensors with a leading batch axis: at least maps, raw, targets and scores.
    `extra` are the host values of `batch_arguments` (a per-batch seed, baselines). For a
    model with several inputs the batch is a tuple of arrays (`program.input_keys` order)
    and per-input values are tuples with one entry per input (None where the method has
    none for that input). A method of several compiled stages overrides `explain_batch`
    (see `tfcam.perturbation`), which returns the same dict as numpy arrays.

    `input=` (a name or an index): explain one input of a multi-input model: its maps come
    as arrays, not lists; CAMs make only that input's map and Score-CAM masks that input.
    """

    method: str = ""
    needs_layer: bool = True

    def __init__(self, model, layer=None, *, batch_size: int = 32, progress: bool | None = None,
                 input=None, **unknown):  # noqa: A002 - the option's documented name
        if unknown:  # options no class on the MRO took: name them and the method's own
            check_options(type(self), unknown)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.program = graph.trace(model)
        self.batch_size = int(batch_size)
        self.progress = progress
        self.multi_input = len(self.program.input_keys) > 1
        self.input_index = resolve_input(self.program, input)
        self.tap: LayerTap | None = None
        self.map_inputs: tuple[int, ...] = tuple(range(len(self.program.input_keys)))
        if self.needs_layer:
            self.tap = find_layer(self.program, layer)
            if self.multi_input:  # any input may have the layer's rank, not only the first
                self.map_inputs = self._inputs_of_layer_rank()
            else:
                require_spatial(self.tap, self.program, self.method)
                self.map_inputs = (0,)
        elif self.input_index is not None:
            self.map_inputs = (self.input_index,)
        self._compiled: collections.OrderedDict = collections.OrderedDict()
        self._input_hw: tuple[int, int] | None = None
        self._map_sizes: tuple | None = None
        self.spec: TargetSpec | None = None

    def _inputs_of_layer_rank(self) -> tuple[int, ...]:
        """Inputs a CAM's layer map is laid over: those with the layer's spatial rank (or
        the one chosen with `input=`), each (N, spatial..., C)."""
        rank = len(self.tap.shape) - 2
        shapes, names = self.program.input_shapes, self.input_names
        described = ", ".join(f"'{n}' {s}" for n, s in zip(names, shapes))
        if not 1 <= rank <= 3:
            raise ValueError(
                f"{self.method} needs a layer with 1 to 3 spatial axes, (batch, spatial..., "
                f"channels), but '{self.tap.path}' outputs shape {self.tap.shape}. Choose a "
                f"convolutional layer of one of the inputs' branches ({described})."
            )
        matching = tuple(i for i, shape in enumerate(shapes) if len(shape) - 2 == rank)
        if self.input_index is not None:
            if self.input_index not in matching:
                i = self.input_index
                raise ValueError(
                    f"{self.method}: input={names[i]!r} has shape {shapes[i]}, but the layer "
                    f"'{self.tap.path}' outputs shape {self.tap.shape} ({rank} spatial "
                    f"axes), so its map cannot be laid over that input. The model's inputs: "
                    f"{described}."
                )
            return (self.input_index,)
        if not matching:
            raise ValueError(
                f"{self.method} lays the map of layer '{self.tap.path}' (output shape "
                f"{self.tap.shape}, {rank} spatial axes) over the inputs with as many spatial "
                f"axes, but model '{self.program.model.name}' has none: {described}."
            )
        return matching

    @property
    def input_names(self) -> tuple[str, ...]:
        """The names of the model's inputs (its `keras.Input`s), in input order."""
        return self.program.input_names or tuple(self.program.input_keys)

    # ------------------------------------------------------------------ public
    def attribute(self, inputs, targets=None, *, target=_UNSET) -> Explanation:
        """Explain `inputs` (N, H, W, C) for `targets` (int, N ints, None = top-1, callable).

        A model with several inputs takes a list (input order) or a dict keyed by input
        name; per-input fields of the result are then lists (see `Explanation`).
        `target=` is the old name of `targets=`, still accepted.
        """
        merged = self.run(inputs, _one_keyword(targets, target))
        multi, chosen = self.multi_input, self.input_index
        return Explanation(
            maps=_as_float32_fields(merged.pop("maps")),
            raw=_as_float32_fields(merged.pop("raw")),
            targets=None if self.spec.is_callable else merged.pop("targets").astype("int64"),
            scores=merged.pop("scores").astype("float32"),
            method=self.method,
            layer=self.tap.path if self.tap is not None else None,
            **{k: _listed(v) for k, v in merged.items() if k in _OPTIONAL_FIELDS},
            input_names=self.input_names if multi else None,
            input_name=self.input_names[chosen] if multi and chosen is not None else None,
        )

    def run(self, inputs, targets=None, *, target=_UNSET) -> dict:
        """`explain_batch` over all batches, concatenated: a dict of (N, ...) arrays
        (tuples of them, one per input, for per-input values of multi-input models)."""
        target = _one_keyword(targets, target)
        images = check_inputs(self.program, inputs)
        if not self.program.checked:  # a graph traced from Python `call`: compared once
            twin.check_reproduces(self.program, rows(images, slice(None, self.batch_size)))
            self.program.checked = True
        n = num_samples(images)
        self.spec = resolve_targets(target, n, self.program)
        parts = [
            self.explain_batch(batch, indices)
            for batch, indices in self._batches(images, self.spec)
        ]
        merged = {k: _concatenate([p[k] for p in parts], n) for k in parts[0]}
        if self.multi_input and self.input_index is not None:  # `input=`: that input's only
            merged = {k: v[self.input_index] if isinstance(v, tuple) else v
                      for k, v in merged.items()}
        return merged

    def explain_batch(self, images: np.ndarray, indices: np.ndarray) -> dict:
        """One batch as numpy: `traced` compiled once per method (see `compiled`)."""
        run = self.compiled(self.method, self.traced)
        return to_numpy(run(images, indices, *self.batch_arguments(images)))

    def traced(self, images, indices, *extra) -> dict:
        """The method's computation on one batch (traced; see the class docstring)."""
        raise NotImplementedError(
            f"{type(self).__name__} defines neither traced() nor explain_batch()")

    def batch_arguments(self, images) -> tuple:
        """Host values passed to `traced` after the batch and indices, made per batch."""
        return ()

    # ------------------------------------------------------------------ helpers
    def compiled(self, name: str, fn):
        """`fn` compiled once per explainer, target kind, input size and `name`.

        `fn` may close over per-call values that are fixed for this key (the input size).
        """
        # The key holds the callable target itself, never its id(): CPython reuses the id
        # of a freed function, and a trace of another callable would explain another class.
        target = _Same(self.spec.score_fn) if self.spec.is_callable else None
        key = (name, target, self._input_hw)
        if key in self._compiled:
            self._compiled.move_to_end(key)
        else:
            self._compiled[key] = backend.compile_function(fn, self.model.variables)
            while len(self._compiled) > _MAX_COMPILED:  # a new lambda per call: bounded
                self._compiled.popitem(last=False)
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
    def input_size(self):
        """The spatial size maps are resized to; for several inputs a tuple with one per
        input (None where no map is made for that input)."""
        return self._map_sizes if self.multi_input else self._input_hw

    def to_inputs(self, raw, relu_after_upsample: bool = False):
        """A layer map `raw` (N, *spatial) at the input's resolution, in [0, 1] (inside a
        compiled function): an array for a single-input model; for several inputs a tuple,
        one map per input of the layer's spatial rank (None for the others)."""
        if not self.multi_input:
            return to_input_resolution(raw, self.input_size, relu_after_upsample)
        return tuple(None if size is None else
                     to_input_resolution(raw, size, relu_after_upsample)
                     for size in self._map_sizes)

    def _set_sizes(self, images) -> None:
        if not self.multi_input:
            self._input_hw = spatial_size(images.shape, self.tap)
            return
        # The compiled functions close over every input's size: all shapes are the key.
        self._input_hw = tuple(tuple(x.shape[1:]) for x in images)
        self._map_sizes = tuple(
            spatial_size(x.shape, self.tap) if i in self.map_inputs and x.ndim > 2 else None
            for i, x in enumerate(images)
        )

    def _batches(self, images, spec: TargetSpec):
        """(batch, indices) pairs; a final short batch is padded so shapes never change."""
        n = num_samples(images)
        size = min(self.batch_size, n)
        self._set_sizes(images)
        starts = range(0, n, size)
        bar = tqdm(
            starts, desc=self.method, unit="batch", disable=_disabled(self.progress, len(starts))
        )
        for start in bar:
            batch = rows(images, slice(start, start + size))
            indices = spec.batch(start, start + size)
            short = size - num_samples(batch)
            if short:
                batch = each(lambda x: np.concatenate(
                    [x, np.zeros((short, *x.shape[1:]), x.dtype)]), batch)
                indices = np.concatenate([indices, np.zeros(short, indices.dtype)])
            yield batch, indices


def spatial_size(input_shape, tap: LayerTap | None) -> tuple[int, ...]:
    """The size maps are resized to: the input's spatial axes, (T,), (H, W) or (D, H, W).

    Inputs are (N, spatial..., C); a CAM layer has the input's spatial rank, or is 2-D on
    (N, H, W) images without a channel axis (see `layer_lookup.cam_ranks`).
    """
    rank = len(input_shape) - 2 if tap is None else len(tap.shape) - 2
    return tuple(int(s) for s in input_shape[1 : 1 + rank])


class InputSpaceMethod(Explainer):
    """A method whose map lives at the input's resolution; it ignores `layer`."""

    needs_layer = False

    def __init__(self, model, layer=None, **kwargs):
        super().__init__(model, None, **kwargs)


def _one_keyword(targets, target):
    """`targets=`, or the old `target=` (never both)."""
    if target is _UNSET:
        return targets
    if targets is not None:
        raise TypeError("pass targets= only (target= is its old name)")
    return target


# Compiled functions kept per explainer (least recently used dropped first).
_MAX_COMPILED = 64


class _Same:
    """A dictionary key that is equal only to the same object (hashable or not)."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __hash__(self):
        return id(self.obj)

    def __eq__(self, other):
        return isinstance(other, _Same) and other.obj is self.obj


_OPTIONAL_FIELDS = ("channel_weights", "attributions", "relevance", "perturbed_inputs")


def _disabled(progress: bool | None, steps: int) -> bool | None:
    if progress is None:
        return None if steps > 1 else True  # tqdm's None: shown on terminals only
    return not progress


def as_numpy(value):
    """A tensor, or a tuple of them (None kept), as numpy."""
    return each(np.asarray, value)


def to_numpy(outputs: dict) -> dict:
    return {k: as_numpy(v) for k, v in outputs.items()}


def _concatenate(parts: list, n: int):
    """The batches of one field joined, the padding cut; per input for tuples."""
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(None if first[i] is None else np.concatenate([p[i] for p in parts])[:n]
                     for i in range(len(first)))
    return np.concatenate(parts)[:n]


def _as_float32_fields(value):
    """float32 arrays; a list of them (None kept) for per-input values."""
    if isinstance(value, tuple):
        return [None if v is None else v.astype("float32") for v in value]
    return value.astype("float32")


def _listed(value):
    """Per-input values (tuples) as lists, for the Explanation."""
    return list(value) if isinstance(value, tuple) else value
