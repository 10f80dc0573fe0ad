"""The sections of summary.md, one per task (``SECTIONS``, in the summary's order); each
reads its task's rows, typed columns included, and returns markdown blocks."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..report import rank_stability as stability
from ..report import speed as speed_section
from ..report import zoo as zoo_section
from ..report.common import (
    TASK_METRICS,
    at_paper_deltas,
    deltas,
    higher_is_better,
    md_table,
    paper_metrics,
    sort_key,
)
from ..report.stats import WIN_REFERENCE, metric_table, win_percent

# ROAD's columns in the faithfulness table, beside deletion and insertion, when a run has them
ROAD_METRICS = ["road_morf", "road_lerf"]


def models(results: pd.DataFrame) -> list:
    models = results[results.task == "model"]
    if models.empty:
        return []
    rows = []
    for name, g in models.groupby("model", sort=False):
        def get(m, g=g):
            return g[g.metric == m].value.iloc[0] if (g.metric == m).any() else np.nan
        skipped = g[g.metric == "not_accurate_enough"]
        rows.append({"model": name, "weights": g.weights.iloc[0],
                     "val accuracy": f"{get('val_accuracy'):.3f}" if np.isfinite(get("val_accuracy")) else "–",
                     "accuracy on these images (single-class)": (f"{get('eval_accuracy'):.3f}"
                                                                 if np.isfinite(get("eval_accuracy")) else "–"),
                     "status": (f"NOT ACCURATE ENOUGH: {skipped.error.iloc[0]} ({skipped.on_inaccurate.iloc[0]})"
                                if len(skipped) else "explained")})
    return ["## Models\n", md_table(pd.DataFrame(rows))]


def _metric_section(results: pd.DataFrame, task: str) -> list:
    table = metric_table(results, task, TASK_METRICS[task])
    return [] if table.empty else [f"## {task.capitalize()} (mean ± std over images)\n", md_table(table)]


def localization(results: pd.DataFrame) -> list:
    """The metrics table, Loc(δ) in it at each paper's δ only, then Loc(δ) at every δ run."""
    table = metric_table(at_paper_deltas(results), "localization", paper_metrics(TASK_METRICS["localization"]))
    if table.empty:
        return []
    return ["## Localization (mean ± std over images)\n", md_table(table), *loc_delta_over_deltas(results)]


def loc_delta_over_deltas(results: pd.DataFrame) -> list:
    """Mean Loc(δ) over images at every δ of the run: one column per δ, never mixed."""
    loc = results[(results.task == "localization") & (results.metric == "loc_delta")]
    loc = loc.assign(delta=deltas(loc)).dropna(subset=["delta", "value"])
    if loc.delta.nunique() < 2:
        return []
    keys = ["model", "method", "library", "layer_choice"]
    t = loc.pivot_table(index=keys, columns="delta", values="value", aggfunc="mean").reset_index()
    t = sort_key(t)
    t.columns = [c if isinstance(c, str) else f"δ={c:g}" for c in t.columns]
    for c in t.columns[len(keys):]:
        t[c] = t[c].map(lambda v: f"{v:.3f}" if np.isfinite(v) else "–")
    return ["Loc(δ) (Chattopadhyay et al., 2018: pixels of the map ≥ δ inside the object over the object's "
            "area plus those outside) at every δ run, mean over images; the table above shows it at each "
            "paper's δ. Figure: `loc_delta_curve.png`.\n", md_table(t)]


def grid_pointing(results: pd.DataFrame) -> list:
    """The grid pointing game (Rao, Böhle & Schiele, CVPR 2022): mean over grids × cells."""
    table = metric_table(results, "grid_pointing", TASK_METRICS["grid_pointing"])
    if table.empty:
        return []
    return ["## Grid pointing game (mean ± std over grids × cells)\n",
            "Each 2×2 grid holds four photos of different classes; each cell's class is explained "
            "and scored by the share of the map's positive attribution inside that cell "
            "(`grid_localization`, chance 0.25) and by whether its maximum lies there "
            "(`grid_pointing`). `n` counts grids (four explanations each). The photos repeat "
            "across grids, so the findings' paired tests average each photo's cells first: "
            "their n counts photos.\n", md_table(table)]


