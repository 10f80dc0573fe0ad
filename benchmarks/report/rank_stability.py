"""How far each metric's ranking of the methods can be trusted on this data: its stability
under resampling of the images, the question MetaQuantus (Hedström et al., "The
Meta-Evaluation Problem in Explainable AI", TMLR 2023) asks of a metric: does its verdict
survive small changes of what it is computed on?

Per metric × model × layer choice (the rows at that layer choice and the input-space methods
and reference maps beside them, as Best of all % compares them): one mean per independent unit
(``source``: the image; on grids the photo) and method, over the units every method was scored
on. Then ``B`` times (seeded) the units are split at random into two disjoint halves, the
methods ranked by their mean on each half, and the two rankings compared:

* ``tau``: the mean Kendall τ-b between the two halves' rankings (1: every split orders the
  methods alike; 0: the order on one half says nothing about the other: noise);
* ``tau_low``: its 5th percentile over the splits;
* ``top_kept``: the share of splits whose halves agree on the best method (by the metric's
  direction; 1/M by chance among M methods).

Why halves and not bootstrap resamples compared with the full ranking: a resample drawn with
replacement from the units shares most of them with the full set, so its ranking agrees with
the full one even when the metric is pure noise (τ ≈ 0.5–0.65 on a table of pure noise,
`tests/benchmarks/test_rank_stability.py`); two disjoint halves share none, so noise reads 0.
Each half has n/2 units: the τ is that of a ranking made from half the images, a conservative
estimate for all of them. A metric whose τ is low on this data cannot rank these methods here,
whatever its mean differences look like. Pairs of methods whose means tie on all the units
are left out of τ: they have no order to keep, and the halves of a tie order them oppositely by
construction (their differences sum to zero), which would read as τ = −1. A metric on which
every method ties has no ranking (τ undefined; Increase in Confidence, a 0/100 count, often).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..report.common import at_paper_deltas, higher_is_better
from ..report.stats import MIN_TEST_IMAGES, unit_ids

N_SPLITS = 200
SEED = 0
MIN_METHODS = 3        # Kendall τ on two methods is +1 or −1, nothing between
# a split needs 3 units a half; fewer (2 a half: 3 distinct splits of 4 units) rank noise
MIN_UNITS = MIN_TEST_IMAGES
# The tasks whose per-image metrics rank methods, every metric of each (Loc(δ) at the papers'
# δ) but timings and the unmasked confidence; infidelity per perturbation (``perturbation``).
RANKED_TASKS = ("localization", "grid_pointing", "faithfulness", "robustness", "complexity")
NOT_RANKED = {"explain_seconds_per_image", "original_confidence", "error"}
VARIANT_COLUMN = "perturbation"
COLUMNS = ["task", "metric", "model", "layer_choice", "methods", "units", "tau", "tau_low", "top_kept", "top",
           "higher_is_better"]


def metric_label(metric: str, variant: str = "") -> str:
    """The name a metric is shown under: ``infidelity (square)`` for a variant."""
    return f"{metric} ({variant})" if variant else metric


def kendall_tau_b(samples: np.ndarray, reference: np.ndarray, pairs: np.ndarray | None = None) -> np.ndarray:
    """Kendall τ-b of each row of ``samples`` (B, M) with the same row of ``reference`` (B, M)
    (or with ``reference`` (M,) for every row), over the method pairs ``pairs`` keeps (a bool
    mask over ``np.triu_indices(M, 1)``; None: all); NaN where either ranking ties every pair."""
    reference = np.broadcast_to(reference, samples.shape)
    i, j = np.triu_indices(samples.shape[1], 1)
    if pairs is not None:
        i, j = i[pairs], j[pairs]
    a = np.sign(samples[:, i] - samples[:, j])
    b = np.sign(reference[:, i] - reference[:, j])
    untied_a, untied_b = (a != 0).sum(axis=1), (b != 0).sum(axis=1)
    den = np.sqrt(untied_a * untied_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=1) / np.where(den > 0, den, 1), np.nan)


def _best(means: np.ndarray, higher: bool) -> np.ndarray:
    """(B, M) bool: the best method(s) of each row of ``means`` (B, M)."""
    best = means.max(axis=1, keepdims=True) if higher else means.min(axis=1, keepdims=True)
    return np.isclose(means, best, rtol=0, atol=1e-12)


def stability(wide: pd.DataFrame, higher: bool, n_splits: int = N_SPLITS, seed: int = SEED) -> dict:
    """Split-half stability of the ranking of ``wide``'s columns (methods) by their means over
    its rows (units): {tau, tau_low, top_kept, top} (``top``: the best on all units)."""
    values = wide.to_numpy(float)
    half = len(values) // 2
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((n_splits, len(values))), axis=1)   # a random permutation per split
    first = values[order[:, :half]].mean(axis=1)                      # (B, M)
    second = values[order[:, half:2 * half]].mean(axis=1)
    full = values.mean(axis=0)
    i, j = np.triu_indices(len(full), 1)
    ordered = ~np.isclose(full[i], full[j], rtol=1e-9, atol=1e-12)   # tied on all units: no order
    taus = kendall_tau_b(first, second, ordered)
    # the halves agree on the top when the first half's best (the first, on ties) is among the second's
    kept = _best(second, higher)[np.arange(n_splits), _best(first, higher).argmax(axis=1)]
    full_best = _best(full[None], higher)[0]
    top = [str(c) for c, b in zip(wide.columns, full_best) if b]
    finite = taus[np.isfinite(taus)]
    return {"tau": float(finite.mean()) if len(finite) else np.nan,
            "tau_low": float(np.percentile(finite, 5)) if len(finite) else np.nan,
            "top_kept": float(kept.mean()), "top": " = ".join(top) if len(top) < len(full) else "(all tie)"}


def _method_name(key) -> str:
    method, library, choice = key
    return f"{method}@{choice}" if choice != "input" else method


def _rankable(results: pd.DataFrame) -> pd.DataFrame:
    rows = results[results.task.isin(RANKED_TASKS) & ~results.metric.isin(NOT_RANKED) & results.value.notna()]
    rows = at_paper_deltas(rows)                # Loc(δ) at each paper's δ, under its own name
    variant = rows[VARIANT_COLUMN].fillna("").astype(str) if VARIANT_COLUMN in rows else ""
    return rows.assign(unit=unit_ids(rows), variant=variant)


def _direction(metric: str):
    try:
        return higher_is_better(metric)
    except KeyError:
        return None


def rank_stability(results: pd.DataFrame, n_splits: int = N_SPLITS, seed: int = SEED) -> pd.DataFrame:
    """One row per task × metric (× perturbation) × model × layer choice with at least
    `MIN_METHODS` methods on at least `MIN_UNITS` shared units (columns `COLUMNS`)."""
    rows = _rankable(results)
    out = []
    for (task, metric, variant, model), g in rows.groupby(["task", "metric", "variant", "model"], sort=False):
        higher = _direction(metric)
        if higher is None:
            continue
        layered = sorted(set(g.layer_choice) - {"input"}) or ["input"]
        for choice in layered:
            sel = g[g.layer_choice.isin([choice, "input"])]
            wide = sel.pivot_table(index="unit", columns=["method", "library", "layer_choice"], values="value",
                                   aggfunc="mean").dropna()
            if wide.shape[1] < MIN_METHODS or len(wide) < MIN_UNITS:
                continue
            wide.columns = [_method_name(k) for k in wide.columns]
            out.append({"task": task, "metric": metric_label(metric, variant), "model": model,
                        "layer_choice": choice, "methods": wide.shape[1], "units": len(wide),
                        **stability(wide, higher, n_splits, seed), "higher_is_better": higher})
    return pd.DataFrame(out, columns=COLUMNS)


def per_metric(table: pd.DataFrame) -> pd.DataFrame:
    """The stability of each model × metric over its layer choices: the mean τ, the least
    stable layer choice and its τ, the mean share of resamples keeping the top."""
    if table.empty:
        return pd.DataFrame()
    out = []
    for (model, task, metric), g in table.groupby(["model", "task", "metric"], sort=False):
        worst = g.loc[g.tau.idxmin()] if g.tau.notna().any() else None
        out.append({"model": model, "task": task, "metric": metric, "layer choices": len(g),
                    "methods": (f"{g.methods.min()}" if g.methods.nunique() == 1
                                else f"{g.methods.min()}–{g.methods.max()}"),
                    "units": int(g.units.max()), "tau": g.tau.mean(), "tau_min": np.nan if worst is None else worst.tau,
                    "least stable at": "" if worst is None else worst.layer_choice,
                    "top_kept": g.top_kept.mean()})
    order = {t: i for i, t in enumerate(RANKED_TASKS)}
    frame = pd.DataFrame(out)
    return frame.sort_values(["model", "task"], key=lambda c: c.map(order) if c.name == "task" else c.map(
        {m: i for i, m in enumerate(dict.fromkeys(frame.model))}), kind="stable").reset_index(drop=True)
