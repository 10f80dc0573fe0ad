"""The zoo's section of summary.md (rows of ``benchmarks/tasks/zoo.py``): which method runs on
which architecture family, its time per image, its default layer, LRP's relevance kept.

Marks: ✓ runs; ○ runs but a map is constant (nothing to see: with random weights, a signed
map negative everywhere becomes all zero after the ReLU); ✗ fails, with a footnote giving the
error; – not run (KerasHub not installed). :func:`compact` is the README's table: the five
main methods, their time per image in the cell, and a line on the other methods.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..report.common import md_table

MAIN_METHODS = ("grad_cam", "relevance_cam", "score_cam", "lrp", "integrated_gradients")
WORKS, CONSTANT, FAILS, NOT_RUN = "✓", "○", "✗", "–"
NOT_INSTALLED = "NotInstalled:"   # the error of a family whose library is missing
LEGEND = (f"{WORKS} runs; {CONSTANT} runs, but a map is constant (std ≤ `metrics.zoo.constant_std`); "
          f"{FAILS} fails (footnote: the error's type and first line); {NOT_RUN} not run "
          f"(KerasHub not installed).")


def _zoo(results: pd.DataFrame) -> pd.DataFrame:
    return results[results.task == "zoo"]


def status(results: pd.DataFrame) -> pd.DataFrame:
    """One row per family × method: source, layer, status (works | constant | error | not run),
    error, first-call seconds, seconds per image, mean relevance kept (LRP)."""
    zoo = _zoo(results)
    out = []
    for (fam, method), g in zoo.groupby(["model", "method"], sort=False):
        unit = g[g.unit == g.unit.iloc[-1]]   # a sweep's table may hold a unit twice: the last
        get = lambda m, unit=unit: unit.value[unit.metric == m]
        errors = unit[unit.metric == "error"]
        if len(errors):
            error = str(errors.error.iloc[0])
            state = "not run" if error.startswith(NOT_INSTALLED) else "error"
        else:
            error = ""
            state = "constant" if (get("constant_map") > 0).any() or (get("nonfinite_map") > 0).any() else "works"
        mean = lambda m, get=get: float(get(m).mean()) if len(get(m)) else np.nan
        out.append({"family": fam, "method": method, "source": unit.source.iloc[0],
                    "layer": next((v for v in unit.layer if v), ""), "status": state, "error": error,
                    "first_call_seconds": mean("first_call_seconds"),
                    "seconds_per_image": mean("seconds_per_image"), "relevance_kept": mean("relevance_kept"),
                    "min_map_std": float(get("map_std").min()) if len(get("map_std")) else np.nan})
    return pd.DataFrame(out)


class Footnotes:
    """Numbered footnotes, one per distinct error text."""

    def __init__(self):
        self.notes: dict = {}

    def mark(self, error: str) -> str:
        n = self.notes.setdefault(error, len(self.notes) + 1)
        return f"{FAILS} [{n}]"

    def markdown(self) -> list:
        if not self.notes:
            return []
        return ["Errors:\n", *[f"{n}. `{_escape(e)}`" for e, n in self.notes.items()], ""]


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("`", "'")


def _cell(r, notes: Footnotes, with_time: bool = False) -> str:
    if r is None:
        return ""
    if r.status == "not run":
        return NOT_RUN
    if r.status == "error":
        return notes.mark(r.error)
    mark = CONSTANT if r.status == "constant" else WORKS
    if with_time and np.isfinite(r.seconds_per_image):
        return f"{mark} {_ms(r.seconds_per_image)}"
    return mark


def _ms(seconds: float) -> str:
    ms = 1000 * seconds
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def _kept(g: pd.DataFrame) -> str:
    lrp = g[(g.method == "lrp") & np.isfinite(g.relevance_kept)]
    return f"{lrp.relevance_kept.iloc[0]:.3f}" if len(lrp) else "–"


def _grid(st: pd.DataFrame, methods: list, notes: Footnotes, with_time: bool) -> pd.DataFrame:
    rows = []
    for fam, g in st.groupby("family", sort=False):
        by = {r.method: r for r in g.itertuples()}
        row = {"family": fam, "source": g.source.iloc[0]}
        if not with_time:
            cams = g[g.layer != ""]
            row["default layer"] = " / ".join(f"`{v}`" for v in dict.fromkeys(cams.layer)) or "–"
        row.update({m: _cell(by.get(m), notes, with_time) for m in methods})
        row["LRP relevance kept"] = _kept(g)
        rows.append(row)
    return pd.DataFrame(rows)


def _others(st: pd.DataFrame, main: tuple, notes: Footnotes) -> list:
    """Lines on the methods not in the table: those that run on every family run, those that
    fail on some (where, the error a footnote), those with a constant map."""
    ran = st[st.status != "not run"]
    others = [m for m in dict.fromkeys(ran.method) if m not in main]
    everywhere = [m for m in others if (ran[ran.method == m].status != "error").all()]
    lines = []
    if everywhere:
        lines.append(f"- The other methods that run on every family: {', '.join(everywhere)}.")
    for m in others:
        failed = ran[(ran.method == m) & (ran.status == "error")]
        if len(failed):
            where = ", ".join(f"{r.family} {notes.mark(r.error).removeprefix(FAILS).strip()}"
                              for r in failed.itertuples())
            lines.append(f"- {m} fails on {where}.")
    constant = ran[(ran.status == "constant") & ran.method.isin(others)]
    if len(constant):
        by_method = constant.groupby("method", sort=False).family.agg(", ".join)
        lines.append(f"- {CONSTANT} constant maps: " + "; ".join(f"{m} on {f}" for m, f in by_method.items()) + ".")
    return lines


def _compact(st: pd.DataFrame, methods, notes: Footnotes) -> list:
    methods = [m for m in methods if m in set(st.method)]
    return [md_table(_grid(st, methods, notes, with_time=True)), *_others(st, tuple(methods), notes), ""]


def compact(results: pd.DataFrame, methods=MAIN_METHODS) -> list:
    """The README's table: families × ``methods`` (mark and time per image, second call),
    LRP's relevance kept, a line on every other method, and the errors."""
    st = status(results)
    if st.empty:
        return []
    notes = Footnotes()
    return [*_compact(st, methods, notes), *notes.markdown()]


