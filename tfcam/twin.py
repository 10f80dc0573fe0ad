"""Subclassed models and layers made of layers, seen as graphs of their inner layers.

A `keras.Model` subclass (layers made in `__init__`, wired in `call`) and a `Layer` subclass
built from other layers (a residual block with Conv2D, BatchNormalization and Add inside)
hide their wiring in Python. Calling their `call` on symbolic inputs (`keras.Input`) records
every inner layer and `keras.ops` call as a node, exactly as the Functional API does: the
result is a Functional *twin* that shares the original's layers and variables. The user's
model is not changed: nothing is copied, rebuilt or re-initialized; Keras only remembers the
symbolic call on each inner layer, as it does when a layer is reused in a Functional model.

A symbolic call records one path through `call`. Python control flow on tensor values
cannot be traced at all (a clear error); a branch on `training` or on anything else that
differs between the symbolic call and a real one is caught by `check_reproduces`, which
compares the twin with the model on the first batch explained.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
from keras import tree

_WHY_NOT = (
    "tfcam explains a subclassed model by calling its `call` on symbolic inputs "
    "(keras.Input), which records its layers as a graph. Python control flow on tensor "
    "values (`if x.mean() > 0:`), conversion to numpy and other eager-only code in `call` "
    "prevent that: write such steps with keras.ops (ops.where, ops.cond), or build the "
    "model with the Functional API (keras.Model(inputs, outputs))."
)


def is_composite_layer(operation) -> bool:
    """A user's layer or subclassed model (not one of Keras' own) that owns other layers."""
    if not isinstance(operation, keras.layers.Layer):
        return False
    if type(operation).__module__.split(".")[0] == "keras":
        return False  # Keras' own layers (wrappers and RNNs included) stay single steps
    return any(True for _ in operation._flatten_layers(include_self=False, recursive=False))


def layer_twin(operation, node):
    """A Functional model computing the call of `operation` recorded in `node`, or None
    when that call does not trace symbolically (the layer then stays one step)."""
    inputs = [keras.Input(batch_shape=tuple(x.shape), dtype=x.dtype) for x in node.input_tensors]
    local = {id(x): v for x, v in zip(node.input_tensors, inputs)}
    args, kwargs = node.arguments.fill_in(local)
    try:
        outputs = operation.call(*args, **kwargs)
        return keras.Model(inputs, outputs)
    except Exception:  # noqa: BLE001 - any failure means "not traceable": keep the layer whole
        return None


def model_twin(model):
    """The Functional twin of a subclassed `model`, traced at the input shape it was built
    with, and how the model itself is called: ((args, kwargs) with keras.Input leaves).
    A ValueError naming the reason and the fix when it cannot be made."""
    name = model.name
    if not model.built:
        raise ValueError(
            f"the subclassed model '{name}' has not been called on data yet, so tfcam does "
            "not know its input shape (and it has no weights to explain). Call it once on a "
            "batch first, e.g. model(images[:1]), or train it."
        )
    shapes = getattr(model, "_build_shapes_dict", None)
    if not shapes:
        # Keras records the input shape when it can build the model with a symbolic call;
        # it could not, so neither can tfcam.
        raise ValueError(
            f"cannot trace the subclassed model '{name}': Keras could not call it on "
            f"symbolic inputs when it was built. {_WHY_NOT}"
        )
    _require_one_input_argument(model, shapes)
    inputs, call_args, call_kwargs = _symbolic_inputs(shapes)
    try:
        outputs = model.call(*call_args, **call_kwargs)
        twin = keras.Model(inputs, outputs)
    except Exception as error:  # noqa: BLE001 - reported with the reason and the fix
        shown = tree.map_structure(lambda x: tuple(x.shape), inputs)
        raise ValueError(
            f"cannot trace the subclassed model '{name}': calling its `call` on keras.Input "
            f"of shape {shown} failed with {type(error).__name__}: {error}. {_WHY_NOT}"
        ) from error
    return twin, (call_args, call_kwargs)


def _require_one_input_argument(model, shapes: dict) -> None:
    """Keras records the shape of a model's first `call` argument only (unless it was built
    with keyword shapes), so a `call(self, image, meta)` cannot be called again from it."""
    required = [p.name for p in inspect.signature(model.call).parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(required) > len(shapes):
        raise ValueError(
            f"the subclassed model '{model.name}' takes its inputs as {len(required)} "
            f"arguments {required}; Keras records the shape of the first one only, so tfcam "
            "cannot call it again. Take them as one list or dict (`def call(self, inputs):` "
            "with `image, meta = inputs`), or build the model with the Functional API."
        )


def _symbolic_inputs(shapes: dict):
    """keras.Input tensors matching the recorded build shapes (batch axis left open):
    (the inputs for keras.Model, positional args, keyword args) of the symbolic call.

    One recorded argument (an array, or a list or dict of arrays) is passed positionally;
    several (`call(self, image, meta)`) are passed by name."""
    def symbolic(shape, name=None):
        return keras.Input(batch_shape=(None, *tuple(shape)[1:]), name=name)

    def structure(value):
        if isinstance(value, dict):  # inputs named by the dict's keys
            return {key: symbolic(shape, name=key) for key, shape in value.items()}
        if isinstance(value, (list, tuple)) and value and not isinstance(value[0], int):
            return [symbolic(shape, name=f"input_{i}") for i, shape in enumerate(value)]
        return symbolic(value)

    if len(shapes) == 1:
        (value,) = shapes.values()
        inputs = structure(value)
        return inputs, (inputs,), {}
    by_name = {key.removesuffix("_shape"): structure(value) for key, value in shapes.items()}
    inputs = tree.flatten(by_name)  # the order in which (args, kwargs) flatten: by name
    return inputs, (), by_name


def check_reproduces(program, batch) -> None:
    """Raise a ValueError when the traced graph's outputs differ from the model's own on
    `batch` (an array, or one array per input in the program's input order): a branch of
    `call` that the symbolic trace did not take."""
    flat = list(batch) if isinstance(batch, (list, tuple)) else [batch]
    args, kwargs = tree.pack_sequence_as(program.call_structure, flat)
    expected = tree.flatten(program.model(*args, **kwargs, training=False))
    traced = tree.flatten(program(flat))
    for want, got in zip(expected, traced):
        want = np.asarray(keras.ops.convert_to_numpy(want), "float32")
        got = np.asarray(keras.ops.convert_to_numpy(got), "float32")
        scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
        difference = float(np.max(np.abs(want - got))) if want.size else 0.0
        if not np.isfinite(difference) or difference > 1e-3 * scale:
            raise ValueError(
                f"the graph tfcam traced from {', '.join(program.traced_calls)} does not "
                f"reproduce model '{program.model.name}' on the first batch (largest output "
                f"difference {difference:.3g}). Its `call` takes a branch that a symbolic "
                "call does not (on `training`, or on a Python value that differs at run "
                "time), so the maps would belong to another network. Make `call` compute the "
                "same thing for keras.Input and for real data (keras.ops.where / ops.cond "
                "instead of Python if), or build the model with the Functional API."
            )
