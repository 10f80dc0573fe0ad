"""The sections of summary.md, one per task (``SECTIONS``, in the summary's order); each
reads its task's rows, typed columns included, and returns markdown blocks."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..report import speed as speed_section
from ..report import zoo as zoo_section
from ..report.common import TASK_METRICS, at_paper_deltas, deltas, md_table, paper_metrics, sort_key
from ..report.stats import WIN_REFERENCE, metric_table, win_percent


def models(results: pd.DataFrame) -> list:
    models = results[results.task == "model"]
    if models.empty:
        return []
    rows = []
    for name, g in models.groupby("model", sort=False):
        get = lambda m: g[g.metric == m].value.iloc[0] if (g.metric == m).any() else np.nan
        skipped = g[g.metric == "not_accurate_enough"]
        rows.append({"model": name, "weights": g.weights.iloc[0],
                     "val accuracy": f"{get('val_accuracy'):.3f}" if np.isfinite(get("val_accuracy")) else "–",
                     "accuracy on these images (single-class)": f"{get('eval_accuracy'):.3f}" if np.isfinite(get("eval_accuracy")) else "–",
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
    parts = _metric_section(results, "faithfulness")
    if parts and not win_percent(results).empty:
        parts.append(f"Win % (Chattopadhyay et al., 2018): share of images on which the method's Average Drop is "
                     f"lower than that of tfcam's {WIN_REFERENCE} on the same model at the same layer choice (at "
                     f"the last layer for input-space methods and baselines); ties count half. It compares two "
                     f"methods, so adding a method changes no other row. Best of all %: share of images on which "
                     f"the method has the lowest Average Drop of all the methods at that layer (input-space and "
                     f"reference maps compete at every layer, one value per layer for those); it depends on "
                     f"which methods were run.\n")
    return parts


def agreement(results: pd.DataFrame) -> list:
    agree = results[(results.task == "agreement") & (results.metric == "spearman_vs_tfcam")]
    if agree.empty:
        return []
    t = agree.groupby(["model", "method", "counterpart", "layer_choice"]).value.agg(["mean", "std", "median", "count"]).reset_index()
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
            "agreement": agreement,
            "sanity": sanity, "shattered_gradients": shattered_gradients, "speed": speed,
            "zoo": zoo_section.markdown}
