"""The door to what the benchmark measures: tfcam's methods (``tfcam().explain``) and its
metrics (``metrics()``, i.e. ``tfcam.metrics``). The app's modules call these two instead of
importing ``tfcam.explain`` or ``tfcam.metrics``, so a test can stand a small fake in their
place (``use(fake)``: an object with ``explain`` and ``metrics``) and check the runners'
bookkeeping without the real methods (tests/test_architecture.py checks that no other module
of the app imports ``tfcam.metrics``). Production code never calls ``use``.

What the app takes from tfcam besides methods and metrics is plumbing a fake has no reason to
replace, imported where it is used: reading photos (``tfcam.image_files``), a model's layers
(``tfcam.explainable_layers``), maps resized as tfcam resizes them
(``tfcam.visualize.resize_maps``), the fill names (``tfcam.fill``), compiled reference passes
(``tfcam.backend``), the heatmap figure (``tfcam.visualize.grid``). The stand-alone scripts
(``benchmarks.soak``, ``benchmarks.metrics_speed``, ``benchmarks.scorecam_memory``) measure
tfcam itself and import it directly.
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
