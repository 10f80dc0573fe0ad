"""The tasks, one module each, registered here. A task module has ``name``, ``family``,
``record_errors``, ``columns``, a ``Settings`` dataclass (its settings: ``metrics.<name>``),
``units(run)`` and ``evaluate(run, unit, inputs)`` (the protocol
:class:`benchmarks.driver.Task`); :mod:`benchmarks.driver` runs them. A new task is a module
like these and a line below. ``PROVIDERS``: the inputs units share (``Unit.inputs``)."""
from .. import maps
from ..results import result_columns
from ..tasks import (
    agreement,
    complexity,
    faithfulness,
    grid_pointing,
    localization,
    robustness,
    sanity,
    shattered_gradients,
    speed,
    zoo,
)

TASKS = {t.name: t for t in (localization, faithfulness, agreement, complexity, robustness, grid_pointing, sanity,
                             shattered_gradients, speed, zoo)}
PROVIDERS = {"maps": maps.provide}
COLUMNS = tuple(dict.fromkeys(c for t in TASKS.values() for c in t.columns))
RESULT_COLUMNS = result_columns(COLUMNS)

__all__ = ["COLUMNS", "PROVIDERS", "RESULT_COLUMNS", "TASKS"]
