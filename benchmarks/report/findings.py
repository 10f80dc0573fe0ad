"""Findings: plain statements, with their numbers and paired tests, about the questions the
suite exists for. One function per task (``FINDINGS``), each reading its own rows."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..report.common import TASK_METRICS, deltas, higher_is_better
from ..report.stats import (
    MIN_TEST_IMAGES,
    describe,
    n_text,
    paired,
    per_image,
    significant_result,
    unit_ids,
    unit_noun,
    verdict_change,
)

# Views of a model (model config ``same_weights_as``), by name suffix: the layout in words.
VIEWS = {"_nested": ", its backbone nested as one layer of an outer model",
         "_subclassed": " in a subclassed keras.Model with custom block layers"}


def _view_of(model: str) -> tuple:
    """(base model, the view's layout in words) for a view such as ``resnet_small_nested``;
    (None, None) for any other model."""
    for suffix, layout in VIEWS.items():
        if model.endswith(suffix):
            return model[: -len(suffix)], layout
    return None, None


# The paper whose claim the layer findings test.
SEED_PAPER = 'Lee et al., "Relevance-CAM: Your Model Already Knows Where to Look", CVPR 2021'


def localization_findings(results: pd.DataFrame) -> list:
    """Grad-CAM against the centred Gaussian; the layer pattern of `SEED_PAPER`."""
    out = []
    loc = results[(results.task == "localization") & (results.metric != "error")]
    models = list(dict.fromkeys(results.model[results.model != ""]))
    for model in models:
        lm = loc[loc.model == model]
        if lm.empty:
            continue
        # 1. Grad-CAM (last layer) against the centred Gaussian prior
        for metric in ("energy_pointing_game", "pointing_game", "iou"):
            a = per_image(lm, model, "grad_cam", "last", metric)
            b = per_image(lm, model, "gaussian", "input", metric)
            if len(a) and len(b):
                r = paired(a, b)
                d = r.d
                if significant_result(r):
                    verdict = "beats" if d > 0 else "is worse than"
                elif r.differing < MIN_TEST_IMAGES and d != 0:
                    verdict = "is ahead of" if d > 0 else "is behind"
                else:
                    verdict = "is not significantly better than" if d > 0 else "is no better than"
                out.append(f"**{model}**: Grad-CAM at the last layer {verdict} a centred Gaussian map on "
                           f"{metric} ({a.mean():.3f} vs {b.mean():.3f}, mean difference {d:+.3f}, "
                           f"{describe(r)}).")
        out += layer_pattern(lm, model, ("energy_pointing_game", "pointing_game", "iou"))
    return out


def grid_findings(results: pd.DataFrame) -> list:
    """The layer pattern of `SEED_PAPER` on the grid pointing game (real photos, one
    explanation per cell)."""
    grid = results[(results.task == "grid_pointing") & (results.metric != "error")]
    out = []
    for model in dict.fromkeys(grid.model):
        out += layer_pattern(grid[grid.model == model], model, ("grid_localization", "grid_pointing"))
    return out


def layer_pattern(lm: pd.DataFrame, model: str, metrics) -> list:
    """Grad-CAM and Relevance-CAM from the last to the shallow layer, with paired tests over the
    independent units (`benchmarks.report.stats.paired`: a grid cell's photo, an image): is the
    seed paper's claim (Grad-CAM degrades at shallow layers, Relevance-CAM does not) seen?"""
    out = []
    for metric in metrics:
        vals = {}
        for method in ("grad_cam", "relevance_cam"):
            for choice in ("shallow", "mid", "last"):
                s = per_image(lm, model, method, choice, metric)
                if len(s):
                    vals[(method, choice)] = s
        if not all((m, c) in vals for m in ("grad_cam", "relevance_cam") for c in ("shallow", "last")):
            continue
        parts = []
        for method, label in (("grad_cam", "Grad-CAM"), ("relevance_cam", "Relevance-CAM")):
            trail = " → ".join(f"{vals[(method, c)].mean():.3f}" for c in ("last", "mid", "shallow")
                               if (method, c) in vals)
            r = paired(vals[(method, "shallow")], vals[(method, "last")])
            parts.append(f"{label} {trail} ({verdict_change(r.d, r.p, r.differing)}, shallow − last {r.d:+.3f}, "
                         f"{describe(r)})")
        r = paired(vals[("relevance_cam", "shallow")], vals[("grad_cam", "shallow")])
        d, sig = r.d, significant_result(r)
        g_deg = paired(vals[("grad_cam", "shallow")], vals[("grad_cam", "last")])
        r_deg = paired(vals[("relevance_cam", "shallow")], vals[("relevance_cam", "last")])
        claim = (g_deg.d < 0 and significant_result(g_deg)) and not (r_deg.d < 0 and significant_result(r_deg))
        out.append(
            f"**{model}**, {metric}, last → mid → shallow layer: " + "; ".join(parts)
            + f". At the shallow layer Relevance-CAM − Grad-CAM = {d:+.3f} ({describe(r)}: "
            + ("Relevance-CAM better" if d > 0 and sig else
               "Grad-CAM better" if d < 0 and sig else "no significant difference")
            + f"). The pattern of {SEED_PAPER} (Grad-CAM degrades at shallow layers, Relevance-CAM keeps "
            + ("its localization) **is reproduced** here." if claim else
               "its localization) is **not** reproduced here."))
    return out


def agreement_findings(results: pd.DataFrame) -> list:
    out = []
    agree = results[(results.task == "agreement") & (results.metric == "spearman_vs_tfcam")]
    if not agree.empty:
        parts = [f"{r.method}@{r.layer_choice} on {r.model}: {r.value:.3f}"
                 for r in agree.groupby(["model", "method", "layer_choice"]).value.median().reset_index().itertuples()]
        out.append("Agreement of tf-keras-vis with tfcam (median Spearman rank correlation of the maps): "
                   + "; ".join(parts) + ".")
    return out


def view_findings(results: pd.DataFrame) -> list:
    """Another view of a model (same weights) should give the same localization numbers."""
    out = []
    loc = results[(results.task == "localization") & (results.metric != "error")]
    models = list(dict.fromkeys(results.model[results.model != ""]))
    for model in models:
        base, layout = _view_of(model)
        if not base or base not in models:
            continue
        keys = ["method", "layer_choice", "image", "metric", "delta"]  # Loc(δ): one row per δ
        # the localization metrics only: explain_seconds_per_image is a timing, never equal
        scores = loc[(loc.library == "tfcam") & loc.metric.isin(TASK_METRICS["localization"])]
        scores = scores.assign(delta=deltas(scores).fillna(-1.0))  # -1: a metric without δ
        a = scores[scores.model == model].set_index(keys).value
        b = scores[scores.model == base].set_index(keys).value
        both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
        if len(both):
            diff = float((both.a - both.b).abs().max())
            out.append(f"tfcam on **{model}** (the {base} weights{layout}) "
                       f"reproduces its localization numbers on {base}: largest difference {diff:.2g} over "
                       f"{len(both)} values ({', '.join(sorted(set(both.index.get_level_values('method'))))}).")
    return out


def error_findings(results: pd.DataFrame) -> list:
    out = []
    results = results[results.task != "zoo"]  # the zoo's section tabulates its own errors
    errs = results[(results.metric == "error") & (results.library == "tf-keras-vis")]
    if not errs.empty:
        for (model, method), g in errs.groupby(["model", "method"]):
            out.append(f"tf-keras-vis **failed** for {method} on {model} "
                       f"({', '.join(sorted(set(g.layer_choice)))}): `{g.error.iloc[0]}`.")
    errs = results[(results.metric == "error") & (results.library != "tf-keras-vis")]
    if not errs.empty:
        for (model, method), g in errs.groupby(["model", "method"]):
            out.append(f"{method} failed on {model} ({', '.join(sorted(set(g.layer_choice)))}): `{g.error.iloc[0]}`.")
    return out


def shattering_findings(results: pd.DataFrame) -> list:
    out = []
    shat = results[(results.task == "shattered_gradients") & (results.metric != "error")]
    for model, sm in shat.groupby("model", sort=False):
        order = list(dict.fromkeys(sm.layer))
        means = sm.groupby(["metric", "layer"]).value.mean()

        def at(metric, layer, means=means):
            return means.get((metric, layer), np.nan)
        g = [at("spearman_gradcam_ablation", ln) for ln in order]
        r = [at("spearman_relevancecam_ablation", ln) for ln in order]
        if len(order) >= 2 and np.isfinite(g).all():
            text = (f"Shattered gradients on **{model}** ({order[0]} → {order[-1]}): rank correlation of Grad-CAM's "
                    f"channel weights with ablation importance " + " → ".join(f"{v:.2f}" for v in g))
            if np.isfinite(r).all():
                text += ", of Relevance-CAM's " + " → ".join(f"{v:.2f}" for v in r)
                shallow_gap = np.nanmean(np.array(r[:2]) - np.array(g[:2]))
                text += (". The claim that gradient weights lose their link to channel importance at shallow "
                         "layers while relevance weights keep it is "
                         + ("**supported**" if shallow_gap > 0 and g[0] < g[-1] else "**not supported**")
                         + f" here (Relevance − Grad-CAM over the two shallowest layers: {shallow_gap:+.2f})")
            auto = [at("autocorrelation", ln) for ln in order]
            text += ("; lag-1 autocorrelation of the gradient " + " → ".join(f"{v:.2f}" for v in auto) + ".")
            out.append(text)
    return out


def sanity_findings(results: pd.DataFrame) -> list:
    out = []
    san = results[(results.task == "sanity") & (results.metric == "spearman_abs")]
    if not san.empty:
        san = san.assign(step=san.step.astype(int))
        for (model, method, choice, mode), g in san.groupby(["model", "method", "layer_choice", "mode"]):
            last = g[g.step == g.step.max()].value.mean()
            first = g[g.step == g.step.min()].value.mean()
            if mode == "cascading":
                out.append(f"Sanity ({model}, {method}@{choice}, cascading): Spearman |map| vs the trained "
                           f"model's is {first:.2f} after randomizing the top layer and {last:.2f} with all "
                           f"layers randomized — " + ("passes (maps change)" if last < 0.5 else
                                                      "**fails** (maps barely change)") + ".")
    return out


# When a metric cannot tell the methods apart (per model × metric; see `separability_findings`):
# per-image differences at most this large count as ties (percentage points for Average Drop
# and Increase in Confidence, AUC or probability units for deletion, insertion and ROAD,
# relative change for max-sensitivity, Gini for sparseness, nats for complexity; 0 for
# infidelity, whose unit, the logit², depends on the model: only the within-noise check) ...
SEPARATION_TOLERANCE = {"average_drop": 5.0, "increase_in_confidence": 5.0, "deletion": 0.05, "insertion": 0.05,
                        "road_morf": 0.05, "road_lerf": 0.05, "infidelity": 0.0, "max_sensitivity": 0.05,
                        "sparseness": 0.02, "complexity": 0.05}
# ... the tasks and metrics it reads, in the findings' order (infidelity per perturbation) ...
SEPARABILITY_METRICS = {
    "faithfulness": [*TASK_METRICS["faithfulness"], "road_morf", "road_lerf"],
    "robustness": ["infidelity", "max_sensitivity"],
    "complexity": ["sparseness", "complexity"],
}
# ... a metric on which fewer than this share of the images separate the methods is saturated ...
MIN_SEPARATING_SHARE = 0.5
# ... and so is a percentage metric (Average Drop, Increase in Confidence) with at least
# ALL_OR_NOTHING_SHARE of its per-image values within ALL_OR_NOTHING points of 0 or 100.
ALL_OR_NOTHING = 1.0
ALL_OR_NOTHING_SHARE = 0.75
PERCENT_METRICS = ("average_drop", "increase_in_confidence")
# Why an image-blind map can rank well on a metric by construction (said after the Gaussian's rank)
BLIND_MAP_NOTE = {
    "max_sensitivity": " (a map that ignores the image does not move when the image does: max-sensitivity "
                       "is 0 for it by construction; read it beside faithfulness)",
    "sparseness": " (sparseness reads the map's shape, not where it lies)",
    "complexity": " (complexity reads the map's shape, not where it lies)",
}


def _row_name(key: tuple) -> str:
    method, _library, choice = key
    return f"{method}@{choice}"


def _why_all_or_nothing(results: pd.DataFrame, model: str) -> str:
    """Whether the unmasked confidences Y (``original_confidence`` rows) are saturated, or the
    masked images' confidences are what is all-or-nothing."""
    rows = results[(results.task == "faithfulness") & (results.model == model)]
    y = rows[rows.metric == "original_confidence"].groupby("image").value.first()
    if y.empty:
        return "as when the model's confidences are saturated"
    near_one, median = float((y >= 0.99).mean()), float(y.median())
    if near_one >= 0.5:
        return (f"because the model's confidences are saturated (the unmasked Y ≥ 0.99 on "
                f"{100 * near_one:.0f}% of the images)")
    fill = next((str(f) for f in rows.get("fill", pd.Series(dtype=object)).dropna() if str(f)), "black")
    return (f"although the unmasked confidences are not saturated (Y median {median:.2f}, ≥ 0.99 on "
            f"{100 * near_one:.0f}% of the images): the masked image (fill: {fill}) loses the class or "
            "gains it")


def _variants(g: pd.DataFrame) -> list:
    """[(label, rows)]: a metric's rows, split by perturbation where it has several (infidelity)."""
    variant = g.perturbation.fillna("").astype(str) if "perturbation" in g else pd.Series("", index=g.index)
    return [(f"{g.metric.iloc[0]} ({v})" if v else g.metric.iloc[0], g[variant == v])
            for v in dict.fromkeys(variant)]


def separability_findings(results: pd.DataFrame) -> list:
    """Per model × metric of `SEPARABILITY_METRICS` (faithfulness, ROAD, robustness,
    complexity), whether the metric can tell the methods apart, so that a column of near-equal
    means is not read as a ranking. Over the images every method × layer row was scored on:

    1. **Saturated**: an image separates the methods when their values on it span more than
       `SEPARATION_TOLERANCE`; if fewer than `MIN_SEPARATING_SHARE` of the images do, the metric
       cannot separate the methods. Average Drop and Increase in Confidence are saturated too
       when at least `ALL_OR_NOTHING_SHARE` of their per-image values lie within
       `ALL_OR_NOTHING` points of 0 or 100: masking then either destroys the class's confidence
       or leaves it whole whatever the map (the line says whether the unmasked confidences are
       saturated, from the ``original_confidence`` rows), and a difference of means counts
       images, not degrees.
    2. **Within noise**: otherwise, if more than half of the other rows are not significantly
       different from the row with the best mean (paired Wilcoxon, p ≥ 0.05, or too few images),
       the metric cannot separate those methods; the line gives the spread of their means and the
       median standard error of their paired differences with the best.

    Either way, or when the centred Gaussian (which ignores the image) ranks in the better half,
    the line says where the Gaussian ranks. Metrics that pass both checks, with the Gaussian in
    the worse half, get no line."""
    out = []
    scored = results[(results.metric != "error") & results.value.notna()]
    for task, metrics in SEPARABILITY_METRICS.items():
        rows = scored[scored.task == task]
        for model in dict.fromkeys(rows.model):
            fm = rows[rows.model == model]
            for metric in metrics:
                if metric not in SEPARATION_TOLERANCE or not (fm.metric == metric).any():
                    continue
                for name, g in _variants(fm[fm.metric == metric]):
                    line = _separability(results, model, metric, name, g)
                    if line:
                        out.append(line)
    return out


def _separability(results: pd.DataFrame, model: str, metric: str, name: str, g: pd.DataFrame) -> str | None:
    """`separability_findings`' line for one model × metric (``name``: with its variant)."""
    g = g.assign(unit=unit_ids(g))   # the independent unit (an image; a grid's explained photo)
    wide = g.pivot_table(index=["unit", "image"], columns=["method", "library", "layer_choice"],
                         values="value", aggfunc="first").dropna()
    if wide.shape[1] < 3 or len(wide) == 0:
        return None
    higher = higher_is_better(metric)
    means = wide.mean()
    ranks = means.rank(ascending=not higher, method="min")
    best = means.idxmax() if higher else means.idxmin()
    n, rows = len(wide), wide.shape[1]
    tol = SEPARATION_TOLERANCE[metric]
    spread = wide.max(axis=1) - wide.min(axis=1)
    separating = int((spread > tol).sum())
    gauss = [k for k in wide.columns if k[0] == "gaussian"]
    gauss_rank = int(ranks[gauss[0]]) if gauss else None
    gauss_good = gauss_rank is not None and gauss_rank <= rows / 2
    shared = gauss_rank is not None and int((ranks == gauss_rank).sum()) > 1
    gauss_text = (f" The centred Gaussian, which ignores the image, ranks {gauss_rank} of {rows} on it"
                  + (" (tied)" if shared else " (first)" if gauss_rank == 1 else "")
                  + BLIND_MAP_NOTE.get(metric, "") + ".") if gauss_good else ""
    head = f"**{model}**, {name}: "
    values = wide.to_numpy(float)
    extreme = float(np.mean((values <= ALL_OR_NOTHING) | (values >= 100 - ALL_OR_NOTHING)))
    saturated = metric in PERCENT_METRICS and extreme >= ALL_OR_NOTHING_SHARE
    if separating < MIN_SEPARATING_SHARE * n or saturated:
        text = (head + f"this metric **cannot separate the methods**: on {n - separating} of {n} images all "
                f"{rows} method × layer rows score within {tol:g} of each other (means "
                f"{means.min():.3g}–{means.max():.3g}).")
        if metric in PERCENT_METRICS:
            text += (f" {100 * extreme:.0f}% of its per-image values are all-or-nothing (within "
                     f"{ALL_OR_NOTHING:g} of 0 or 100): masking either destroys the class's confidence or "
                     f"leaves it whole, whatever the map, {_why_all_or_nothing(results, model)}; "
                     "a difference of means counts images, not degrees.")
        return text + gauss_text + " Its column is no ranking of the methods."
    tied, ses, tests = [], [], []
    noun = unit_noun(g[g.image.isin(wide.index.get_level_values("image"))].drop_duplicates("image"))
    for key in wide.columns:
        if key == best:
            continue
        r = paired(wide[key], wide[best], unit=noun)
        tests.append(r)
        if not significant_result(r):
            tied.append(key)
            # over the units: one mean difference per unit
            ses.append(float(r.unit_diffs.std() / np.sqrt(r.n)) if r.n > 1 else np.nan)
    if 2 * len(tied) > rows - 1:
        close = means[[best, *tied]]
        return (head + f"this metric **cannot separate** {len(tied)} of the other {rows - 1} method × "
                f"layer rows from the best, {_row_name(best)} ({means[best]:.3g}; paired Wilcoxon "
                f"p ≥ 0.05 or too few {noun}): their means span {close.min():.3g}–{close.max():.3g} "
                f"while the median standard error of a paired difference with the best is "
                f"{np.nanmedian(ses):.2g} ({n_text(tests[0])}). Their order in the column is noise."
                + gauss_text)
    if gauss_good:
        return head + gauss_text.strip() + " The metric rewards something other than a map of the object here."
    return None


# A metric's ranking of the methods is trusted on the data when its split-half τ is at least
# STABLE_TAU, and not when it is below UNSTABLE_TAU (`benchmarks.report.rank_stability`).
STABLE_TAU = 0.8
UNSTABLE_TAU = 0.5


def rank_stability_findings(results: pd.DataFrame) -> list:
    """Per model: which metrics rank the methods stably under resampling of the images (mean
    split-half Kendall τ ≥ `STABLE_TAU`) and which do not (< `UNSTABLE_TAU`)."""
    from ..report import rank_stability as stability
    table = stability.per_metric(stability.rank_stability(results))
    out = []
    for model, g in (table.groupby("model", sort=False) if not table.empty else ()):
        g = g.sort_values("tau", ascending=False)
        label = lambda r: f"{r.metric} (τ={r.tau:.2f}, top kept {100 * r.top_kept:.0f}%)".replace("τ=-0.00", "τ=0.00")
        stable = [label(r) for r in g.itertuples() if r.tau >= STABLE_TAU]
        unstable = [label(r) for r in g.itertuples() if r.tau < UNSTABLE_TAU]
        ties = [r.metric for r in g.itertuples() if not np.isfinite(r.tau)]
        text = (f"Rank stability on **{model}** ({stability.N_SPLITS} random splits of up to "
                f"{int(g.units.max())} independent units into halves): ")
        text += (f"stable rankings (mean Kendall τ ≥ {STABLE_TAU:.1f}): " + "; ".join(stable) if stable else
                 f"no metric ranks the methods stably (mean Kendall τ ≥ {STABLE_TAU:.1f})")
        if unstable:
            text += (f". Their ranking of these methods **cannot be trusted** on this data (τ < {UNSTABLE_TAU:.1f}): "
                     + "; ".join(unstable))
            if any(r.tau < 0 for r in g.itertuples()):
                # the halves of a near-tie differ by opposite amounts (they sum to the full difference)
                text += (" (τ < 0: the methods nearly tie on all the images, so the two halves tend to order "
                         "them oppositely)")
        if ties:
            text += f". Every method ties on: {', '.join(ties)}"
        out.append(text + ".")
    return out


FINDINGS = (localization_findings, grid_findings, separability_findings, rank_stability_findings,
            agreement_findings, view_findings, error_findings, shattering_findings, sanity_findings)


def findings(results: pd.DataFrame) -> list:
    """Plain statements, with their numbers, about the questions the suite exists for."""
    return [line for fn in FINDINGS for line in fn(results)]