def faithfulness(results: pd.DataFrame) -> list:
    faith = results[results.task == "faithfulness"]
    road = [m for m in ROAD_METRICS if (faith.metric == m).any()]
    table = metric_table(results, "faithfulness", TASK_METRICS["faithfulness"] + road)
    parts = [] if table.empty else ["## Faithfulness (mean ± std over images)\n", md_table(table)]
    if parts and road:
        n = faith[faith.metric == road[0]].groupby(["model", "method", "layer_choice"]).image.nunique().max()
        parts.append(f"ROAD (Rong et al., 2022): the explained class's probability, averaged over the shares of "
                     f"pixels removed (most relevant first: MoRF, lower is better; least relevant first: LeRF, "
                     f"higher is better), the removed pixels filled by noisy linear imputation; on the first "
                     f"{n} images (`road_n_images`; `n` counts Average Drop's). Figure: `road_<model>.png`.\n")
    if parts and not win_percent(results).empty:
        parts.append(f"Win % (Chattopadhyay et al., 2018): share of images on which the method's Average Drop is "
                     f"lower than that of tfcam's {WIN_REFERENCE} on the same model at the same layer choice (at "
                     f"the last layer for input-space methods and baselines); ties count half. It compares two "
                     f"methods, so adding a method changes no other row. Best of all %: share of images on which "
                     f"the method has the lowest Average Drop of all the methods at that layer (input-space and "
                     f"reference maps compete at every layer, one value per layer for those); it depends on "
                     f"which methods were run.\n")
    return parts


def _fmt(values: np.ndarray) -> str:
    """mean ± std with 3 significant digits (infidelity's logit² spans decades)."""
    return f"{values.mean():.3g} ± {values.std():.2g}" if len(values) else "–"


def robustness(results: pd.DataFrame) -> list:
    """Infidelity per perturbation, max-sensitivity and completeness: mean ± std over images."""
    rob = results[results.task == "robustness"]
    if rob.empty:
        return []
    variant = rob.perturbation.fillna("").astype(str) if "perturbation" in rob else pd.Series("", index=rob.index)
    rob = rob.assign(variant=variant)
    ok = rob[rob.metric != "error"]
    columns = [(f"infidelity ({p}) {'↑' if higher_is_better('infidelity') else '↓'}", "infidelity", p)
               for p in sorted(set(ok.variant[ok.metric == "infidelity"]))]
    columns += [(f"{m} {'↑' if higher_is_better(m) else '↓'}", m, "") for m in ("max_sensitivity", "completeness")
                if (ok.metric == m).any()]
    keys = ["model", "method", "library", "layer_choice"]
    out = []
    for key, g in rob.groupby(keys, sort=False):
        good = g[~g.metric.isin(["error", "explain_seconds_per_image"])]  # the timing row has image -1
        row = dict(zip(keys, key))
        # Φ of infidelity and max-sensitivity (completeness always reads the attributions)
        phis = good[good.metric != "completeness"].phi if "phi" in good else pd.Series(dtype=str)
        row["Φ"] = ", ".join(sorted(set(phis.fillna("").astype(str)) - {""}))
        for title, metric, p in columns:
            row[title] = _fmt(good[(good.metric == metric) & (good.variant == p)].value.dropna().to_numpy(float))
        row["n"] = int(good.image.nunique())
        errors = g[g.metric == "error"]
        row["note"] = f"failed: {errors.error.iloc[0]}" if len(errors) else ""
        out.append(row)
    return ["## Robustness (mean ± std over images)\n",
            "Infidelity (Yeh et al., 2019): the mean squared error between Φ summed under each perturbation and "
            "the change of the explained class's logit it makes, with Yeh's optimal scale of Φ (so [0, 1] maps "
            "and raw attributions compare), in logit²; per perturbation (square: a square removed to the "
            "masking fill; gaussian: noise on every value). Max-sensitivity: the largest relative change of the "
            "map over small random moves of the input (an image-blind map, such as the centred Gaussian, scores "
            "0 by construction). Completeness: |Σ attributions − (f(x) − f(baseline))| / |f(x) − f(baseline)| "
            "for the methods with input-space attributions. Φ: the maps, or the method's attributions "
            "(`metrics.robustness.phi`).\n", md_table(sort_key(pd.DataFrame(out)))]


def complexity(results: pd.DataFrame) -> list:
    table = metric_table(results, "complexity", ["sparseness", "complexity"])
    if table.empty:
        return []
    return ["## Complexity of the maps (mean ± std over images)\n",
            "Sparseness: the Gini index of the map (Chalasani et al., 2020; 0 uniform, 1 one pixel); complexity: "
            "the entropy of the map as a distribution over pixels, in nats (Bhatt et al., 2020; log(H·W) "
            "uniform). Both ignore whether the map is on the object: read them beside localization.\n",
            md_table(table)]


