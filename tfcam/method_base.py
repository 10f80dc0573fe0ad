"""The base of every method: model tracing, input checks, batching, compiled functions.

Per-input results of a model with several inputs (maps of input-space methods, CAM maps
resized to each input) are tuples with one entry per input (None where there is none)
until `attribute` makes them lists; see `tfcam.inputs` for how inputs travel.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import weakref

import numpy as np
from tqdm.auto import tqdm

from tfcam import backend, graph, twin
from tfcam._maps import to_input_resolution
from tfcam.explanation import Explanation
from tfcam.inputs import check_inputs, each, feeds, num_samples, resolve_input, rows
from tfcam.layer_lookup import LayerTap, find_layer, require_spatial, with_view
from tfcam.options import check_options
from tfcam.targets import TOP1, TargetSpec, score_keys, scores_and_targets
from tfcam.targets import resolve as resolve_targets

# `target=` not given (None is a value: the top-1 class).
_UNSET = object()


@dataclasses.dataclass(frozen=True)
class Call:
    """One `run`: what it explains and the sizes its maps are resized to.

    Made per call and passed to every traced hook, never stored on the explainer, so that
    calls from several threads on one explainer never read each other's targets or sizes.
    A compiled function is reused for every call with the same `key`; it may read only what
    the key fixes (the kind of target and its callable, the sizes), never `spec.indices`,
    which travel as a tensor.
    """

    spec: TargetSpec
    input_hw: tuple  # the input's spatial size; for several inputs, every input's shape
    map_sizes: tuple | None  # several inputs: the size each input's map has (None: no map)
    rng: np.random.Generator | None = None  # host randomness of this call (seeded per call)

    @property
    def key(self) -> tuple:
        """What a compiled function depends on besides its name."""
        target = _Same(self.spec.score_fn) if self.spec.is_callable else None
        return (target, self.input_hw)

    @property
    def input_size(self):
        """The spatial size maps are resized to; for several inputs a tuple with one per
        input (None where no map is made for that input)."""
        return self.input_hw if self.map_sizes is None else self.map_sizes

    def to_inputs(self, raw, relu_after_upsample: bool = False):
        """A layer map `raw` (N, *spatial) at the input's resolution, in [0, 1] (inside a
        compiled function): an array for a single-input model; for several inputs a tuple,
        one map per input of the layer's spatial rank (None for the others)."""
        if self.map_sizes is None:
            return to_input_resolution(raw, self.input_hw, relu_after_upsample)
        return tuple(None if size is None else
                     to_input_resolution(raw, size, relu_after_upsample)
                     for size in self.map_sizes)


