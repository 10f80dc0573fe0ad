"""Statistics over the results table: per-cell mean ± std, Win % (pairwise, against Grad-CAM),
Best of all %, paired tests and how they read."""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.report.common import fmt, higher_is_better, sort_key

# Win % (Chattopadhyay et al., 2018, Grad-CAM++): the share of images on which a method's
# Average Drop is below that of Grad-CAM, the reference every row is compared with.
WIN_REFERENCE = "grad_cam"
# ``tfcam.metrics.win_percent``'s tie rule: drops within this many percentage points tie, and
# a tie counts half (so A over B plus B over A is 100).
TIE_TOLERANCE = 1e-6
# Below this many images a two-sided Wilcoxon signed-rank test cannot reach p < 0.05 (its
# smallest exact p on n images is 2 / 2**n: 0.0625 on 5), so none is reported.
MIN_TEST_IMAGES = 6


def _drops(results: pd.DataFrame) -> pd.DataFrame:
    return results[(results.task == "faithfulness") & (results.metric == "average_drop") & results.value.notna()]


def win_percent(results: pd.DataFrame, reference: str = WIN_REFERENCE) -> pd.DataFrame:
    """Pairwise Win % against ``reference`` (tfcam's Grad-CAM): per model × method × layer
    choice, the share of images on which the method's Average Drop is lower than the
    reference's at the same model and layer choice (at the last layer for input-space methods
    and baselines), ties counting half: the per-image rule of ``tfcam.metrics.win_percent``
    applied to the stored drops. Adding a method changes no other method's Win %. tf-keras-vis
    rows are compared with tfcam's Grad-CAM too, so every row has the same reference.
    Rows: model, method, library, layer_choice, win_percent, images, against."""
    drops = _drops(results)
    rows = []
    for model, dm in drops.groupby("model", sort=False):
        ref = dm[(dm.method == reference) & (dm.library == "tfcam")]
        for (method, library, choice), g in dm.groupby(["method", "library", "layer_choice"], sort=False):
            if method == reference and library == "tfcam":
                continue
            against = "last" if choice == "input" else choice
            b = ref[ref.layer_choice == against].groupby("image").value.first()
            a = g.groupby("image").value.first()
            both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
            if both.empty:
                continue
            diff = both.b - both.a
            per_image = np.where(diff.abs() <= TIE_TOLERANCE, 50.0, np.where(diff > 0, 100.0, 0.0))
            rows.append({"model": model, "method": method, "library": library, "layer_choice": choice,
                         "win_percent": float(per_image.mean()), "images": len(both),
                         "against": f"{reference}@{against}"})
    return pd.DataFrame(rows, columns=["model", "method", "library", "layer_choice", "win_percent", "images",
                                       "against"])


def best_of_all(results: pd.DataFrame) -> pd.DataFrame:
    """"Best of all %": share of images on which each method has the lowest Average Drop among
    all the methods run at the same model and layer choice (input-space methods and reference
    maps compete at every layer), ties sharing the win. Unlike Win %, it changes when a method
    is added. Rows: model, layer_choice, method, best_of_all, images."""
    drops = _drops(results)
    rows = []
    for model, dm in drops.groupby("model"):
        layered = sorted(set(dm.layer_choice) - {"input"}) or ["input"]
        for choice in layered:
            sel = dm[dm.layer_choice.isin([choice, "input"])]
            wide = sel.pivot_table(index="image", columns="method", values="value", aggfunc="first").dropna()
            if wide.empty or wide.shape[1] < 2:
                continue
            best = wide.min(axis=1)
            winners = wide.le(best + TIE_TOLERANCE, axis=0)
            share = winners.div(winners.sum(axis=1), axis=0).sum() / len(wide) * 100
            for method, v in share.items():
                rows.append({"model": model, "layer_choice": choice, "method": method, "best_of_all": float(v),
                             "images": len(wide)})
    return pd.DataFrame(rows, columns=["model", "layer_choice", "method", "best_of_all", "images"])


# Column titles of the metrics computed here rather than read from the table.
LABELS = {"win_percent": f"Win % vs {WIN_REFERENCE}", "best_of_all": "Best of all %"}


