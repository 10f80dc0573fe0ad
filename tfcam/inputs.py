"""What a model is given: one array, or several inputs as a list or a dict by name.

Inputs travel as the model takes them: one float32 array for a single-input model, a tuple
of arrays in `program.input_keys` order for a model with several inputs. `check_inputs`
validates and converts what the user passed; `feeds(program, inputs)` turns either form
into `Program.evaluate` feeds; `each` applies a function per input.
"""

from __future__ import annotations

import difflib

import numpy as np

from tfcam import graph


def feeds(program: graph.Program, inputs) -> dict:
    """`Program.evaluate` feeds: {input key: tensor} from one array (a single-input model)
    or a tuple/list of arrays in `program.input_keys` order."""
    if isinstance(inputs, (tuple, list)):
        return dict(zip(program.input_keys, inputs))
    return {program.input_keys[0]: inputs}


def each(fn, *values):
    """`fn` applied per input: to the arrays themselves, or element-wise to tuples of them
    (None where any argument is None)."""
    if not isinstance(values[0], (tuple, list)):
        return fn(*values)
    return tuple(None if any(v is None for v in args) else fn(*args) for args in zip(*values))


def num_samples(inputs) -> int:
    """The batch size of one array or of a tuple of arrays."""
    first = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
    return first.shape[0]


def rows(inputs, index):
    """`inputs[index]` along the batch axis, per input."""
    return each(lambda x: x[index], inputs)


def batch_shape(inputs) -> tuple:
    """A shape standing for the batch when sizing chunks of perturbed inputs: the array's,
    or (N, total values per sample) for several inputs."""
    if not isinstance(inputs, (tuple, list)):
        return inputs.shape
    return (num_samples(inputs), sum(int(np.prod(x.shape[1:])) for x in inputs))


def check_inputs(program: graph.Program, inputs):
    """The inputs as float32 (a copy only where a conversion is needed): one array for a
    single-input model, a tuple in `program.input_keys` order for several inputs.

    Several inputs come as a list/tuple in the model's input order or a dict keyed by input
    name. Raises a ValueError naming the input and the expected and received shapes.
    """
    names = program.input_names or tuple(program.input_keys)
    if len(program.input_keys) == 1:
        if isinstance(inputs, dict):
            (inputs,) = _from_dict(program, inputs, names)
        elif _one_batch_in_a_list(inputs, program.input_shapes[0]):  # [x], as Keras takes it
            (inputs,) = inputs
        array = _as_float32(program, inputs, None)
        _require_finite(array)
        return array
    given = _inputs_in_order(program, inputs, names)
    arrays = [_as_float32(program, x, i) for i, x in enumerate(given)]
    sizes = [len(a) for a in arrays]
    if len(set(sizes)) > 1:
        listed = ", ".join(f"'{n}' {s}" for n, s in zip(names, sizes))
        raise ValueError(
            f"the inputs of model '{program.model.name}' have different batch sizes "
            f"({listed}); every input needs one entry per sample."
        )
    for name, array in zip(names, arrays):
        _require_finite(array, name)
    return tuple(arrays)


def _inputs_in_order(program: graph.Program, inputs, names) -> list:
    """The inputs of a multi-input model as a list in input order, or a clear error."""
    model = program.model.name
    how = (f"Pass a list with one array per input, in the order {list(names)}, or a dict "
           "keyed by these names.")
    if isinstance(inputs, dict):
        return _from_dict(program, inputs, names)
    if not isinstance(inputs, (list, tuple)):
        raise ValueError(
            f"model '{model}' takes {len(names)} inputs {list(names)}; got one array of shape "
            f"{np.shape(inputs)}. {how}"
        )
    if len(inputs) != len(names):
        raise ValueError(
            f"model '{model}' takes {len(names)} inputs {list(names)}; got a "
            f"{type(inputs).__name__} of {len(inputs)} arrays. {how}"
        )
    return list(inputs)


def _from_dict(program: graph.Program, inputs: dict, names) -> list:
    """Dict inputs in input order; unknown or missing names are named, with close matches."""
    aliases = input_aliases(program)
    found: dict[int, object] = {}
    unknown = []
    for key, value in inputs.items():
        if key in aliases and aliases[key] not in found:
            found[aliases[key]] = value
        else:
            unknown.append(key)
    model = program.model.name
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), list(aliases), n=3, cutoff=0.6)
            hints.append(f"'{key}'" + (f" (did you mean {close}?)" if close else ""))
        raise ValueError(
            f"model '{model}' has no input named {', '.join(hints)}; its inputs are "
            f"{list(names)}."
        )
    missing = [names[i] for i in range(len(names)) if i not in found]
    if missing:
        raise ValueError(
            f"inputs lack {missing}: model '{model}' takes {len(names)} inputs "
            f"{list(names)} (a dict keyed by these names, or a list in this order)."
        )
    return [found[i] for i in range(len(names))]


