"""Finding the layer to explain: by name (nested models too), by object, or by default."""

from __future__ import annotations

import dataclasses
import difflib
import warnings

import keras

from tfcam import graph, tokens
from tfcam.graph import Program
from tfcam.tokens import TokenGrid


@dataclasses.dataclass(frozen=True)
class LayerTap:
    """A layer's output inside a program: the key to read it and how to name it."""

    key: str
    path: str
    layer: object
    shape: tuple  # symbolic output shape, batch axis first
    view: TokenGrid | None = None  # a token layer's grid (`tfcam.tokens`)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def spatial_rank(self) -> int:
        """Spatial axes of the layer's map: 2 for a token layer laid on its grid."""
        return 2 if self.view is not None else len(self.shape) - 2

    def spatial(self, values):
        """The layer's values (or gradients, relevance) as (N, spatial..., C) (traced)."""
        return values if self.view is None else self.view.to_spatial(values)


def _taps(program: Program) -> list[LayerTap]:
    """Every layer output of the program, in execution order: each step's, and each
    expanded block's (a custom layer or subclassed model traced into its inner layers)
    right after its last inner step."""
    ends: dict[int, list] = {}
    for block in program.blocks:
        ends.setdefault(block.end, []).append(block)
    taps = [tap for block in ends.get(0, ()) for tap in _block_taps(block)]
    for position, step in enumerate(program.steps, start=1):
        if step.part != "linear":  # a split layer's output is its activation step's output
            for key, shape in zip(step.outputs, step.output_shapes):
                taps.append(LayerTap(key, step.path, step.layer, shape))
        taps.extend(tap for block in ends.get(position, ()) for tap in _block_taps(block))
    return taps


def _block_taps(block) -> list[LayerTap]:
    return [LayerTap(key, block.path, block.layer, shape)
            for key, shape in zip(block.outputs, block.output_shapes)]


# Spatial outputs: (batch, spatial..., channels) with 1 to 3 spatial axes.
_LAYOUTS = {
    1: "3-D (batch, steps, channels)",
    2: "4-D (batch, height, width, channels)",
    3: "5-D (batch, depth, height, width, channels)",
}


def cam_ranks(program: Program) -> tuple[int, ...]:
    """Spatial ranks a CAM layer may have, preferred first: each input's own, in input
    order (an input's shape is (batch, spatial..., channels)); also 2 for (batch, height,
    width) images without a channel axis (reshaped inside the model), which CAMs have always
    accepted. A vector input (batch, features) adds none."""
    ranks: list[int] = []
    for shape in program.input_shapes:
        ndim = len(shape)
        ranks.extend((ndim - 2, 2) if ndim == 3 else (ndim - 2,))
    return tuple(r for r in dict.fromkeys(ranks) if r in _LAYOUTS)


def _batched(program: Program, taps: list[LayerTap]) -> list[LayerTap]:
    """The taps with the inputs' batch axis: not a layer's side outputs without one (KerasHub's
    DeiT encoder returns (0, T, C) placeholders beside its tokens), which are no map."""
    batch = program.input_shapes[0][0] if program.input_shapes else None
    return [t for t in taps if t.shape and t.shape[0] == batch]


def _cam_taps(program: Program, ranks) -> list[LayerTap]:
    """Layer outputs with one of the spatial `ranks`, in execution order; for images, token
    layers whose grid the model settles too (with their `view`)."""
    found = []
    for tap in _batched(program, _taps(program)):
        if tap.key in program.input_keys:
            continue
        if len(tap.shape) - 2 in ranks:
            found.append(tap)
        elif 2 in ranks and tokens.is_token_shape(tap.shape, program.input_shapes):
            grid = tokens.infer_grid(program, tap.shape)
            if grid is not None:
                found.append(dataclasses.replace(tap, view=grid))
    return found


def with_view(tap: LayerTap, program: Program, reshape=None) -> LayerTap:
    """`tap` with its token grid when it is a token layer of an image model: `reshape=`
    when given, else the one the model settles (none: `require_spatial` says so)."""
    if reshape is not None:
        if len(tap.shape) != 3:
            raise ValueError(
                f"reshape= lays a token layer (N, T, C) on a grid, but '{tap.path}' outputs "
                f"shape {tap.shape}. Leave reshape=None for this layer.")
        return dataclasses.replace(tap, view=tokens.from_option(reshape, tap.shape))
    if tap.view is None and tokens.is_token_shape(tap.shape, program.input_shapes):
        grid = tokens.infer_grid(program, tap.shape)
        if grid is not None:
            return dataclasses.replace(tap, view=grid)
    return tap


