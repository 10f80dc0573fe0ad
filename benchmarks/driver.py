"""The one loop over units of work, for every task.

A task (:class:`Task`, registered in :mod:`benchmarks.tasks`) says *what* to do: the units
it has for one model (``units``) and the rows of one unit (``evaluate``). This driver does
the rest, the same way for all of them: the order, the done-check (resume), the progress bar
and its count, the error row of a unit that raised, and the write of each finished unit.

Units may share an input (the maps of one method × layer × batch serve localization,
faithfulness and agreement): a unit names its ``inputs`` and the driver computes each once,
when the first unit still to do needs it, and keeps it until the last one has used it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Unit:
    """One resumable item: ``key`` in done.txt; ``row``: the columns every row of it shares
    (and its error row's); ``error_image``: the error row's ``image``."""
    task: str
    key: str
    row: dict
    label: str = ""
    payload: Any = None
    inputs: tuple = ()             # keys of shared inputs (see ``Task.provide``)
    order: tuple = ()              # units are run sorted by (task family's rank, order)
    error_image: int = -1
    error_columns: dict = field(default_factory=dict)  # more columns of its error row


@dataclass
class Output:
    """What ``Task.evaluate`` returns: result rows (dicts) and curve rows."""
    rows: list = field(default_factory=list)
    curves: list = field(default_factory=list)


class Task(Protocol):
    """A benchmark task: one module in ``benchmarks/tasks`` and a line in its registry.

    ``name``: the ``task`` column; ``Settings``: its dataclass (``metrics.<name>``);
    ``columns``: the typed result columns it fills besides the shared ones; ``family``: tasks
    of one family are interleaved (they share inputs); ``record_errors``: whether a unit that
    failed gets an error row (else it is left undone and retried). Optional ``directions``:
    {metric: higher is better} of the metrics only this task writes (tfcam's own metrics carry
    theirs: ``tfcam.metrics.higher_is_better``)."""
    name: str
    Settings: type
    columns: tuple
    family: str
    record_errors: bool

    def units(self, run) -> Iterable[Unit]: ...

    def evaluate(self, run, unit: Unit, inputs: dict) -> Output: ...


def error_text(e: BaseException) -> str:
    """``Type: first line of the message``, at most 300 characters, for the error column."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}"[:300].replace("\n", " ")


def error_row(unit: Unit, e: BaseException, **extra) -> dict:
    """The row that records ``e`` for ``unit`` (tasks use it for a part that failed)."""
    return {**unit.row, "image": unit.error_image, "metric": "error", "error": error_text(e),
            **unit.error_columns, **extra}


class _Inputs:
    """Shared inputs, computed on first use and dropped after their last user."""

    def __init__(self, providers: dict, pending: list):
        self.providers, self.values, self.users = providers, {}, {}
        for u in pending:
            for k in u.inputs:
                self.users[k] = self.users.get(k, 0) + 1

    def get(self, run, unit: Unit) -> dict:
        out = {}
        for k in unit.inputs:
            if k not in self.values:
                try:
                    self.values[k] = self.providers[k[0]](run, k)
                except Exception as e:
                    if run.fail_fast:
                        raise
                    self.values[k] = e
            out[k] = self.values[k]
        return out

    def release(self, unit: Unit) -> None:
        for k in unit.inputs:
            self.users[k] -= 1
            if self.users[k] <= 0:
                self.values.pop(k, None)


def run_tasks(run, tasks: list, providers: dict | None = None, bar_factory: Callable | None = None) -> int:
    """Run every unit of ``tasks`` for ``run`` (a :class:`benchmarks.context.Context`);
    return how many units were computed."""
    rank = {}
    for i, t in enumerate(tasks):
        rank.setdefault(t.family, i)
    by_name = {t.name: t for t in tasks}
    units = []
    for t in tasks:
        units += list(t.units(run))
    units.sort(key=lambda u: (rank[by_name[u.task].family], u.order))
    pending = [u for u in units if not run.store.is_done(u.key)]
    inputs = _Inputs(providers or {}, pending)
    bar = bar_factory(len(units)) if bar_factory else None
    done = 0
    try:
        if bar is not None:
            bar.update(len(units) - len(pending))
        for unit in pending:
            if bar is not None:
                bar.set_postfix_str(f"{run.model_name} {unit.label}")
            task = by_name[unit.task]
            try:
                values = inputs.get(run, unit)
                failed = next((v for v in values.values() if isinstance(v, BaseException)), None)
                if failed is not None:
                    raise failed
                out = task.evaluate(run, unit, values)
            except Exception as e:
                if run.fail_fast:
                    raise
                out = Output([error_row(unit, e)]) if task.record_errors else None
            inputs.release(unit)
            if out is not None:
                run.store.write(unit.key, out.rows, out.curves)
                done += 1
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return done
