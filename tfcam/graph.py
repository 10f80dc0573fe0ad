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

Subclassed models and layers made of layers (a user's residual block) are traced into graphs
of their inner layers first (`tfcam.twin`), so their layers can be explained and LRP walks
through them with the inner layers' rules; such a block stays one step when its `call`
does not trace symbolically.

Layers with a non-linear `activation=` are split in two steps (the layer without its
activation, then the activation), so that a softmax head can be skipped and a ReLU inside a
Conv2D can be treated like a ReLU layer. The user's model is never modified: the split uses a
shallow copy of the layer that shares its variables.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from typing import Any

import keras
from keras import tree

from tfcam import twin

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


@dataclasses.dataclass(eq=False)
class Block:
    """A layer (or subclassed model) expanded into its inner steps: its output keys, so that
    `layer=block` and `layer="block"` still name the block's output."""

    layer: Any
    path: str
    outputs: tuple[str, ...]
    output_shapes: tuple[tuple, ...]
    end: int  # number of steps recorded when the block was complete


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
    """The flattened graph of a model: steps in execution order and how to run them.

    It holds its model weakly (the steps hold the layers): programs are cached per model
    in a weak-keyed table, and a strong reference would keep every model ever explained
    alive. Whoever runs a program holds the model.
    """

    def __init__(self, model, steps, input_keys, output_keys, input_shapes, blocks=(),
                 traced_calls=()):
        self._model = weakref.ref(model)
        self.steps: list[Step] = steps
        self.input_keys: tuple[str, ...] = input_keys
        self.output_keys: tuple[str, ...] = output_keys
        self.input_shapes = input_shapes
        self.input_names: tuple[str, ...] = ()  # the keras.Input names, in input_keys order
        self.blocks: list[Block] = list(blocks)
        # Names of what was traced from Python `call` (a subclassed model, custom blocks).
        # Such a graph is compared with the model on the first batch explained, once.
        self.traced_calls: tuple[str, ...] = tuple(traced_calls)
        self.checked = not self.traced_calls
        self._producer = {k: s for s in steps for k in s.outputs}
        self._plans: dict = {}
        # Set by `trace`: how the model takes its inputs ((args, kwargs), keras.Input leaves
        # in input order), and the traced graphs kept alive with the program.
        self.call_structure: tuple = ((), {})
        self.graphs: list = []

    @property
    def model(self):
        """The traced model (an error once it has been garbage collected)."""
        model = self._model()
        if model is None:
            raise RuntimeError("the model of this program has been garbage collected")
        return model

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

    @property
    def output_activation(self) -> str | None:
        """How the model's single output is made: "softmax" when it ends in a softmax (its
        logits are `logit_key`), "linear" when a layer without activation makes it (the
        output is the logits), None otherwise (another activation, a pooling, a Lambda,
        several outputs)."""
        if len(self.output_keys) != 1:
            return None
        if self.logit_key != self.output_keys[0]:
            return "softmax"
        step = self.producer(self.output_keys[0])
        if step is not None and step.part == "call" and (
                getattr(step.layer, "activation", None) in _LINEAR_ACTIVATIONS):
            return "linear"
        return None

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
_PROGRAMS: weakref.WeakKeyDictionary[Any, Program] = weakref.WeakKeyDictionary()


def trace(model) -> Program:
    """The flattened `Program` of a Keras model (cached per model object)."""
    cached = _PROGRAMS.get(model)
    if cached is not None:
        return cached
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(f"tfcam explains Keras models, not {type(model).__name__}")
    functional = _functional_of(model)
    traced = []
    if functional is None:
        if isinstance(model, keras.Sequential):
            raise ValueError(
                f"the Sequential model '{model.name}' has no input shape yet, so tfcam cannot "
                "walk its layers. Build it first, e.g. start it with keras.Input(shape=...) or "
                "call model.build((None, H, W, C))."
            )
        functional, call_structure = twin.model_twin(model)  # a subclassed model's graph
        traced.append(f"the subclassed model '{model.name}'")
    else:
        call_structure = ((getattr(functional, "_inputs_struct", functional.inputs),), {})
    steps: list[Step] = []
    blocks: list[Block] = []
    input_keys = tuple(_key(x) for x in functional.inputs)
    # A traced twin must outlive tracing (its tensors' ids are keys); the model itself not:
    # the program holds it weakly.
    record = _Recorder(steps, blocks, traced, [] if functional is model else [functional])
    output_keys = _flatten_into(functional, input_keys, "", record)
    input_shapes = tuple(tuple(x.shape) for x in functional.inputs)
    program = Program(model, steps, input_keys, tuple(output_keys), input_shapes, blocks,
                      traced)
    program.input_names = tuple(x.name for x in functional.inputs)
    # How the model itself takes its inputs ((args, kwargs), keras.Input leaves in input
    # order), to compare a traced graph with the model.
    program.call_structure = call_structure
    program.graphs = record.graphs
    _PROGRAMS[model] = program
    return program


@dataclasses.dataclass
class _Recorder:
    """What flattening writes: steps, expanded blocks, and names of traced `call`s."""

    steps: list
    blocks: list
    traced: list
    # Traced graphs, kept alive with the program: keys are ids of their tensors.
    graphs: list = dataclasses.field(default_factory=list)


def _key(tensor) -> str:
    return f"t{id(tensor)}"


def _flatten_into(functional, input_keys, prefix, record: _Recorder) -> list[str]:
    alias = {id(x): k for x, k in zip(functional.inputs, input_keys)}
    for depth in sorted(functional._nodes_by_depth, reverse=True):
        for node in functional._nodes_by_depth[depth]:
            operation = node.operation
            if not operation or node.is_input:
                continue
            if any(id(x) not in alias for x in node.input_tensors):
                continue  # a node of this layer in another model
            in_keys = tuple(alias[id(x)] for x in node.input_tensors)
            inner_prefix = f"{prefix}{operation.name}/"
            if _is_graph_model(operation):
                inner = _functional_of(operation)
                out_keys = _flatten_into(inner, in_keys, inner_prefix, record)
            elif twin.is_composite_layer(operation) and (
                    inner := twin.layer_twin(operation, node)) is not None:
                record.graphs.append(inner)
                out_keys = _flatten_into(inner, in_keys, inner_prefix, record)
                shapes = tuple(tuple(x.shape) for x in node.outputs)
                record.blocks.append(Block(operation, prefix + operation.name, tuple(out_keys),
                                           shapes, len(record.steps)))
                record.traced.append(f"the layer '{prefix}{operation.name}'")
            else:
                out_keys = [_key(x) for x in node.outputs]
                _append_layer_steps(operation, node, prefix, in_keys, tuple(out_keys),
                                    record.steps)
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