def input_aliases(program: graph.Program) -> dict:
    """{name: input index}: the names of the model's `keras.Input` tensors and of their
    InputLayers (they differ for an unnamed Input: 'keras_tensor_3' / 'input_layer_3')."""
    names = program.input_names or tuple(program.input_keys)
    aliases = {name: i for i, name in enumerate(names)}
    try:
        tensors = list(program.model.inputs)
    except (AttributeError, ValueError, TypeError):  # a subclassed model
        tensors = []
    if len(tensors) == len(names):
        for i, tensor in enumerate(tensors):
            layer = getattr(getattr(tensor, "_keras_history", None), "operation", None)
            for alias in (getattr(tensor, "name", None), getattr(layer, "name", None)):
                if isinstance(alias, str):
                    aliases.setdefault(alias, i)
    return aliases


def resolve_input(program: graph.Program, which) -> int | None:
    """The index of the input named or numbered by `which` (None stays None)."""
    if which is None:
        return None
    names = program.input_names or tuple(program.input_keys)
    if isinstance(which, (int, np.integer)) and not isinstance(which, bool):
        if -len(names) <= which < len(names):
            return int(which) % len(names)
        raise ValueError(
            f"input={which} is out of range: model '{program.model.name}' has {len(names)} "
            f"input{'s' if len(names) > 1 else ''} {list(names)}."
        )
    aliases = input_aliases(program)
    if isinstance(which, str) and which in aliases:
        return aliases[which]
    close = difflib.get_close_matches(str(which), list(aliases), n=3, cutoff=0.6)
    hint = f" Did you mean {close}?" if close else ""
    raise ValueError(
        f"model '{program.model.name}' has no input named {which!r}.{hint} Its inputs are "
        f"{list(names)}; pass a name or an index."
    )


def _as_float32(program: graph.Program, inputs, index: int | None) -> np.ndarray:
    """One input as a float32 array of the expected rank and sizes. `index` None: the input
    of a single-input model (messages as they always were); else the input's position."""
    model = program.model.name
    array = np.asarray(inputs)
    expected = program.input_shapes[0 if index is None else index]
    name = None if index is None else (program.input_names or program.input_keys)[index]
    if not np.issubdtype(array.dtype, np.number):
        what = "inputs" if index is None else f"input '{name}'"
        raise TypeError(f"{what} must be numeric, got dtype {array.dtype}")
    if array.ndim == len(expected) - 1:
        if index is None:
            raise ValueError(
                f"model '{model}' expects a batch of inputs of shape {expected}; got "
                f"one input of shape {array.shape}. Add a batch axis: inputs[None]."
            )
        raise ValueError(
            f"input '{name}' of model '{model}' expects a batch of shape {expected}; got one "
            f"sample of shape {array.shape}. Add a batch axis: inputs['{name}'][None]."
        )
    mismatch = array.ndim != len(expected) or any(
        e is not None and e != a for e, a in zip(expected[1:], array.shape[1:])
    )
    if mismatch and array.ndim == len(expected) and all(
            e is None or e == a for e, a in zip(expected[1:-1], array.shape[1:-1])):
        what = f"model '{model}'" if index is None else f"input '{name}' of model '{model}'"
        fix = (" Grey images: np.repeat(images, 3, axis=-1)." if array.shape[-1] == 1
               and expected[-1] == 3 else "")
        raise ValueError(
            f"{what} expects {expected[-1]} channels (shape {expected}); got {array.shape[-1]} "
            f"(shape {array.shape}).{fix}"
        )
    if mismatch:
        if index is None:
            raise ValueError(
                f"model '{model}' expects inputs of shape {expected}; got "
                f"{array.shape}. Resize the images to the model's input size."
            )
        raise ValueError(
            f"input '{name}' of model '{model}' expects shape {expected}; got {array.shape}."
        )
    if array.shape[0] == 0:
        raise ValueError("inputs are empty: nothing to explain.")
    with np.errstate(over="ignore"):  # values beyond float32 become inf: reported next
        return array.astype("float32", copy=False)


def _one_batch_in_a_list(inputs, expected) -> bool:
    """A list or tuple holding one batch (an array of the input's full rank)."""
    return (isinstance(inputs, (list, tuple)) and len(inputs) == 1
            and np.ndim(inputs[0]) == len(expected))


def _require_finite(array: np.ndarray, name: str | None = None) -> None:
    """NaN or inf in an input gives a NaN score and a map that only looks plausible."""
    finite = np.isfinite(array).reshape(len(array), -1).all(axis=1)
    if finite.all():
        return
    bad = np.flatnonzero(~finite)
    shown = ", ".join(str(i) for i in bad[:10]) + (", ..." if len(bad) > 10 else "")
    if name is None:
        raise ValueError(
            f"{len(bad)} of {len(array)} inputs contain NaN or inf values (indices {shown}); "
            "their scores and maps would be meaningless. Replace them, e.g. with "
            "np.nan_to_num(inputs), or drop those inputs."
        )
    raise ValueError(
        f"input '{name}': {len(bad)} of {len(array)} samples contain NaN or inf values "
        f"(indices {shown}); their scores and maps would be meaningless. Replace them, e.g. "
        f"with np.nan_to_num(inputs['{name}']), or drop those samples from every input."
    )
