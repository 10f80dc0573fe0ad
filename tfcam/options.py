"""A method's keyword options, and a clear error for one it does not have."""

from __future__ import annotations

import difflib
import inspect

# What `tfcam.explain` takes itself, `input` (which input of a multi-input model to
# explain), which every method takes, and `reshape` (a token layer's grid), which every layer
# method takes; the rest of its keywords are the method's options.
EXPLAIN_PARAMETERS = ("layer", "targets", "batch_size", "progress", "input", "reshape")


def method_options(cls) -> list[str]:
    """The keyword options of a method class: the named parameters of every `__init__` on
    its MRO (options reach the base classes through **kwargs), except `model`/`layer`."""
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for parameter in inspect.signature(init).parameters.values():
            named = parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
            if named and parameter.name not in ("self", "model", "layer", *names):
                names.append(parameter.name)
    return names


def renamed_options(cls) -> dict[str, str]:
    """{old name: new name} of the options renamed on `cls` (`tfcam.renamed`)."""
    old: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        old.update(getattr(klass.__dict__.get("__init__"), "renamed", {}))
    return old


def check_options(cls, options) -> None:
    """A TypeError naming unknown options, the method's options and close matches."""
    known = method_options(cls)
    accepted = {*known, *renamed_options(cls)}  # old names still work, with a warning
    unknown = [name for name in options if name not in accepted]
    if not unknown:
        return
    own = [name for name in known if name not in EXPLAIN_PARAMETERS]
    listed = f"its options are {own}" if own else "it has no options of its own"
    everything = list(dict.fromkeys([*known, *EXPLAIN_PARAMETERS]))
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, everything, n=3, cutoff=0.6)
        if close:
            hints.append(f"'{name}': did you mean {close}?")
    hint = f" ({'; '.join(hints)})" if hints else ""
    raise TypeError(
        f"{cls.method} got unknown option{'s' if len(unknown) > 1 else ''} {unknown}{hint}; "
        f"{listed}, besides {list(EXPLAIN_PARAMETERS)}."
    )
