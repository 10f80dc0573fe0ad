"""Finding the layer to explain: by name (nested models too), by object, or by default."""

from __future__ import annotations

import dataclasses
import difflib

import keras

from tfcam.graph import Program


@dataclasses.dataclass(frozen=True)
class LayerTap:
    """A layer's output inside a program: the key to read it and how to name it."""

    key: str
    path: str
    layer: object
    shape: tuple  # symbolic output shape, batch axis first

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def _taps(program: Program) -> list[LayerTap]:
    """Every layer output of the program, last call of each step kept, in execution order."""
    taps = []
    for step in program.steps:
        if step.part == "linear":
            continue  # the layer's output is its activation step's output
        for key, shape in zip(step.outputs, step.output_shapes):
            taps.append(LayerTap(key, step.path, step.layer, shape))
    return taps


def is_spatial(shape) -> bool:
    return len(shape) == 4


def find_layer(program: Program, layer) -> LayerTap:
    """Resolve `layer` (a name, a "outer/inner" path, a layer object or None) to a tap."""
    if layer is None:
        return default_layer(program)
    taps = _taps(program)
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
    spatial = [t.path for t in taps if is_spatial(t.shape)][-5:]
    raise ValueError(
        f"no layer named '{layer}' in model '{program.model.name}'.{hint} "
        f"Last spatial layers: {spatial}."
    )


def default_layer(program: Program) -> LayerTap:
    """The last layer with a 4-D (batch, height, width, channels) output."""
    spatial = [t for t in _taps(program) if is_spatial(t.shape) and t.key not in program.input_keys]
    if not spatial:
        raise ValueError(
            f"model '{program.model.name}' has no layer with a 4-D (batch, height, width, "
            "channels) output, so there is no spatial layer for a CAM. Use an input-space "
            "method such as method='saliency' or 'integrated_gradients'."
        )
    return spatial[-1]


def require_spatial(tap: LayerTap, program: Program, method: str) -> None:
    if is_spatial(tap.shape):
        return
    spatial = [t.path for t in _taps(program) if is_spatial(t.shape)][-3:]
    raise ValueError(
        f"{method} needs a layer with a 4-D (batch, height, width, channels) output, but "
        f"'{tap.path}' outputs shape {tap.shape}. Choose a convolutional layer, e.g. one of "
        f"{spatial}, or pass layer=None for the last one."
    )

