"""Statistics over the results table: per-cell mean ± std, Win % (pairwise, against Grad-CAM),
Best of all %, paired tests and how they read."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..report.common import fmt, higher_is_better, sort_key

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


# The independent unit of each value row (``source`` column): a paired test averages its
# differences per unit first (one grid cell is not an independent sample when its photo fills
# other cells too). Rows without one (tables written before the column) fall back to the
# image, or for the grid pointing game's cells to their grid.
UNIT_COLUMN = "source"
# Above this many units SciPy's Wilcoxon test leaves the exact distribution; below it the
# smallest two-sided p on k units that differ is 2 / 2**k.
EXACT_MAX_UNITS = 50


def _has_cells(rows: pd.DataFrame) -> bool:
    return "cell" in rows and rows.cell.notna().any() and (rows.cell.astype(str) != "").any()


def unit_ids(rows: pd.DataFrame) -> pd.Series:
    """The independent unit of each row: its ``source`` (a grid cell's photo, another task's
    image id) where recorded; else its grid (``grid <image>``) for a grid cell, its image
    otherwise."""
    image = rows.image.astype(str) if "image" in rows else pd.Series("", index=rows.index)
    fallback = ("grid " + image) if _has_cells(rows) else image
    if UNIT_COLUMN not in rows:
        return fallback
    source = rows[UNIT_COLUMN].fillna("").astype(str)
    return source.where(source != "", fallback)


def unit_noun(rows: pd.DataFrame, units: pd.Series | None = None) -> str:
    """What the units are, for the text: ``photos`` when recorded sources pool several values
    (grid cells, grids that explain one photo), ``grids`` for cells pooled by the fallback,
    else ``images``."""
    units = unit_ids(rows) if units is None else units
    if units.nunique() == len(units):
        return "images"
    recorded = UNIT_COLUMN in rows and (rows[UNIT_COLUMN].fillna("").astype(str) != "").all()
    return "photos" if recorded or not _has_cells(rows) else "grids"


def _singular(noun: str) -> str:
    return noun[:-1] if noun.endswith("s") else noun


class Paired(tuple):
    """A paired test's result: unpacks as ``(d, p, n)``; ``d`` the mean difference a-b over the
    pairs, ``p`` the two-sided Wilcoxon signed-rank p over the per-unit mean differences,
    ``n`` the independent units. Also ``pairs`` (values paired), ``unit`` and ``pair_unit``
    (nouns: photos, grid cells ...), ``differing`` (units whose mean difference is not 0: the
    test's own n) and ``unit_diffs`` (one mean difference per unit)."""

    def __new__(cls, d, p, n, pairs=0, unit="images", pair_unit="images", differing=None, unit_diffs=None):
        self = super().__new__(cls, (d, p, n))
        self.pairs, self.unit, self.pair_unit = int(pairs), unit, pair_unit
        self.differing = int(n if differing is None else differing)
        self.unit_diffs = pd.Series(dtype=float) if unit_diffs is None else unit_diffs
        return self

    d = property(lambda self: self[0])
    p = property(lambda self: self[1])
    n = property(lambda self: self[2])


def paired(a: pd.Series, b: pd.Series, unit: str | None = None) -> Paired:
    """Mean difference a-b over the shared index and a two-sided Wilcoxon signed-rank p over
    the *independent units*: when the index has a ``unit`` level (`per_image`'s), the
    differences are averaged per unit first, and ``n`` counts units, not pairs. NaN p when
    no unit differs (or the test cannot be computed); see `describe` for how to print it.
    ``unit``: the units' noun (default: the index's, see `per_image`)."""
    pair_unit = "grid cells" if "cell" in (a.index.names or ()) else "images"
    noun = unit or (a.name if a.name in ("photos", "grids", "images") else "images")
    joined = pd.concat([a.rename("a"), b.rename("b")], axis=1).dropna()
    if joined.empty:
        return Paired(np.nan, np.nan, 0, 0, noun, pair_unit)
    d = joined.a - joined.b
    if "unit" in (joined.index.names or ()):
        per_unit = d.groupby(level="unit", sort=False).mean()
    else:
        per_unit = d.reset_index(drop=True)
    nonzero = per_unit[per_unit != 0].to_numpy(float)   # zero_method "wilcox": zeros dropped
    differing = len(nonzero)
    p = np.nan
    if differing:
        try:
            from scipy.stats import wilcoxon
            p = float(wilcoxon(nonzero).pvalue)
        except Exception:
            p = np.nan
    return Paired(float(d.mean()), p, len(per_unit), len(d), noun, pair_unit, differing, per_unit)


def p_text(p: float, n: int, d: float | None = None, unit: str = "images") -> str:
    """How a p reads without its units (see `describe` for a `paired` result): ``Wilcoxon
    p=…``; on fewer than `MIN_TEST_IMAGES` units "too few images for a test (n=…)"; when a and
    b are equal on every unit (``d`` 0 and no p) "identical on all n images"."""
    if d is not None and d == 0 and not np.isfinite(p) and n:
        return f"identical on all {n} {unit}"
    if n < MIN_TEST_IMAGES:
        return f"too few {unit} for a test (n={n})"
    if not np.isfinite(p):
        return "no test possible"
    return f"Wilcoxon p={p:.2g}"


def smallest_p(k: int) -> float:
    """The smallest two-sided p of an exact Wilcoxon signed-rank test on ``k`` nonzero
    differences: 2 / 2**k (all of one sign)."""
    return 2.0 / 2.0 ** k


def n_text(r: Paired) -> str:
    """The number of independent units of a `paired` result, and what was averaged into them:
    ``n=8 photos; the 32 grid cells averaged per photo``, ``n=64 images``."""
    pooled = f"; the {r.pairs} {r.pair_unit} averaged per {_singular(r.unit)}" if r.pairs > r.n else ""
    return f"n={r.n} {r.unit}{pooled}"


def describe(r: Paired) -> str:
    """A paired test with its number of independent units beside the p: ``Wilcoxon p=0.016,
    n=8 photos; the 32 grid cells averaged per photo``. Fewer than `MIN_TEST_IMAGES` units (or
    units whose mean difference is not 0) cannot reach p < 0.05 and print no p; a p at the
    floor of its n (`smallest_p`) says so: more units, not a larger effect, would lower it."""
    d, p, n = r
    pooled = f"; the {r.pairs} {r.pair_unit} averaged per {_singular(r.unit)}" if r.pairs > n else ""
    if d == 0 and not np.isfinite(p) and n:
        return f"identical on all {n} {r.unit}{pooled}"
    if n < MIN_TEST_IMAGES:
        return f"too few {r.unit} for a test (n={n}{pooled})"
    if r.differing < MIN_TEST_IMAGES:
        return f"too few {r.unit} differ for a test ({r.differing} of n={n} {r.unit}{pooled})"
    if not np.isfinite(p):
        return f"no test possible ({n_text(r)})"
    if r.differing <= EXACT_MAX_UNITS and p <= smallest_p(r.differing) * (1 + 1e-9):
        k = f"{n} {r.unit}" if r.differing == n else f"the {r.differing} {r.unit} that differ"
        return f"Wilcoxon p={p:.2g}, n={n} {r.unit} (the smallest p {k} can give){pooled}"
    return f"Wilcoxon p={p:.2g}, {n_text(r)}"


def significant(p: float, n: int) -> bool:
    """p < 0.05 on enough images (units) for the test to mean anything."""
    return n >= MIN_TEST_IMAGES and np.isfinite(p) and p < 0.05


def significant_result(r: Paired) -> bool:
    """`significant` for a `paired` result: on enough independent units that differ."""
    return significant(r.p, r.differing)


def verdict_change(d: float, p: float, n: int = MIN_TEST_IMAGES) -> str:
    if not np.isfinite(d):
        return "no data"
    if significant(p, n):
        return "degrades" if d < 0 else "improves"
    return "no significant change"


def per_image(results, model, method, choice, metric) -> pd.Series:
    """The metric's value per image (per image and cell for the grid pointing game: each cell
    is its own explanation), for paired tests: indexed by (``unit``, ``image``[, ``cell``]),
    ``unit`` the independent unit of each value (`unit_ids`); the series' name is the units'
    noun (`unit_noun`)."""
    sel = results[(results.model == model) & (results.method == method) & (results.metric == metric)
                  & (results.layer_choice == choice)]
    keys = ["image", "cell"] if _has_cells(sel) else ["image"]
    sel = sel.assign(unit=unit_ids(sel))
    once = sel.drop_duplicates(keys)   # a value repeated (a sweep's jobs) pools nothing
    return sel.groupby(["unit", *keys]).value.first().rename(unit_noun(once, once.unit))