def rank_stability(results: pd.DataFrame) -> list:
    """How stable each metric's ranking of the methods is when the images are resampled."""
    table = stability.per_metric(stability.rank_stability(results))
    if table.empty:
        return []
    for c in ("tau", "tau_min"):
        table[c] = table[c].map(lambda v: f"{v:.2f}".replace("-0.00", "0.00") if np.isfinite(v) else "– (all tie)")
    table["top_kept"] = table["top_kept"].map(lambda v: f"{100 * v:.0f}%")
    table = table.rename(columns={"tau": "mean τ", "tau_min": "lowest τ", "top_kept": "top kept"})
    return [f"## Rank stability of the metrics (split-half resampling of the images, B={stability.N_SPLITS})\n",
            "As MetaQuantus (Hedström et al., 2023) asks: is a metric's ranking of the methods a property of the "
            "methods or of the images it happened to be computed on? Per model × layer choice, the methods "
            "(input-space and reference maps beside each layer's) are ranked by their mean over the independent "
            f"units (`source`) of each half of a random split of the units, {stability.N_SPLITS} splits (seeded). "
            "`mean τ`: the mean Kendall τ between the two halves' rankings, averaged over the layer choices (1: "
            "the order never changes; 0: it is noise); `lowest τ`: the least stable layer choice's; `top kept`: "
            "the share of splits whose halves agree on the best method (1/methods by chance). Each half holds "
            "half the units: the τ is that of a ranking from half the images, a conservative estimate. Metrics "
            f"with fewer than {stability.MIN_METHODS} methods or {stability.MIN_UNITS} units are not ranked. "
            "Figure: `rank_stability.png`.\n", md_table(table)]


def agreement(results: pd.DataFrame) -> list:
    agree = results[(results.task == "agreement") & (results.metric == "spearman_vs_tfcam")]
    if agree.empty:
        return []
    t = (agree.groupby(["model", "method", "counterpart", "layer_choice"]).value
         .agg(["mean", "std", "median", "count"]).reset_index())
    t = t.rename(columns={"counterpart": "tfcam counterpart", "count": "n"})
    for c in ("mean", "std", "median"):
        t[c] = t[c].map(lambda v: f"{v:.3f}")
    return ["## Agreement: tf-keras-vis vs tfcam (Spearman rank correlation of the maps)\n", md_table(t)]


def sanity(results: pd.DataFrame) -> list:
    san = results[(results.task == "sanity") & (results.metric != "error")]
    if san.empty:
        return []
    san = san.assign(step=san.step.astype(int))
    last = san[san.step == san.groupby(["model", "method", "layer_choice", "mode"]).step.transform("max")]
    t = last.groupby(["model", "method", "layer_choice", "mode", "metric"]).value.mean().unstack("metric").reset_index()
    for c in t.columns[4:]:
        t[c] = t[c].map(lambda v: f"{v:.3f}")
    return ["## Sanity checks: similarity to the trained model's maps at the last randomization step\n",
            "Lower is better (a method should depend on the weights). Cascading: all listed layers "
            "randomized; independent: the bottom layer alone.\n", md_table(t)]


def shattered_gradients(results: pd.DataFrame) -> list:
    shat = results[(results.task == "shattered_gradients") & (results.metric != "error")]
    if shat.empty:
        return []
    t = shat.groupby(["model", "layer", "metric"]).value.mean().unstack("metric").reset_index()
    order = {ln: i for i, ln in enumerate(dict.fromkeys(shat.layer))}
    t = t.sort_values(["model", "layer"], key=lambda s: s.map(order) if s.name == "layer" else s)
    for c in t.columns[2:]:
        t[c] = t[c].map(lambda v: f"{v:.3f}")
    return ["## Shattered gradients per layer (means over images)\n", md_table(t),
            "At a layer that feeds global average pooling directly, the gradient is the same at every "
            "position (autocorrelation reported as 0, sign coherence 1): that layer's row says nothing "
            "about shattering.\n"]


def speed(results: pd.DataFrame) -> list:
    return speed_section.markdown(results, md_table)


SECTIONS = {"localization": localization, "grid_pointing": grid_pointing, "faithfulness": faithfulness,
            "robustness": robustness, "complexity": complexity, "rank_stability": rank_stability,
            "agreement": agreement,
            "sanity": sanity, "shattered_gradients": shattered_gradients, "speed": speed,
            "zoo": zoo_section.markdown}