def find_layer(program: Program, layer) -> LayerTap:
    """Resolve `layer` (a name, a "outer/inner" path, a layer object or None) to a tap."""
    if layer is None:
        return default_layer(program)
    taps = _batched(program, _taps(program))
    if isinstance(layer, (keras.layers.Layer, keras.Operation)):
        matches = [t for t in taps if t.layer is layer]
        if not matches:
            raise ValueError(
                f"layer object '{getattr(layer, 'name', layer)}' is not part of the model "
                f"'{program.model.name}'. Pass a layer of this model, or its name."
            )
        return matches[-1]
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a name, a layer object or None, not {type(layer).__name__}")
    by_path = [t for t in taps if t.path == layer]
    if by_path:
        return by_path[-1]
    by_name = [t for t in taps if t.name == layer]
    paths = sorted({t.path for t in by_name})
    if len(paths) > 1:
        raise ValueError(
            f"layer name '{layer}' is ambiguous in model '{program.model.name}': it names "
            f"{paths}. Pass the full path, e.g. layer='{paths[0]}'."
        )
    if by_name:
        return by_name[-1]
    names = sorted({t.name for t in taps} | {t.path for t in taps})
    close = difflib.get_close_matches(layer, names, n=5, cutoff=0.5)
    hint = f" Did you mean {close}?" if close else ""
    spatial = [t.path for t in _cam_taps(program, cam_ranks(program))][-5:]  # CAM-able ones
    raise ValueError(
        f"no layer named '{layer}' in model '{program.model.name}'.{hint} "
        f"Last spatial layers: {spatial}."
    )


def _class_token_only(program: Program, tap: LayerTap) -> bool:
    """A token layer of which the model reads only the leading (class) tokens."""
    return tap.view is not None and tokens.reads_leading_only(program, tap.key, tap.view)


def is_pointwise(shape) -> bool:
    """A layer output whose every spatial axis is 1 (a 1×1 conv after global pooling, the
    last block of an Inception at a small input): a CAM there is constant by construction,
    every map 0 after normalization. Unknown sizes (None) count as larger than 1."""
    spatial = tuple(shape[1:-1])
    return bool(spatial) and all(s == 1 for s in spatial)


def default_layer(program: Program) -> LayerTap:
    """The last layer whose output has the input's spatial rank ((batch, steps, channels)
    for sequences, (batch, height, width, channels) for images, 5-D for volumes) and is
    larger than 1 on some spatial axis (`is_pointwise`).

    Token layers of a vision transformer count as spatial, except those of which the model
    reads the class token only (after the last attention layer, where a class-token head
    sees the patch tokens no more: a CAM there is 0). For a ViT the default is then the
    input of the last attention layer, as pytorch-grad-cam advises (`blocks[-1].norm1`)."""
    ranks = cam_ranks(program)
    for rank in ranks:
        found = [t for t in _cam_taps(program, (rank,)) if not _class_token_only(program, t)]
        larger = [t for t in found if not is_pointwise(t.shape)]
        if larger:
            return larger[-1]
        if found:
            raise ValueError(
                f"every {_LAYOUTS[rank]} layer of model '{program.model.name}' is 1 wide on "
                f"every spatial axis (the last: '{found[-1].path}' {found[-1].shape}), so a "
                "CAM of any of them is constant. Give the model larger inputs, or use an "
                "input-space method such as method='saliency' or 'integrated_gradients'."
            )
    input_shape = _shown_input_shapes(program)
    if not ranks:
        raise ValueError(
            f"model '{program.model.name}' takes inputs of shape {input_shape}, which have no "
            f"spatial axes, so it has no layer with a {_all_layouts()} output for a CAM. Use "
            "an input-space method such as method='saliency' or 'integrated_gradients'."
        )
    raise ValueError(
        f"model '{program.model.name}' has no layer with a {_LAYOUTS[ranks[0]]} output like "
        f"its inputs of shape {input_shape}, so there is no spatial layer for a CAM. Use an "
        "input-space method such as method='saliency' or 'integrated_gradients'."
    )


