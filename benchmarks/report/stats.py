"""Statistics over the results table: per-cell mean ± std, Win %, paired tests."""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.report.common import HIGHER_IS_BETTER, fmt, sort_key


def win_percent(results: pd.DataFrame) -> pd.DataFrame:
    """Share of images on which each method has the lowest Average Drop among the methods
    run at the same model and layer choice (input-space methods and reference maps compete
    at every layer). Ties share the win. Rows: model, layer_choice, method, value (%)."""
    drops = results[(results.metric == "average_drop") & results.value.notna()]
    rows = []
    for model, dm in drops.groupby("model"):
        layered = sorted(set(dm.layer_choice) - {"input"}) or ["input"]
        for choice in layered:
            sel = dm[dm.layer_choice.isin([choice, "input"])]
            wide = sel.pivot_table(index="image", columns="method", values="value", aggfunc="first").dropna()
            if wide.empty or wide.shape[1] < 2:
                continue
            best = wide.min(axis=1)
            winners = wide.le(best + 1e-9, axis=0)
            share = winners.div(winners.sum(axis=1), axis=0).sum() / len(wide) * 100
            for method, v in share.items():
                rows.append({"model": model, "layer_choice": choice, "method": method, "win_percent": float(v),
                             "images": len(wide)})
    return pd.DataFrame(rows)


def metric_table(results: pd.DataFrame, task: str, metrics: list, wins: pd.DataFrame | None = None) -> pd.DataFrame:
    """mean ± std per model × method × layer choice (columns: metrics); failed cells say so."""
    sub = results[results.task == task]
    if sub.empty:
        return pd.DataFrame()
    keys = ["model", "method", "library", "layer_choice"]
    out = []
    for key, g in sub.groupby(keys, sort=False):
        row = dict(zip(keys, key))
        ok = g[g.metric != "error"]
        row["layer"] = next((x for x in g.layer if x), "")
        errors = g[g.metric == "error"]
        for metric in metrics:
            vals = ok[ok.metric == metric].value.dropna().to_numpy(float)
            if metric == "win_percent" and wins is not None and not wins.empty:
                w = wins[(wins.model == row["model"]) & (wins.method == row["method"]) &
                         (wins.layer_choice.isin([row["layer_choice"]] if row["layer_choice"] != "input" else wins.layer_choice))]
                row[metric] = "–" if w.empty else " / ".join(f"{v:.0f}" for v in w.win_percent)
                continue
            row[metric] = fmt(vals.mean(), vals.std(), len(vals)) if len(vals) else "–"
        n = ok[ok.metric == metrics[0]].image.nunique() if len(ok) else 0
        row["n"] = int(n)
        if len(errors):
            row["note"] = f"failed on {len(errors)} batch(es): {errors.error.iloc[0]}"
        else:
            row["note"] = ""
        out.append(row)
    df = sort_key(pd.DataFrame(out))
    arrows = {m: f"{m} {'↑' if HIGHER_IS_BETTER.get(m, True) else '↓'}" for m in metrics}
    return df.rename(columns=arrows)


def paired(a: pd.Series, b: pd.Series) -> tuple:
    """Mean difference a-b over shared images and a two-sided Wilcoxon signed-rank p."""
    joined = pd.concat([a.rename("a"), b.rename("b")], axis=1).dropna()
    if joined.empty:
        return np.nan, np.nan, 0
    d = joined.a - joined.b
    p = np.nan
    if (d != 0).any():
        try:
            from scipy.stats import wilcoxon
            p = float(wilcoxon(joined.a, joined.b).pvalue)
        except Exception:
            p = np.nan
    return float(d.mean()), p, len(joined)


def verdict_change(d: float, p: float) -> str:
    if not np.isfinite(d):
        return "no data"
    if np.isfinite(p) and p < 0.05:
        return "degrades" if d < 0 else "improves"
    return "no significant change"


def per_image(results, model, method, choice, metric) -> pd.Series:
    sel = results[(results.model == model) & (results.method == method) & (results.metric == metric)
                  & (results.layer_choice == choice)]
    return sel.groupby("image").value.first()
