"""PNG figures of a run (matplotlib, Agg backend): heatmap grids (method × layer), deletion /
insertion curves, Loc(δ) over δ, sanity-check similarity curves and shattered-gradient
statistics. A method has one colour in every figure (`method_colour`)."""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report.common import LAYER_ORDER, LIB_ORDER, deltas

# One colour per method, the same in every figure and every run: the CAM methods first on
# matplotlib's tab10, the others on tab20b; a tf-keras-vis method takes its tfcam
# counterpart's colour (drawn dashed), the reference maps are greys (dotted).
TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
         "#bcbd22", "#17becf"]
TAB20B = ["#393b79", "#5254a3", "#6b6ecf", "#9c9ede", "#637939", "#8ca252", "#b5cf6b", "#cedb9c",
          "#8c6d31", "#bd9e39", "#e7ba52", "#e7cb94", "#843c39", "#ad494a", "#d6616b", "#e7969c",
          "#7b4173", "#a55194", "#ce6dbd", "#de9ed6"]
METHOD_ORDER = ("grad_cam", "grad_cam_pp", "relevance_cam", "score_cam", "layer_cam", "xgrad_cam",
                "ablation_cam", "eigen_cam", "cam", "lrp", "relevance_cam_zero_sum", "score_cam_fast",
                "score_cam_fast_std", "saliency", "smooth_grad", "integrated_gradients", "input_x_gradient",
                "guided_backprop", "guided_grad_cam", "deconvnet", "occlusion")
PALETTE = [c for c in TAB10 if c != "#7f7f7f"] + TAB20B  # grey is the reference maps'
REFERENCE_COLOURS = {"gaussian": "#4d4d4d", "random": "#a6a6a6"}


def method_colour(method: str) -> str:
    """The method's colour (hex); an unknown method gets a fixed one from its name."""
    base = method.removeprefix("tkv_")
    if base in REFERENCE_COLOURS:
        return REFERENCE_COLOURS[base]
    if base in METHOD_ORDER:
        return PALETTE[METHOD_ORDER.index(base)]
    return PALETTE[zlib.crc32(base.encode()) % len(PALETTE)]


def method_style(method: str, library: str = "") -> str:
    """Line style: dashed for tf-keras-vis, dotted for the reference maps, solid for tfcam."""
    if library == "tf-keras-vis" or method.startswith("tkv_"):
        return "--"
    return ":" if library == "baseline" or method in REFERENCE_COLOURS else "-"


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    _plt().close(fig)
    return path


def heatmap_grids(folder: Path, map_dirs=None, max_methods: int = 14) -> list:
    """Per model and image: rows = methods, columns = layer choices; maps over the image,
    the ground-truth outline in white. ``map_dirs``: several ``maps/`` folders (a sweep's
    jobs), merged per model."""
    plt = _plt()
    out = []
    ref, per_model = None, {}
    for maps_root in (map_dirs or [folder / "maps"]):
        maps_root = Path(maps_root)
        if not (maps_root / "images.npz").exists():
            continue
        if ref is None:
            ref = dict(np.load(maps_root / "images.npz"))
        for model_dir in sorted(p for p in maps_root.iterdir() if p.is_dir()):
            for f in model_dir.glob("*.npz"):
                method, _, choice = f.stem.partition("__")
                per_model.setdefault(model_dir.name, {})[(method, choice)] = dict(np.load(f))
    if ref is None:
        return out
    for model, entries in sorted(per_model.items()):
        methods = sorted({m for m, _ in entries},
                         key=lambda m: (m.startswith("tkv_"), m in ("gaussian", "random"), m))[:max_methods]
        choices = sorted({c for _, c in entries}, key=lambda c: LAYER_ORDER.get(c, 1.5))
        for k, image_id in enumerate(ref["image"]):
            fig, axes = plt.subplots(len(methods), len(choices) + 1,
                                     figsize=(1.6 * (len(choices) + 1), 1.6 * len(methods) + 0.4), squeeze=False)
            for r, method in enumerate(methods):
                ax = axes[r, 0]
                ax.imshow(ref["images"][k].astype(np.float32))
                ax.contour(ref["masks"][k], [0.5], colors="w", linewidths=0.7)
                ax.set_ylabel(method, fontsize=7, rotation=0, ha="right", va="center")
                for c, choice in enumerate(choices, start=1):
                    ax = axes[r, c]
                    e = entries.get((method, choice))
                    hit = None if e is None else np.flatnonzero(e["image"] == image_id)
                    if hit is not None and len(hit):
                        ax.imshow(ref["images"][k].astype(np.float32))
                        ax.imshow(e["maps"][hit[0]].astype(np.float32), cmap="jet", alpha=0.5, vmin=0, vmax=1)
                        ax.contour(ref["masks"][k], [0.5], colors="w", linewidths=0.5)
                    else:
                        ax.set_facecolor("#eeeeee")
                    if r == 0:
                        ax.set_title(choice, fontsize=8)
            for ax in axes.flat:
                ax.set_xticks([])
                ax.set_yticks([])
            axes[0, 0].set_title(f"image {image_id}", fontsize=8)
            fig.suptitle(f"{model}: maps per method × layer (white: ground truth)", fontsize=9)
            fig.tight_layout(rect=(0, 0, 1, 0.97))
            out.append(_save(fig, folder / "figures" / f"heatmaps_{model}_img{image_id}.png"))
    return out