class Explainer:
    """Base class. A method is registered with `@register("id")` (which sets `method`) and
    writes `traced`, its computation on one batch; the base compiles it and batches.

    `traced(call, images, indices, *extra)` gets the call's state (`Call`: the targets'
    kind, the sizes maps are resized to), a float32 batch and the class indices (TOP1 for
    the top-1 class), traced inside a compiled function (keras.ops only), and returns a
    dict of tensors with a leading batch axis: at least maps, raw, signed (the map with its
    sign, before any ReLU), targets and scores.
    `extra` are the host values of `batch_arguments` (a per-batch seed, baselines). For a
    model with several inputs the batch is a tuple of arrays (`program.input_keys` order)
    and per-input values are tuples with one entry per input (None where the method has
    none for that input). A method of several compiled stages overrides `explain_batch`
    (see `tfcam.perturbation`), which returns the same dict as numpy arrays.

    A method that runs the model on other inputs than the images (path points, noisy
    copies) sets `expands_inputs = True`: the top-1 class is then found on the images as
    given before the batch reaches `traced`, so every copy explains that class.

    The explainer keeps no per-call state: one explainer may serve several threads at once
    (each call gets its own `Call`; compiled functions are shared).

    `input=` (a name or an index): explain one input of a multi-input model: its maps come
    as arrays, not lists; CAMs make only that input's map and Score-CAM masks that input.

    `reshape=` (layer methods): how a vision transformer's token layer (N, T, C) lies on its
    grid, when the model does not settle it: a grid (h, w) of the last h·w tokens, or a
    callable tokens -> (N, h, w, C) (pytorch-grad-cam's `reshape_transform`); see
    `tfcam.tokens`. The hooks read the layer through `self.layer_tap.spatial(values)`.
    """

    method: str = ""
    needs_layer: bool = True
    expands_inputs: bool = False
    seed: int | None = None  # of each call's `Call.rng` (methods that draw noise set it)

    def __init__(self, model, layer=None, *, batch_size: int = 32, progress: bool | None = None,
                 input=None, reshape=None, **unknown):  # noqa: A002 - documented name
        if unknown:  # options no class on the MRO took: name them and the method's own
            check_options(type(self), unknown)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._model = model  # None once the explainer holds its model weakly
        self._model_ref = weakref.ref(model)
        self.program = graph.trace(model)
        self.batch_size = int(batch_size)
        self.progress = progress
        self.multi_input = len(self.program.input_keys) > 1
        self.input_index = resolve_input(self.program, input)
        self.tap: LayerTap | None = None
        self.map_inputs: tuple[int, ...] = tuple(range(len(self.program.input_keys)))
        if self.needs_layer:
            self.tap = with_view(find_layer(self.program, layer), self.program, reshape)
            if self.multi_input:  # any input may have the layer's rank, not only the first
                self.map_inputs = self._inputs_of_layer_rank()
            else:
                require_spatial(self.tap, self.program, self.method)
                self.map_inputs = (0,)
        elif self.input_index is not None:
            self.map_inputs = (self.input_index,)
        if reshape is not None and not self.needs_layer:
            raise ValueError(
                f"reshape= lays a token layer on a grid for a CAM; {self.method} explains the "
                "input and reads no layer. Leave reshape out.")
        self._compiled: collections.OrderedDict = collections.OrderedDict()

    @property
    def model(self):
        """The explained model."""
        model = self._model_ref()
        if model is None:
            raise RuntimeError(
                f"the model this {self.method} explainer was made for has been garbage "
                "collected; make a new explainer for the model you hold.")
        return model

    def hold_model_weakly(self) -> None:
        """Keep only a weak reference to the model (for caches keyed weakly on the model:
        a strong one would keep the key, and so the model, alive for good)."""
        self._model = None

    def _inputs_of_layer_rank(self) -> tuple[int, ...]:
        """Inputs a CAM's layer map is laid over: those with the layer's spatial rank (or
        the one chosen with `input=`), each (N, spatial..., C)."""
        tap = self.layer_tap
        rank = tap.spatial_rank
        shapes, names = self.program.input_shapes, self.input_names
        described = ", ".join(f"'{n}' {s}" for n, s in zip(names, shapes))
        if not 1 <= rank <= 3:
            raise ValueError(
                f"{self.method} needs a layer with 1 to 3 spatial axes, (batch, spatial..., "
                f"channels), but '{tap.path}' outputs shape {tap.shape}. Choose a "
                f"convolutional layer of one of the inputs' branches ({described})."
            )
        matching = tuple(i for i, shape in enumerate(shapes) if len(shape) - 2 == rank)
        if self.input_index is not None:
            if self.input_index not in matching:
                i = self.input_index
                raise ValueError(
                    f"{self.method}: input={names[i]!r} has shape {shapes[i]}, but the layer "
                    f"'{tap.path}' outputs shape {tap.shape} ({rank} spatial "
                    f"axes), so its map cannot be laid over that input. The model's inputs: "
                    f"{described}."
                )
            return (self.input_index,)
        if not matching:
            raise ValueError(
                f"{self.method} lays the map of layer '{tap.path}' (output shape "
                f"{tap.shape}, {rank} spatial axes) over the inputs with as many spatial "
                f"axes, but model '{self.program.model.name}' has none: {described}."
            )
        return matching

    @property
    def layer_tap(self) -> LayerTap:
        """The explained layer, for the methods that explain one (`needs_layer`)."""
        if self.tap is None:
            raise TypeError(f"{self.method} explains the input: it has no layer")
        return self.tap

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
        targets = _one_keyword(targets, target)
        merged = self.run(inputs, targets)
        multi, chosen = self.multi_input, self.input_index
        return Explanation(
            maps=_as_float32_fields(merged.pop("maps")),
            raw=_as_float32_fields(merged.pop("raw")),
            signed=_as_float32_fields(merged.pop("signed")),
            targets=None if callable(targets) else merged.pop("targets").astype("int64"),
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
        call = Call(resolve_targets(target, n, self.program), *self._sizes(images),
                    rng=np.random.default_rng(self.seed))
        parts = []
        for batch, indices in self._batches(images, call.spec):
            if self.expands_inputs and (indices == TOP1).any():
                indices = self.top1(call, batch, indices)
            parts.append(self.explain_batch(call, batch, indices))
        merged = {k: _concatenate([p[k] for p in parts], n) for k in parts[0]}
        if self.multi_input and self.input_index is not None:  # `input=`: that input's only
            merged = {k: v[self.input_index] if isinstance(v, tuple) else v
                      for k, v in merged.items()}
        return merged

    def explain_batch(self, call: Call, images: np.ndarray, indices: np.ndarray) -> dict:
        """One batch as numpy: `traced` compiled once per method (see `compiled`)."""
        run = self.compiled(call, self.method, self.traced)
        return to_numpy(run(images, indices, *self.batch_arguments(call, images)))

    def traced(self, call: Call, images, indices, *extra) -> dict:
        """The method's computation on one batch (traced; see the class docstring)."""
        raise NotImplementedError(
            f"{type(self).__name__} defines neither traced() nor explain_batch()")

    def batch_arguments(self, call: Call, images) -> tuple:
        """Host values passed to `traced` after the batch and indices, made per batch
        (random ones from `call.rng`, so that every call with the same seed draws alike)."""
        return ()

    def top1(self, call: Call, images, indices) -> np.ndarray:
        """`indices` with TOP1 replaced by each image's top-1 class, from one forward pass
        on the images as given (before a method runs the model on copies of them)."""
        return np.asarray(self.compiled(call, "top1", self._top1)(images, indices))

    def _top1(self, call: Call, images, indices):
        program = self.program
        env = program.evaluate(feeds(program, images), score_keys(program, call.spec))
        return scores_and_targets(program, env, call.spec, indices)[1]

    # ------------------------------------------------------------------ helpers
    def compiled(self, call: Call, name: str, fn):
        """`fn(call, ...)` compiled once per explainer, `name` and `call.key` (the target
        kind, the input size); the compiled function takes the arguments after `call`."""
        # The key holds the callable target itself, never its id(): CPython reuses the id
        # of a freed function, and a trace of another callable would explain another class.
        key = (name, *call.key)
        compiled = self._compiled.get(key)
        if compiled is None:
            # A partial, not a closure: TensorFlow counts retraces per code object, and one
            # closure's code would make all compiled functions look like one retracing.
            compiled = backend.compile_function(functools.partial(fn, call),
                                                self.model.variables)
            self._compiled[key] = compiled
            while len(self._compiled) > _MAX_COMPILED:  # a new lambda per call: bounded
                self._compiled.popitem(last=False)
        else:
            try:
                self._compiled.move_to_end(key)
            except KeyError:  # dropped by another thread meanwhile: still usable here
                pass
        return compiled

    def _sizes(self, images) -> tuple[tuple, tuple | None]:
        """(input_hw, map_sizes) of a `Call` on `images`."""
        if not self.multi_input:
            return spatial_size(images.shape, self.tap), None
        # The compiled functions close over every input's size: all shapes are the key.
        return (tuple(tuple(x.shape[1:]) for x in images),
                tuple(spatial_size(x.shape, self.tap)
                      if i in self.map_inputs and x.ndim > 2 else None
                      for i, x in enumerate(images)))

    def images_per_call(self, images) -> int:
        """How many images one call explains: `batch_size` (methods that copy each image
        many times may take fewer, see `tfcam.attribution.copies`)."""
        return self.batch_size

    def _batches(self, images, spec: TargetSpec):
        """(batch, indices) pairs; a final short batch is padded so shapes never change."""
        n = num_samples(images)
        size = min(self.images_per_call(images), n)
        starts = range(0, n, size)
        bar = tqdm(
            starts, desc=self.method, unit="batch", disable=_disabled(self.progress, len(starts))
        )
        for start in bar:
            batch = rows(images, slice(start, start + size))
            indices = spec.batch(start, start + size)
            short = size - num_samples(batch)
            if short:
                batch = each(lambda x, short=short: np.concatenate(
                    [x, np.zeros((short, *x.shape[1:]), x.dtype)]), batch)
                indices = np.concatenate([indices, np.zeros(short, indices.dtype)])
            yield batch, indices


def spatial_size(input_shape, tap: LayerTap | None) -> tuple[int, ...]:
    """The size maps are resized to: the input's spatial axes, (T,), (H, W) or (D, H, W).

    Inputs are (N, spatial..., C); a CAM layer has the input's spatial rank, or is 2-D on
    (N, H, W) images without a channel axis (see `layer_lookup.cam_ranks`).
    """
    rank = len(input_shape) - 2 if tap is None else tap.spatial_rank
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
