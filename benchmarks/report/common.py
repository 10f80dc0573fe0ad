"""What the report's modules share: metric directions, orders, markdown helpers."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

TASK_METRICS = {
    "localization": ["iou", "pointing_game", "energy_pointing_game", "loc_delta", "class_sensitivity"],
    "faithfulness": ["average_drop", "increase_in_confidence", "win_percent", "best_of_all", "deletion",
                     "insertion"],
    "grid_pointing": ["grid_localization", "grid_pointing"],
}
# Loc(δ) (Grad-CAM++) is stored at every δ of the run, the δ in the ``delta`` column. A table
# shows it at the δ each paper reports, in a column named after the paper (`at_paper_deltas`);
# a mean over all ``loc_delta`` rows would mix thresholds. Grad-CAM++ (Chattopadhyay et al.,
# WACV 2018) reports Loc(δ) at δ = 0.5 among others; see docs/benchmarks.md.
PAPER_DELTAS = {"Grad-CAM++": 0.5}


def loc_delta_labels() -> dict:
    """{δ: column title} for the papers' δ, papers sharing a δ sharing its column."""
    papers = {}
    for paper, delta in PAPER_DELTAS.items():
        papers.setdefault(float(delta), []).append(paper)
    return {d: f"Loc(δ={d:g}) [{', '.join(names)}]" for d, names in sorted(papers.items())}


# Directions of the columns the report itself derives (best_of_all: stats.best_of_all; the
# papers' Loc(δ)). A task's own metrics declare theirs in the task (``directions``), tfcam's
# metrics in tfcam (``register_direction``).
REPORT_DIRECTIONS = {"best_of_all": True, **{label: True for label in loc_delta_labels().values()}}


@functools.cache
def directions() -> dict:
    """{metric: higher is better} of the report's columns and of every task's own metrics; a
    ValueError where two homes disagree."""
    from ..tasks import TASKS
    out = dict(REPORT_DIRECTIONS)
    for task in TASKS.values():
        for metric, higher in getattr(task, "directions", {}).items():
            if out.setdefault(metric, higher) is not higher:
                raise ValueError(f"metric {metric!r} has two directions (task {task.name} says {higher})")
    return out


def higher_is_better(metric: str) -> bool:
    """Whether a larger ``metric`` is better: the report's and the tasks' own metrics
    (`directions`), else tfcam's (``tfcam.metrics.higher_is_better``); a KeyError for a
    metric neither knows."""
    own = directions()   # cached: the tasks' declarations are fixed at import
    if metric in own:
        return own[metric]
    from tfcam.metrics import HIGHER_IS_BETTER
    if metric not in HIGHER_IS_BETTER:
        raise KeyError(f"metric {metric!r} has no direction: a tfcam metric declares it with "
                       "tfcam.metrics.register_direction, a benchmark task's own metric in its "
                       "module's `directions`")
    return HIGHER_IS_BETTER[metric]


def deltas(df: pd.DataFrame) -> pd.Series:
    """The ``delta`` column as numbers (NaN where empty or where the table has none)."""
    if "delta" not in df:
        return pd.Series(np.nan, index=df.index)
    return pd.to_numeric(df["delta"], errors="coerce")


def at_paper_deltas(results: pd.DataFrame) -> pd.DataFrame:
    """The table with its ``loc_delta`` rows kept only at a paper's δ, their metric renamed to
    that δ's column title (`loc_delta_labels`); every other row unchanged."""
    is_loc = results.metric == "loc_delta"
    d = deltas(results)
    metric = results.metric.copy()
    keep = ~is_loc
    for delta, label in loc_delta_labels().items():
        hit = is_loc & np.isclose(d, delta, rtol=0, atol=1e-9)
        metric[hit] = label
        keep |= hit
    return results.assign(metric=metric)[keep]


def paper_metrics(metrics: list) -> list:
    """A task's metric list with ``loc_delta`` replaced by the papers' Loc(δ) columns."""
    out = []
    for m in metrics:
        out += list(loc_delta_labels().values()) if m == "loc_delta" else [m]
    return out


LAYER_ORDER = {"shallow": 0, "mid": 1, "middle": 1, "last": 2, "input": 3}
LIB_ORDER = {"tfcam": 0, "tf-keras-vis": 1, "baseline": 2}


def md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_(no rows)_\n"
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(v) for v in r.values) + " |")
    return "\n".join(lines) + "\n"


def fmt(mean, std, n, digits=3) -> str:
    if n == 0 or not np.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def sort_key(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["_l"] = df["layer_choice"].map(lambda x: LAYER_ORDER.get(x, 1.5))
    df["_lib"] = df["library"].map(lambda x: LIB_ORDER.get(x, 3))
    return df.sort_values(["model", "_l", "_lib", "method"]).drop(columns=["_l", "_lib"])
