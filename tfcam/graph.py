"""Running a Keras model "with taps".

A Keras 3 Functional (or Sequential) model is a graph of nodes. `trace(model)` flattens it,
nested models included, into a list of `Step`s in execution order, each reading and writing
tensors by *key*. `Program.evaluate` then runs any part of that list: from the model's input
or from any intermediate tensor, up to any tensor. Everything in tfcam stands on this:

* a layer's activations are a key of the environment;
* the gradient with respect to a layer's output is the gradient of the part of the program
  *after* that key, fed with the values computed *before* it (no sub-models, so nested models
  never hit "Graph disconnected");
* Score-CAM and Ablation-CAM feed modified activations and run only the steps they need;
* the LRP engine walks the same steps in reverse.

Layers with a non-linear `activation=` are split in two steps (the layer without its
activation, then the activation), so that a softmax head can be skipped and a ReLU inside a
Conv2D can be treated like a ReLU layer. The user's model is never modified: the split uses a
shallow copy of the layer that shares its variables.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Any, Callable

import keras
from keras import tree

_LINEAR_ACTIVATIONS = {keras.activations.linear}


@dataclasses.dataclass(eq=False)
class Step:
    """One operation of the flattened graph.

    `inputs`/`outputs` are environment keys; `layer` is the user's layer (or operation) the
    step belongs to, `path` its name with the names of enclosing models ("base/conv1").
    `part` is "call" for an ordinary call, "linear" for a layer run without its activation
    and "activation" for the activation of a split layer.
    """

    operation: Any
    layer: Any
    path: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    output_shapes: tuple[tuple, ...]
    part: str = "call"
    node: Any = None

    def __call__(self, *values):
        if self.part == "activation":
            return [self.operation(values[0])]
        local = {id(x): v for x, v in zip(self.node.input_tensors, values)}
        args, kwargs = self.node.arguments.fill_in(local)
        if _takes_training(self.operation):
            kwargs = {**kwargs, "training": False}
        return tree.flatten(self.operation(*args, **kwargs))

    @property
    def activation(self) -> Callable | None:
        """The activation function of an activation step or of an activation layer."""
        if self.part == "activation":
            return self.operation
        if isinstance(self.layer, keras.layers.Activation):
            return self.layer.activation
        return None


def _takes_training(operation) -> bool:
    if not isinstance(operation, keras.layers.Layer):
        return False
    return "training" in getattr(operation, "_call_context_args", ()) or getattr(
        operation, "_call_has_training_arg", False
    )


def _split_activation(layer) -> Callable | None:
    """The activation to run as its own step, or None when the layer has none to split."""
    if isinstance(layer, keras.layers.Activation) or not isinstance(layer, keras.layers.Layer):
        return None
    activation = getattr(layer, "activation", None)
    if activation is None or not callable(activation) or activation in _LINEAR_ACTIVATIONS:
        return None
    return activation


def _without_activation(layer):
    """A shallow copy of `layer` that shares its variables but has a linear activation."""
    # A bare instance with the same attributes: copy.copy would round-trip the layer's config,
    # which fails for layers with unregistered custom objects.
    stripped = object.__new__(type(layer))
    stripped.__dict__.update(layer.__dict__)
    # object.__setattr__ bypasses Keras' attribute tracking, which the copy shares with the
    # original; the original layer keeps its activation.
    object.__setattr__(stripped, "activation", keras.activations.linear)
    return stripped


def _is_graph_model(operation) -> bool:
    return isinstance(operation, keras.Model) and _functional_of(operation) is not None


def _functional_of(model):
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if hasattr(model, "_nodes_by_depth") and hasattr(model, "_run_through_graph"):
        return model
    return None


class Program:
    """The flattened graph of a model: steps in execution order and how to run them."""

    def __init__(self, model, steps, input_keys, output_keys, input_shapes):
        self.model = model
        self.steps: list[Step] = steps
        self.input_keys: tuple[str, ...] = input_keys
        self.output_keys: tuple[str, ...] = output_keys
        self.input_shapes = input_shapes
        self._producer = {k: s for s in steps for k in s.outputs}
        self._plans: dict = {}

    # ----------------------------------------------------------------- structure
    def producer(self, key: str) -> Step | None:
        """The step that writes `key` (None for a model input)."""
        return self._producer.get(key)

    def consumers(self, key: str) -> list[Step]:
        return [s for s in self.steps if key in s.inputs]

    def shape_of(self, key: str) -> tuple:
        if key in self.input_keys:
            return self.input_shapes[self.input_keys.index(key)]
        step = self._producer[key]
        return step.output_shapes[step.outputs.index(key)]

    @property
    def logit_key(self) -> str:
        """The key of the pre-softmax output (the model's output when it has no softmax)."""
        (key,) = self.output_keys
        step = self.producer(key)
        if step is not None and _is_softmax_step(step):
            return step.inputs[0]
        return key

    # ----------------------------------------------------------------- running
    def plan(self, fed: frozenset, wants: tuple) -> list[Step]:
        """The steps needed to compute `wants` from the keys in `fed`, in order."""
        cache_key = (fed, wants)
        if cache_key not in self._plans:
            needed = set(wants) - fed
            chosen = []
            for step in reversed(self.steps):
                if needed.intersection(step.outputs):
                    chosen.append(step)
                    needed.difference_update(step.outputs)
                    needed.update(k for k in step.inputs if k not in fed)
            if needed:
                raise ValueError(
                    f"cannot compute {sorted(wants)} from {sorted(fed)}: "
                    f"{sorted(needed)} are not produced by the model"
                )
            self._plans[cache_key] = chosen[::-1]
        return self._plans[cache_key]

    def evaluate(self, feeds: dict, wants) -> dict:
        """Run the steps that compute `wants` from `feeds`; returns the whole environment.

        `feeds` maps keys (the model's inputs, or any intermediate key) to tensors.
        """
        env = dict(feeds)
        for step in self.plan(frozenset(feeds), tuple(wants)):
            outputs = step(*[env[k] for k in step.inputs])
            env.update(zip(step.outputs, outputs))
        return env

    def __call__(self, inputs):
        """The model's outputs, as the model returns them (a tensor or a list)."""
        env = self.evaluate(dict(zip(self.input_keys, tree.flatten(inputs))), self.output_keys)
        outputs = [env[k] for k in self.output_keys]
        return outputs[0] if len(outputs) == 1 else outputs


def _is_softmax_step(step: Step) -> bool:
    if isinstance(step.layer, keras.layers.Softmax) and step.part == "call":
        return True
    activation = step.activation
    return activation is not None and activation in (
        keras.activations.softmax,
        keras.activations.get("softmax"),
    )


# --------------------------------------------------------------------- tracing
_PROGRAMS: "weakref.WeakKeyDictionary[Any, Program]" = weakref.WeakKeyDictionary()


def trace(model) -> Program:
    """The flattened `Program` of a Keras model (cached per model object)."""
    cached = _PROGRAMS.get(model)
    if cached is not None:
        return cached
    functional = _functional_of(model)
    if functional is None:
        kind = type(model).__name__
        if isinstance(model, keras.Sequential):
            raise ValueError(
                f"the Sequential model '{model.name}' has no input shape yet, so tfcam cannot "
                "walk its layers. Build it first, e.g. start it with keras.Input(shape=...) or "
                "call model.build((None, H, W, C))."
            )
        raise TypeError(
            f"tfcam explains Functional and Sequential Keras models; '{model.name}' is a "
            f"subclassed {kind}, whose layers are hidden inside Python code. Wrap its layers "
            "in a Functional model (keras.Model(inputs, outputs)) to explain it."
        )
    steps: list[Step] = []
    input_keys = tuple(_key(x) for x in functional.inputs)
    output_keys = _flatten_into(functional, input_keys, "", steps)
    input_shapes = tuple(tuple(x.shape) for x in functional.inputs)
    program = Program(model, steps, input_keys, tuple(output_keys), input_shapes)
    _PROGRAMS[model] = program
    return program


def _key(tensor) -> str:
    return f"t{id(tensor)}"


def _flatten_into(functional, input_keys, prefix, steps) -> list[str]:
    alias = {id(x): k for x, k in zip(functional.inputs, input_keys)}
    for depth in sorted(functional._nodes_by_depth, reverse=True):
        for node in functional._nodes_by_depth[depth]:
            operation = node.operation
            if not operation or node.is_input:
                continue
            if any(id(x) not in alias for x in node.input_tensors):
                continue  # a node of this layer in another model
            in_keys = tuple(alias[id(x)] for x in node.input_tensors)
            if _is_graph_model(operation):
                inner = _functional_of(operation)
                out_keys = _flatten_into(inner, in_keys, f"{prefix}{operation.name}/", steps)
            else:
                out_keys = [_key(x) for x in node.outputs]
                _append_layer_steps(operation, node, prefix, in_keys, tuple(out_keys), steps)
            alias.update({id(x): k for x, k in zip(node.outputs, out_keys)})
    return [alias[id(x)] for x in functional.outputs]


def _append_layer_steps(operation, node, prefix, in_keys, out_keys, steps):
    path = prefix + operation.name
    shapes = tuple(tuple(x.shape) for x in node.outputs)
    activation = _split_activation(operation)
    if activation is None:
        steps.append(Step(operation, operation, path, in_keys, out_keys, shapes, "call", node))
        return
    linear_key = "pre:" + out_keys[0]
    steps.append(
        Step(_without_activation(operation), operation, path, in_keys, (linear_key,), shapes,
             "linear", node)
    )
    steps.append(Step(activation, operation, path, (linear_key,), out_keys, shapes, "activation"))
