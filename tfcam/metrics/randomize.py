"""Which layers the parameter randomization test re-draws, and how (in place)."""

from __future__ import annotations

import warnings

import keras
import numpy as np

from tfcam import graph


def weighted_layers(model) -> list:
    """Layers holding at least one variable that randomization re-draws, input to output.

    The layers are those of the model's traced graph (`tfcam.graph.trace`): nested models
    are opened, a custom layer made of layers counts as one layer, a layer called twice is
    listed once; BatchNorm counts (gamma, beta), its moving statistics are kept. They are
    listed in Keras' layer order (`model.layers`, nested models in place: by depth, layers
    of equal depth, such as a ResNet's shortcut and last branch convolutions, in traversal
    order), on which the randomization test's seeds depend.
    """
    program = graph.trace(model)
    # a step inside a custom layer belongs to the outermost one (a nested model is opened)
    blocks = sorted((b for b in program.blocks if not isinstance(b.layer, keras.Model)),
                    key=lambda b: b.path.count("/"))
    seen: set[int] = set()
    found: list = []
    for step in program.steps:
        block = next((b for b in blocks if step.path.startswith(b.path + "/")), None)
        layer, path = (step.layer, step.path) if block is None else (block.layer, block.path)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if any(_randomizable(v) for v in getattr(layer, "weights", ())):
            found.append((_layer_order(model, path), len(found), layer))
    return [layer for *_, layer in sorted(found, key=lambda item: item[:2])]


def _layer_order(model, path: str) -> tuple:
    """Position of the layer at `path` ("backbone/conv1") in Keras' layer order: its index
    in `model.layers`, then in that nested model's `layers`, ... (unknown names last)."""
    order, current = [], model
    for name in path.split("/"):
        names = [layer.name for layer in getattr(current, "layers", ())]
        if name not in names:
            order.append(len(names))
            break
        order.append(names.index(name))
        current = current.layers[order[-1]]
    return tuple(order)


def _randomizable(variable) -> bool:
    """Float variables other than BatchNorm's moving statistics (which are kept)."""
    name = variable.name.split("/")[-1]
    return "float" in str(variable.dtype) and not name.startswith("moving_")


def _initializer_for(layer, variable):
    """The layer's own initializer of `variable`, or None.

    Matches ``layer.<name>_initializer`` to the variable's name (``kernel`` ->
    ``kernel_initializer``), then ``<prefix>_kernel`` -> ``<prefix>_initializer``
    (SeparableConv's depthwise/pointwise kernels), then the layer's single initializer
    left unclaimed by its other variables (DepthwiseConv2D's ``kernel`` ->
    ``depthwise_initializer``).
    """
    name = variable.name.split("/")[-1]
    for attr in (f"{name}_initializer", f"{name.removesuffix('_kernel')}_initializer"):
        init = getattr(layer, attr, None)
        if init is not None:
            return init
    names = {v.name.split("/")[-1] for v in layer.weights}
    claimed = {f"{n}_initializer" for n in names}
    claimed |= {f"{n.removesuffix('_kernel')}_initializer" for n in names}
    free = [
        a for a in dir(layer)
        if a.endswith("_initializer") and not a.startswith(("_", "moving_")) and a not in claimed
        and getattr(layer, a, None) is not None
    ]
    return getattr(layer, free[0]) if len(free) == 1 else None


def _seeded(initializer, seed: int):
    """A copy of `initializer` drawing from `seed` (initializers without a seed, e.g.
    Zeros or Ones, are returned as they are)."""
    init = keras.initializers.get(initializer)
    config = init.get_config()
    if "seed" in config:
        config["seed"] = int(seed)
        return init.__class__.from_config(config)
    return init


def randomize_layer(layer, seed: int) -> list[str]:
    """Re-draw every randomizable variable of `layer` in place from its own
    initializer (seeded). Variables without a known initializer get a random
    permutation of their values (a warning names them). Returns the variable paths."""
    rng = np.random.default_rng(seed)
    done = []
    for j, v in enumerate(layer.weights):
        if not _randomizable(v):
            continue
        init = _initializer_for(layer, v)
        if init is not None:
            value = _seeded(init, seed * 1009 + j)(tuple(v.shape), dtype=v.dtype)
        else:
            warnings.warn(
                f"no initializer found for {v.path}; randomizing it by permuting its values.",
                stacklevel=3,
            )
            value = rng.permutation(keras.ops.convert_to_numpy(v).reshape(-1)).reshape(v.shape)
        v.assign(value)
        done.append(v.path)
    return done
