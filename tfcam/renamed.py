"""Keywords renamed in this release: the old name still works, with a DeprecationWarning,
for one release (`@renamed(old="new")` on a function or a method's `__init__`)."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


def renamed(**old_to_new: str) -> Callable[[F], F]:
    """Decorator: accept each keyword `old` as `new`, warning once per call site.

    The mapping is kept on the wrapper (`.renamed`) so that option checks
    (`tfcam.options.method_options`) accept the old names too.
    """
    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for old, new in old_to_new.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f"{fn.__qualname__}: pass {new}= only ({old}= is its old "
                                    "name)")
                warnings.warn(f"{fn.__qualname__}: {old}= is now called {new}=; the old name "
                              "goes in the next release", DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        wrapper.renamed = {**getattr(fn, "renamed", {}), **old_to_new}  # type: ignore[attr-defined]
        return cast(F, wrapper)  # the same signature, old names accepted besides
    return decorate