def deletion_insertion_curves(folder: Path, curves: pd.DataFrame) -> list:
    plt = _plt()
    out = []
    if curves.empty:
        return out
    for model, cm in curves.groupby("model"):
        choices = sorted(set(cm.layer_choice) - {"input"}, key=lambda c: LAYER_ORDER.get(c, 1.5)) or ["input"]
        fig, axes = plt.subplots(len(choices), 2, figsize=(10, 3.2 * len(choices)), squeeze=False)
        for r, choice in enumerate(choices):
            sel = cm[cm.layer_choice.isin([choice, "input"])]
            for c, kind in enumerate(("deletion", "insertion")):
                ax = axes[r, c]
                for method, g in sorted(sel[sel.curve == kind].groupby("method"), key=lambda x: x[0]):
                    mean = g.groupby("fraction").value.mean()
                    ax.plot(mean.index, mean.values, method_style(method, g.library.iloc[0]), label=method, lw=1.2,
                            color=method_colour(method))
                ax.set_title(f"{model} {kind} @ {choice}", fontsize=9)
                ax.set_xlabel("fraction of pixels")
                ax.set_ylabel("p(class)")
                ax.grid(alpha=0.3)
            axes[r, 1].legend(fontsize=6, ncol=2)
        fig.tight_layout()
        out.append(_save(fig, folder / "figures" / f"deletion_insertion_{model}.png"))
    return out


def sanity_curves(folder: Path, results: pd.DataFrame) -> list:
    plt = _plt()
    san = results[(results.task == "sanity") & (results.metric != "error")]
    out = []
    if san.empty:
        return out
    san = san.assign(step=san.step.astype(int), rlayer=san.randomized_layer)
    for model, sm in san.groupby("model"):
        modes = sorted(set(sm["mode"]))
        metrics = [m for m in ("spearman_abs", "spearman", "ssim", "hog_spearman") if m in set(sm.metric)]
        fig, axes = plt.subplots(len(modes), len(metrics), figsize=(3.6 * len(metrics), 3.2 * len(modes)), squeeze=False)
        for r, mode in enumerate(modes):
            for c, metric in enumerate(metrics):
                ax = axes[r, c]
                g = sm[(sm["mode"] == mode) & (sm.metric == metric)]
                for (method, choice), h in g.groupby(["method", "layer_choice"]):
                    mean = h.groupby("step").value.mean()
                    ax.plot(mean.index, mean.values, "o-", ms=3, label=f"{method}@{choice}")
                labels = g.drop_duplicates("step").sort_values("step")
                ax.set_xticks(labels.step)
                ax.set_xticklabels(labels.rlayer, rotation=75, fontsize=5)
                ax.set_ylim(-0.2, 1.05)
                ax.set_title(f"{model} {mode}: {metric}", fontsize=9)
                ax.grid(alpha=0.3)
        axes[0, -1].legend(fontsize=6)
        fig.tight_layout()
        out.append(_save(fig, folder / "figures" / f"sanity_{model}.png"))
    return out