def _numbers(st: pd.DataFrame, column: str, fmt) -> pd.DataFrame:
    t = st.pivot_table(index="family", columns="method", values=column, aggfunc="first", sort=False)
    t = t.reindex(index=list(dict.fromkeys(st.family)), columns=list(dict.fromkeys(st.method)))
    return t.apply(lambda c: c.map(lambda v: fmt(v) if np.isfinite(v) else "–")).reset_index()


def markdown(results: pd.DataFrame) -> list:
    """The zoo section: the compact table, every method's marks, times per image and first
    calls, the errors."""
    st = status(results)
    if st.empty:
        return []
    notes = Footnotes()
    main = [m for m in MAIN_METHODS if m in set(st.method)]
    parts = ["## Zoo: the architecture families × the methods (random weights)\n",
             "Each family built with random weights (`benchmarks/models/architectures.py`), explained at "
             "tfcam's default layer for its top-1 class. " + LEGEND + " Times: a second call after the first "
             "(which builds and compiles), per image. LRP relevance kept: the input relevance summed over "
             "what the walk started from (1 at the explained logit: tfcam's `start=\"one_hot\"`), mean over "
             "images; 1 is conservation.\n"]
    if main:
        parts += ["### The main methods\n", *_compact(st, main, notes)]
    every = _grid(st, list(dict.fromkeys(st.method)), notes, with_time=False)
    parts += ["### Every method\n", md_table(every), *notes.markdown(),
              "### Time per image (ms, second call)\n",
              md_table(_numbers(st, "seconds_per_image", lambda v: f"{1000 * v:.1f}")),
              "### First call (s: builds the explainer and compiles)\n",
              md_table(_numbers(st, "first_call_seconds", lambda v: f"{v:.1f}"))]
    return parts
