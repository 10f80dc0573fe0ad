"""Findings: plain statements, with their numbers and paired tests, about the questions the
suite exists for. One function per task (``FINDINGS``), each reading its own rows."""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.report.common import TASK_METRICS
from benchmarks.report.stats import paired, per_image, verdict_change

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


def localization_findings(results: pd.DataFrame) -> list:
    """Grad-CAM against the centred Gaussian; the seed paper's layer pattern."""
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
                d, p, n = paired(a, b)
                verdict = "beats" if d > 0 and (np.isnan(p) or p < 0.05) else \
                    ("is no better than" if d <= 0 else "is not significantly better than")
                out.append(f"**{model}**: Grad-CAM at the last layer {verdict} a centred Gaussian map on "
                           f"{metric} ({a.mean():.3f} vs {b.mean():.3f}, mean difference {d:+.3f}, "
                           f"Wilcoxon p={p:.2g}, {n} images).")
        # 2. The seed paper's claim: Grad-CAM degrades at shallow layers, Relevance-CAM does not
        for metric in ("energy_pointing_game", "pointing_game", "iou"):
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
                d, p, n = paired(vals[(method, "shallow")], vals[(method, "last")])
                parts.append(f"{label} {trail} ({verdict_change(d, p)}, shallow − last {d:+.3f}, p={p:.2g})")
            d, p, n = paired(vals[("relevance_cam", "shallow")], vals[("grad_cam", "shallow")])
            g_deg = paired(vals[("grad_cam", "shallow")], vals[("grad_cam", "last")])
            r_deg = paired(vals[("relevance_cam", "shallow")], vals[("relevance_cam", "last")])
            claim = (g_deg[0] < 0 and g_deg[1] < 0.05) and not (r_deg[0] < 0 and r_deg[1] < 0.05)
            out.append(
                f"**{model}**, {metric}, last → mid → shallow layer: " + "; ".join(parts)
                + f". At the shallow layer Relevance-CAM − Grad-CAM = {d:+.3f} (Wilcoxon p={p:.2g}, {n} images: "
                + ("Relevance-CAM better" if d > 0 and p < 0.05 else
                   "Grad-CAM better" if d < 0 and p < 0.05 else "no significant difference")
                + "). The seed paper's pattern (Grad-CAM degrades at shallow layers, Relevance-CAM keeps its "
                + ("localization) **is reproduced** here." if claim else "localization) is **not** reproduced here."))
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
        keys = ["method", "layer_choice", "image", "metric"]
        # the localization metrics only: explain_seconds_per_image is a timing, never equal
        scores = loc[(loc.library == "tfcam") & loc.metric.isin(TASK_METRICS["localization"])]
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
        def at(metric, layer):
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


FINDINGS = (localization_findings, agreement_findings, view_findings, error_findings, shattering_findings,
            sanity_findings)


def findings(results: pd.DataFrame) -> list:
    """Plain statements, with their numbers, about the questions the suite exists for."""
    return [line for fn in FINDINGS for line in fn(results)]