def shattering_plot(folder: Path, results: pd.DataFrame) -> list:
    plt = _plt()
    sh = results[(results.task == "shattered_gradients") & (results.metric != "error")]
    out = []
    if sh.empty:
        return out
    stats = [s for s in ("autocorrelation", "sign_coherence", "negative_weight_share",
                         "spearman_gradcam_ablation", "spearman_relevancecam_ablation") if s in set(sh.metric)]
    fig, axes = plt.subplots(1, len(stats), figsize=(3.4 * len(stats), 3.2), squeeze=False)
    for c, stat in enumerate(stats):
        ax = axes[0, c]
        for model, g in sh[sh.metric == stat].groupby("model"):
            order = list(dict.fromkeys(g.layer))
            mean = g.groupby("layer").value.mean().reindex(order)
            std = g.groupby("layer").value.std().reindex(order)
            ax.errorbar(range(len(order)), mean.values, yerr=std.values, marker="o", ms=3, capsize=2, label=model)
            if stat == "sign_coherence":
                floor = sh[(sh.metric == "sign_coherence_noise_floor") & (sh.model == model)].groupby("layer").value.mean().reindex(order)
                ax.plot(range(len(order)), floor.values, ":", color="grey", lw=1)
            ax.set_xticks(range(len(order)))
            ax.set_xticklabels(order, rotation=60, fontsize=6)
        ax.set_title(stat, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("shattered gradients, input → output (dotted: sign-coherence noise floor)", fontsize=9)
    out.append(_save(fig, folder / "figures" / "shattered_gradients.png"))
    return out


def localization_by_layer(folder: Path, results: pd.DataFrame) -> list:
    """Energy pointing game per method across layer choices (the seed paper's plot)."""
    return metric_by_layer(folder, results, "localization", "energy_pointing_game", "localization_by_layer.png")


def grid_by_layer(folder: Path, results: pd.DataFrame) -> list:
    """The grid pointing game's localization score per method across layer choices (real photos)."""
    return metric_by_layer(folder, results, "grid_pointing", "grid_localization", "grid_by_layer.png")


def metric_by_layer(folder: Path, results: pd.DataFrame, task: str, metric: str, filename: str) -> list:
    """``metric`` per method across layer choices, one panel per model; input-space methods
    and reference maps as horizontal lines."""
    plt = _plt()
    loc = results[(results.task == task) & (results.metric == metric)]
    out = []
    if loc.empty or loc.layer_choice.nunique() < 2:
        return out
    models = sorted(set(loc.model))
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.4), squeeze=False)
    for c, model in enumerate(models):
        ax = axes[0, c]
        lm = loc[loc.model == model]
        choices = sorted(set(lm.layer_choice) - {"input"}, key=lambda x: LAYER_ORDER.get(x, 1.5))
        for (method, lib), g in sorted(lm.groupby(["method", "library"]), key=lambda x: (LIB_ORDER.get(x[0][1], 3), x[0][0])):
            mean = g.groupby("layer_choice").value.mean()
            colour = method_colour(method)
            if set(mean.index) == {"input"}:
                ax.axhline(mean.iloc[0], ls=":", lw=1, label=method, color=colour)
            else:
                ax.plot(range(len(choices)), mean.reindex(choices).values, method_style(method, lib), marker="o",
                        ms=3, label=method, color=colour)
        ax.set_xticks(range(len(choices)))
        ax.set_xticklabels(choices)
        ax.set_title(f"{model}: {metric.replace('_', ' ')} by layer", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=6, ncol=2, bbox_to_anchor=(1.02, 1), loc="upper left")
    out.append(_save(fig, folder / "figures" / filename))
    return out


def loc_delta_curve(folder: Path, results: pd.DataFrame) -> list:
    """Mean Loc(δ) over images against δ, one line per method (its colour, `method_style`);
    one panel per model (rows) × layer choice (columns), the input-space methods and reference
    maps drawn in every layer's panel."""
    plt = _plt()
    loc = results[(results.task == "localization") & (results.metric == "loc_delta")]
    loc = loc.assign(delta=deltas(loc)).dropna(subset=["delta", "value"])
    if loc.empty:
        return []
    models = sorted(set(loc.model))
    layered = sorted(set(loc.layer_choice) - {"input"}, key=lambda c: LAYER_ORDER.get(c, 1.5)) or ["input"]
    fig, axes = plt.subplots(len(models), len(layered), figsize=(4.2 * len(layered), 3.2 * len(models)),
                             squeeze=False)
    for r, model in enumerate(models):
        for c, choice in enumerate(layered):
            ax = axes[r, c]
            if choice != "input" and not ((loc.model == model) & (loc.layer_choice == choice)).any():
                ax.set_visible(False)  # no method of this model ran at this layer: no panel
                continue
            sel = loc[(loc.model == model) & loc.layer_choice.isin([choice, "input"])]
            groups = sorted(sel.groupby(["method", "library"]), key=lambda x: (LIB_ORDER.get(x[0][1], 3), x[0][0]))
            for (method, library), g in groups:
                mean = g.groupby("delta").value.mean()
                ax.plot(mean.index, mean.values, method_style(method, library), marker="o", ms=2.5, lw=1.2,
                        label=method, color=method_colour(method))
            ax.set_title(f"{model} @ {choice}", fontsize=9)
            ax.set_xlabel("δ (map ≥ δ)")
            ax.set_ylabel("mean Loc(δ)")
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
            if groups:
                ax.legend(fontsize=6, ncol=2)
    fig.suptitle("Loc(δ) over δ (Chattopadhyay et al. 2018): dashed tf-keras-vis, dotted reference maps",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return [_save(fig, folder / "figures" / "loc_delta_curve.png")]


def all_figures(folder, results, curves, cfg=None, log=print, map_dirs=None) -> list:
    folder = Path(folder)
    max_methods = 14 if cfg is None else int(cfg.get("report", {}).get("max_methods", 14))
    out = []
    for fn in (lambda: heatmap_grids(folder, map_dirs, max_methods),
               lambda: localization_by_layer(folder, results),
               lambda: grid_by_layer(folder, results),
               lambda: loc_delta_curve(folder, results),
               lambda: deletion_insertion_curves(folder, curves),
               lambda: sanity_curves(folder, results),
               lambda: shattering_plot(folder, results)):
        try:
            out += fn()
        except Exception as e:  # one broken figure must not stop the others
            log(f"[tfcam-bench] a figure failed: {type(e).__name__}: {e}")
    return out
