"""The one door to tfcam: the runners call ``tfcam()`` / ``metrics()`` instead of importing
tfcam, so a test can stand a small fake in its place (``use(fake)``) and check the runners'
bookkeeping without the real methods. Production code never calls ``use``.
"""
from __future__ import annotations

import contextlib

_override = None


def tfcam():
    """The tfcam module (or the stand-in installed by ``use``)."""
    if _override is not None:
        return _override
    import tfcam as module
    return module


def metrics():
    """``tfcam.metrics`` (a submodule ``import tfcam`` need not load)."""
    if _override is not None:
        return _override.metrics
    import importlib
    return importlib.import_module("tfcam.metrics")


@contextlib.contextmanager
def use(stand_in):
    """Temporarily route every call to ``stand_in`` (an object with ``explain`` and
    ``metrics``). For tests."""
    global _override
    previous, _override = _override, stand_in
    try:
        yield stand_in
    finally:
        _override = previous