def _share_cell(shares: pd.DataFrame, column: str, row: dict) -> str:
    if shares.empty:
        return "–"
    sel = shares[(shares.model == row["model"]) & (shares.method == row["method"])]
    if "library" in shares:
        sel = sel[sel.library == row["library"]]
    if row["layer_choice"] != "input" or column == "win_percent":
        sel = sel[sel.layer_choice == row["layer_choice"]]
    return "–" if sel.empty else " / ".join(f"{v:.0f}" for v in sel[column])


def metric_table(results: pd.DataFrame, task: str, metrics: list) -> pd.DataFrame:
    """mean ± std per model × method × layer choice (columns: metrics); failed cells say so.
    ``win_percent`` and ``best_of_all`` are computed from the Average Drop rows (see there)."""
    sub = results[results.task == task]
    if sub.empty:
        return pd.DataFrame()
    shares = {"win_percent": win_percent(results) if "win_percent" in metrics else None,
              "best_of_all": best_of_all(results) if "best_of_all" in metrics else None}
    keys = ["model", "method", "library", "layer_choice"]
    out = []
    for key, g in sub.groupby(keys, sort=False):
        row = dict(zip(keys, key))
        ok = g[g.metric != "error"]
        row["layer"] = next((x for x in g.layer if x), "")
        errors = g[g.metric == "error"]
        for metric in metrics:
            if shares.get(metric) is not None:
                reference = metric == "win_percent" and row["method"] == WIN_REFERENCE and row["library"] == "tfcam"
                row[metric] = "(reference)" if reference else _share_cell(shares[metric], metric, row)
                continue
            vals = ok[ok.metric == metric].value.dropna().to_numpy(float)
            row[metric] = fmt(vals.mean(), vals.std(), len(vals)) if len(vals) else "–"
        n = ok[ok.metric == metrics[0]].image.nunique() if len(ok) else 0
        row["n"] = int(n)
        if len(errors):
            row["note"] = f"failed on {len(errors)} batch(es): {errors.error.iloc[0]}"
        else:
            row["note"] = ""
        out.append(row)
    df = sort_key(pd.DataFrame(out))
    arrows = {m: f"{LABELS.get(m, m)} {'↑' if higher_is_better(m) else '↓'}" for m in metrics}
    return df.rename(columns=arrows)


def paired(a: pd.Series, b: pd.Series) -> tuple:
    """Mean difference a-b over shared images and a two-sided Wilcoxon signed-rank p: NaN when
    no image differs (or the test cannot be computed); see `p_text` for how to print it."""
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


def p_text(p: float, n: int, d: float | None = None) -> str:
    """How a paired test reads in the summary: ``Wilcoxon p=…``; on fewer than
    `MIN_TEST_IMAGES` images "too few images for a test (n=…)"; when a and b are equal on
    every image (``d`` 0 and no p) "identical on all n images"."""
    if d is not None and d == 0 and not np.isfinite(p) and n:
        return f"identical on all {n} images"
    if n < MIN_TEST_IMAGES:
        return f"too few images for a test (n={n})"
    if not np.isfinite(p):
        return "no test possible"
    return f"Wilcoxon p={p:.2g}"


def significant(p: float, n: int) -> bool:
    """p < 0.05 on enough images for the test to mean anything."""
    return n >= MIN_TEST_IMAGES and np.isfinite(p) and p < 0.05


def verdict_change(d: float, p: float, n: int = MIN_TEST_IMAGES) -> str:
    if not np.isfinite(d):
        return "no data"
    if significant(p, n):
        return "degrades" if d < 0 else "improves"
    return "no significant change"


def per_image(results, model, method, choice, metric) -> pd.Series:
    """The metric's value per image (per image and cell for the grid pointing game: each cell
    is its own explanation), for paired tests."""
    sel = results[(results.model == model) & (results.method == method) & (results.metric == metric)
                  & (results.layer_choice == choice)]
    if "cell" in sel and sel.cell.notna().any() and (sel.cell.astype(str) != "").any():
        return sel.groupby(["image", "cell"]).value.first()
    return sel.groupby("image").value.first()
