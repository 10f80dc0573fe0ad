"""`tfcam methods`: every method with one line on what it computes, and its options."""

from __future__ import annotations

import inspect
import sys


def add_arguments(parser) -> None:
    pass


def describe(cls) -> str:
    """The first line of the method's class docstring, else of its module's."""
    for doc in (cls.__doc__, getattr(sys.modules.get(cls.__module__), "__doc__", None)):
        if doc and doc.strip():
            return doc.strip().splitlines()[0]
    return ""


def options_with_defaults(cls) -> list[str]:
    """'name=default' for each of the method's own options."""
    from tfcam.options import EXPLAIN_PARAMETERS, method_options

    defaults = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is not None and klass is not object:
            for p in inspect.signature(init).parameters.values():
                if p.default is not inspect.Parameter.empty:
                    defaults[p.name] = p.default
    return [f"{name}={defaults[name]!r}" if name in defaults else name
            for name in method_options(cls) if name not in EXPLAIN_PARAMETERS]


def run(args, log=print) -> int:
    from tfcam import registry

    width = max(len(name) for name in registry.names())
    for name in registry.names():
        cls = registry.CLASSES[name]
        where = "layer" if cls.needs_layer else "input"
        log(f"{name:<{width}}  [{where}] {describe(cls)}")
        options = options_with_defaults(cls)
        if options:
            log(f"{'':<{width}}    options: {', '.join(options)}")
    log("[layer]: explains a layer (--layer; default the last spatial one); [input]: the input "
        "pixels. Pass options with --option KEY=VALUE.")
    return 0
