"""Method ids: `@register("grad_cam", aliases=("gradcam",))` on an explainer class.

This module imports no method: each method module registers its class when it is imported
(`tfcam/__init__` imports them all), and `tfcam.explain` reads the table.

Names are matched loosely: case, '-', '_' and '+' (as 'p') do not matter, so "Grad-CAM++",
"gradcam++" and "grad_cam_pp" are the same method.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the registered classes are explainers; this module imports none
    from tfcam.method_base import Explainer

# canonical id -> class, in registration order
CLASSES: dict[str, type[Explainer]] = {}
# canonical id -> its old ids (kept working)
ALIASES: dict[str, tuple[str, ...]] = {}
# loose key of every id and alias -> canonical id
_BY_KEY: dict[str, str] = {}


def _key(name: str) -> str:
    return name.lower().replace("+", "p").replace("-", "").replace("_", "")


def register(name: str, aliases: tuple[str, ...] = ()):
    """Class decorator: `cls.method = name`, and `name` and `aliases` find `cls`."""
    def decorate(cls):
        for alias in (name, *aliases):
            taken = _BY_KEY.get(_key(alias))
            if taken is not None and taken != name:  # two methods answering one name
                raise ValueError(f"method name '{alias}' is taken by '{taken}'")
        cls.method = name
        CLASSES[name] = cls
        ALIASES[name] = tuple(aliases)
        for alias in (name, *aliases):
            _BY_KEY[_key(alias)] = name
        return cls

    return decorate


def canonical(method) -> str:
    """The canonical id of `method` (an id or an alias); a clear error for unknown names."""
    found = _BY_KEY.get(_key(method)) if isinstance(method, str) else None
    if found is None:
        known = [*CLASSES, *(a for names in ALIASES.values() for a in names)]
        close = difflib.get_close_matches(str(method), known, n=3, cutoff=0.4)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(f"unknown method '{method}'.{hint} Available: {names()}.")
    return found


def lookup(method) -> type[Explainer]:
    """The class registered under `method` (an id or an alias)."""
    return CLASSES[canonical(method)]


def names() -> list[str]:
    """The canonical ids, sorted."""
    return sorted(CLASSES)