def require_spatial(tap: LayerTap, program: Program, method: str) -> None:
    """A clear error unless a CAM at `tap` maps onto the input: same spatial rank; a
    warning for a 1×1 layer, where a CAM is constant (`is_pointwise`)."""
    ranks = cam_ranks(program)
    if tap.spatial_rank in ranks:
        if _class_token_only(program, tap):
            usable = [t.path for t in _cam_taps(program, ranks)
                      if not _class_token_only(program, t)]
            warnings.warn(
                f"{method}: the model reads only the leading (class) token of '{tap.path}', "
                "so its patch tokens' gradients and relevance are 0 and so is a gradient or "
                f"relevance CAM there. Explain an earlier layer, e.g. {usable[-3:]}, or "
                "layer=None (the input of the last attention layer).", stacklevel=4)
        if is_pointwise(tap.shape):
            larger = [t.path for t in _cam_taps(program, ranks) if not is_pointwise(t.shape)]
            warnings.warn(
                f"{method}: layer '{tap.path}' outputs {tap.shape}, 1 wide on every spatial "
                f"axis, so its map is constant (0 everywhere after normalization). Explain a "
                f"larger layer, e.g. {larger[-3:]}, or layer=None for the last one.",
                stacklevel=4)
        return
    input_shape = _shown_input_shapes(program)
    if not ranks:
        raise ValueError(
            f"{method} maps a layer onto the input's spatial axes, but inputs of shape "
            f"{input_shape} have none ('{tap.path}' outputs shape {tap.shape}). Use an "
            "input-space method such as method='saliency' or 'integrated_gradients'."
        )
    candidates = [t.path for t in _cam_taps(program, ranks)][-3:]
    if tokens.is_token_shape(tap.shape, program.input_shapes):
        raise ValueError(
            f"{method}: '{tap.path}' outputs tokens of shape {tap.shape}, and the model does "
            f"not settle their grid (no layer or patch size of the input {input_shape} "
            f"gives h·w = {tap.shape[1]} tokens after at most {tokens.MAX_LEADING} leading "
            "ones, or several do). Pass reshape=(h, w) (the last h·w tokens form the grid) "
            f"or reshape=callable(tokens) -> (N, h, w, C), or explain a layer on the image's "
            f"grid, e.g. one of {candidates}.")
    fix = (f"Choose a convolutional layer, e.g. one of {candidates}, or pass layer=None for "
           "the last one." if candidates else
           "The model has no such layer: use an input-space method such as "
           "method='saliency' or 'integrated_gradients'.")
    raise ValueError(
        f"{method} needs a layer with a {_LAYOUTS[ranks[0]]} output, the spatial rank of "
        f"its inputs of shape {input_shape}, but '{tap.path}' outputs shape {tap.shape}. "
        f"{fix}"
    )


@dataclasses.dataclass(frozen=True)
class ExplainableLayer:
    """A layer a CAM method can explain: its path (the `layer=` to pass), its class, its
    output shape (batch first) and whether `layer=None` picks it."""

    path: str
    kind: str
    shape: tuple
    default: bool
    pointwise: bool = False  # 1 wide on every spatial axis: a CAM here is constant
    tokens: str | None = None  # a token layer: its grid ("tokens on a 4×4 grid after 1 ...")
    class_token_only: bool = False  # the model reads only its class token: a CAM here is 0


def explainable_layers(model) -> list[ExplainableLayer]:
    """The layers of `model` with an output of the input's spatial rank, in execution order,
    nested models' and custom layers' inner layers included (what `layer=` accepts for a CAM
    method); the one `layer=None` picks is marked `default`. Empty for a model without one."""
    program = graph.trace(model)
    try:
        default = default_layer(program).path
    except ValueError:
        default = None
    found = {}
    for tap in _cam_taps(program, cam_ranks(program)):
        found[tap.path] = tap  # a layer called twice: its last output, as find_layer reads it
    return [ExplainableLayer(t.path, type(t.layer).__name__, tuple(t.shape), t.path == default,
                             is_pointwise(t.shape),
                             None if t.view is None else t.view.describe(),
                             _class_token_only(program, t))
            for t in found.values()]


def _shown_input_shapes(program: Program):
    """The input shape, or the list of them for a model with several inputs."""
    shapes = program.input_shapes
    return shapes[0] if len(shapes) == 1 else list(shapes)


def _all_layouts() -> str:
    """Every layout a CAM layer can have, images first."""
    return f"{_LAYOUTS[2]}, {_LAYOUTS[1]} or {_LAYOUTS[3]}"
