"""PNG figures of a run (matplotlib, drawn without pyplot): heatmap grids (per model and
image: the image, then one panel per method @ layer choice, a "failed" mark where a method's
maps failed), a metric by layer choice, deletion / insertion and ROAD curves, Loc(δ) over δ,
sanity-check similarity curves, shattered-gradient statistics (one row per model) and the
metrics' rank stability under resampling of the images. A
method has one colour in every figure (`method_colour`) and one place in every legend
(`method_key`); a figure with several panels has one legend of every method it draws.

Each figure has a ``make_*`` function that returns its matplotlib Figure(s) (the tests read
what they draw) and a saver without ``make_`` that writes the PNGs and returns their paths.
The heatmap grids are drawn in `benchmarks.report.heatmaps`, the shared colours, markers,
ticks and legends live in `benchmarks.report.style`."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..report.common import LIB_ORDER, deltas
from ..report.heatmaps import load_maps, make_heatmap_grids
from ..report.style import (
    DPI,
    LABEL_FONTSIZE,
    LAYER_MARKERS,
    figure_legend,
    layer_key,
    layer_ticks,
    method_colour,
    method_key,
    method_style,
    new_figure,
)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _save_all(folder: Path, made: list) -> list:
    return [_save(fig, Path(folder) / "figures" / name) for name, fig in made]


def heatmap_grids(folder: Path, map_dirs=None, max_methods: int = 14, results: pd.DataFrame | None = None) -> list:
    """The heatmap grids (`make_heatmap_grids`) as PNGs; ``map_dirs``: several ``maps/``
    folders (a sweep's jobs), merged per model."""
    return _save_all(folder, make_heatmap_grids(load_maps(folder, map_dirs), results, max_methods))


# ---------------------------------------------------------------- curves
def _curve_figures(curves: pd.DataFrame, kinds: tuple, prefix: str, xlabel: str) -> list:
    """[(``<prefix>_<model>.png``, Figure)]: per model, one column per curve kind, one row per
    layer choice, the input-space methods in every row; one legend per row."""
    out = []
    curves = curves[curves.curve.isin(kinds)] if not curves.empty else curves
    if curves.empty:
        return out
    for model, cm in curves.groupby("model"):
        choices = sorted(set(cm.layer_choice) - {"input"}, key=layer_key) or ["input"]
        fig = new_figure(5 * len(kinds), 3.2 * len(choices))
        axes = fig.subplots(len(choices), len(kinds), squeeze=False)
        for r, choice in enumerate(choices):
            sel = cm[cm.layer_choice.isin([choice, "input"])]
            for c, kind in enumerate(kinds):
                ax = axes[r, c]
                for method, g in sorted(sel[sel.curve == kind].groupby("method"), key=lambda x: method_key(x[0])):
                    mean = g.groupby("fraction").value.mean()
                    ax.plot(mean.index, mean.values, method_style(method, g.library.iloc[0]), label=method, lw=1.2,
                            color=method_colour(method))
                ax.set_title(f"{model} {kind} @ {choice}", fontsize=9)
                ax.set_xlabel(xlabel)
                ax.set_ylabel("p(class)")
                ax.grid(alpha=0.3)
            if axes[r, -1].get_legend_handles_labels()[0]:
                axes[r, -1].legend(fontsize=LABEL_FONTSIZE, ncol=2)
        fig.tight_layout()
        out.append((f"{prefix}_{model}.png", fig))
    return out


def make_deletion_insertion_curves(curves: pd.DataFrame) -> list:
    """[(file name, Figure)]: per model, deletion and insertion (columns) per layer choice
    (rows), the input-space methods in every row; one legend per row."""
    return _curve_figures(curves, ("deletion", "insertion"), "deletion_insertion", "fraction of pixels")


def deletion_insertion_curves(folder: Path, curves: pd.DataFrame) -> list:
    return _save_all(folder, make_deletion_insertion_curves(curves))


def make_road_curves(curves: pd.DataFrame) -> list:
    """[(file name, Figure)]: per model, ROAD's MoRF and LeRF curves (Rong et al. 2022) as
    deletion's and insertion's: the class probability against the share of pixels removed."""
    return _curve_figures(curves, ("road_morf", "road_lerf"), "road", "fraction of pixels removed (imputed)")


def road_curves(folder: Path, curves: pd.DataFrame) -> list:
    return _save_all(folder, make_road_curves(curves))


def make_rank_stability_plot(results: pd.DataFrame):
    """Rank stability (`benchmarks.report.rank_stability`): one panel per model, one bar per
    metric, the mean split-half Kendall τ over its layer choices (the whisker: down to the least
    stable layer choice), a dot for the share of splits whose halves agree on the top method.
    None without a metric to rank."""
    from ..report import rank_stability as stability
    table = stability.per_metric(stability.rank_stability(results))
    if table.empty:
        return None
    models = list(dict.fromkeys(table.model))
    height = max(2.6, 0.28 * table.groupby("model").size().max() + 1.2)
    fig = new_figure(6.2 * len(models), height)
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, model in zip(axes, models):
        g = table[table.model == model].iloc[::-1]
        g = g[g.tau.notna()]   # every method ties: no ranking to draw (the table says "all tie")
        if g.empty:
            ax.set_axis_off()
            continue
        y = range(len(g))
        tau = g.tau.to_numpy(float)
        low = (tau - g.tau_min.fillna(0.0).to_numpy(float)).clip(min=0)
        colours = ["#2ca02c" if t >= 0.8 else "#ff7f0e" if t >= 0.5 else "#d62728" for t in tau]
        ax.barh(list(y), tau, xerr=[low, [0] * len(g)], color=colours, alpha=0.8, capsize=2, label="mean τ")
        ax.plot(g.top_kept.to_numpy(float), list(y), "kD", ms=3.5, label="top kept")
        ax.set_yticks(list(y))
        ax.set_yticklabels([f"{t}: {m}" for t, m in zip(g.task, g.metric)], fontsize=LABEL_FONTSIZE)
        ax.set_xlim(-0.2, 1.05)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlabel("Kendall τ between the halves' rankings / share", fontsize=LABEL_FONTSIZE)
        ax.set_title(f"{model}: rank stability ({int(g.units.max())} units)", fontsize=9)
        ax.tick_params(axis="x", labelsize=LABEL_FONTSIZE)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(f"How stable is each metric's ranking of the methods under resampling of the images? "
                 f"({stability.N_SPLITS} random splits into halves; bar: mean τ, whisker: least stable layer, "
                 f"dot: top kept)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    axes[-1].legend(fontsize=LABEL_FONTSIZE, loc="lower right")
    return fig


def rank_stability_plot(folder: Path, results: pd.DataFrame) -> list:
    fig = make_rank_stability_plot(results)
    return [] if fig is None else _save_all(folder, [("rank_stability.png", fig)])


def make_sanity_curves(results: pd.DataFrame) -> list:
    """[(file name, Figure)]: per model, the similarity of each method's maps to the trained
    model's as layers are randomized (one panel per mode × similarity), the randomized
    layer's name under each step; the figure widens with the number of layers."""
    san = results[(results.task == "sanity") & (results.metric != "error")]
    out = []
    if san.empty:
        return out
    san = san.assign(step=san.step.astype(int), rlayer=san.randomized_layer)
    for model, sm in san.groupby("model"):
        modes = sorted(set(sm["mode"]))
        metrics = [m for m in ("spearman_abs", "spearman", "ssim", "hog_spearman") if m in set(sm.metric)]
        n_steps = sm.step.nunique()
        panel = min(12.0, max(3.6, 0.22 * n_steps + 1.2))
        fig = new_figure(panel * len(metrics), 3.6 * len(modes))
        axes = fig.subplots(len(modes), len(metrics), squeeze=False)
        for r, mode in enumerate(modes):
            for c, metric in enumerate(metrics):
                ax = axes[r, c]
                g = sm[(sm["mode"] == mode) & (sm.metric == metric)]
                groups = sorted(g.groupby(["method", "layer_choice", "library"]),
                                key=lambda x: (method_key(x[0][0]), layer_key(x[0][1])))
                low = 0.0
                for (method, choice, library), h in groups:
                    mean = h.groupby("step").value.mean()
                    low = min(low, float(mean.min()))
                    ax.plot(mean.index, mean.values, method_style(method, library),
                            marker=LAYER_MARKERS.get(choice, "o"), ms=3.5, lw=1.2, color=method_colour(method),
                            label=f"{method} @ {choice}")
                steps = g.drop_duplicates("step").sort_values("step")
                layer_ticks(ax, steps.step, steps.rlayer)
                ax.set_ylim(min(-0.2, low - 0.05), 1.05)  # the signed Spearman can go under 0
                ax.set_title(f"{model} {mode}: {metric}", fontsize=9)
                ax.set_xlabel("randomized layer (output → input)", fontsize=LABEL_FONTSIZE)
                ax.grid(alpha=0.3)
        fig.tight_layout()
        figure_legend(fig, axes.flat, key=_method_at_layer_key)
        out.append((f"sanity_{model}.png", fig))
    return out


def _method_at_layer_key(label: str) -> tuple:
    method, _, choice = label.partition(" @ ")
    return method_key(method), layer_key(choice)


def sanity_curves(folder: Path, results: pd.DataFrame) -> list:
    return _save_all(folder, make_sanity_curves(results))


def make_shattering_plot(results: pd.DataFrame):
    """The shattered-gradient statistics per layer, input → output: one row of panels per
    model (each with its own layer names), one column per statistic; None without rows."""
    sh = results[(results.task == "shattered_gradients") & (results.metric != "error")]
    if sh.empty:
        return None
    stats = [s for s in ("autocorrelation", "sign_coherence", "negative_weight_share",
                         "spearman_gradcam_ablation", "spearman_relevancecam_ablation") if s in set(sh.metric)]
    if not stats:
        return None
    models = sorted(set(sh[sh.metric.isin(stats)].model))
    n_layers = max(sh[(sh.model == m) & sh.metric.isin(stats)].layer.nunique() for m in models)
    panel = min(10.0, max(3.4, 0.3 * n_layers + 1.0))
    fig = new_figure(panel * len(stats), 3.4 * len(models) + 0.4)
    axes = fig.subplots(len(models), len(stats), squeeze=False, sharey="col")
    for r, model in enumerate(models):
        for c, stat in enumerate(stats):
            ax = axes[r, c]
            g = sh[(sh.model == model) & (sh.metric == stat)]
            ax.set_title(f"{model}: {stat.replace('_', ' ')}", fontsize=9)
            ax.grid(alpha=0.3)
            if g.empty:
                ax.text(0.5, 0.5, "not computed", ha="center", va="center", transform=ax.transAxes,
                        fontsize=LABEL_FONTSIZE, color="#555555")
                ax.set_xticks([])
                continue
            order = list(dict.fromkeys(g.layer))
            mean = g.groupby("layer").value.mean().reindex(order)
            std = g.groupby("layer").value.std().reindex(order)
            ax.errorbar(range(len(order)), mean.values, yerr=std.values, marker="o", ms=3, capsize=2,
                        color=f"C{r % 10}", label=model)
            if stat == "sign_coherence":
                floor = sh[(sh.metric == "sign_coherence_noise_floor") & (sh.model == model)]
                floor = floor.groupby("layer").value.mean().reindex(order)
                ax.plot(range(len(order)), floor.values, ":", color="grey", lw=1, label="noise floor")
            layer_ticks(ax, range(len(order)), order)
    fig.suptitle("shattered gradients per layer, input → output (one row per model; "
                 "dotted: sign-coherence noise floor)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def shattering_plot(folder: Path, results: pd.DataFrame) -> list:
    fig = make_shattering_plot(results)
    return [] if fig is None else _save_all(folder, [("shattered_gradients.png", fig)])


def localization_by_layer(folder: Path, results: pd.DataFrame) -> list:
    """Energy pointing game per method across layer choices (the seed paper's plot)."""
    return metric_by_layer(folder, results, "localization", "energy_pointing_game", "localization_by_layer.png")


def grid_by_layer(folder: Path, results: pd.DataFrame) -> list:
    """The grid pointing game's localization score per method across layer choices (real photos)."""
    return metric_by_layer(folder, results, "grid_pointing", "grid_localization", "grid_by_layer.png")


def make_metric_by_layer(results: pd.DataFrame, task: str, metric: str):
    """``metric`` per method across layer choices, one panel per model; input-space methods
    and reference maps as horizontal lines; one legend for the figure, of every method drawn
    in any panel. None without rows at two layer choices."""
    loc = results[(results.task == task) & (results.metric == metric)]
    if loc.empty or loc.layer_choice.nunique() < 2:
        return None
    models = sorted(set(loc.model))
    fig = new_figure(4.6 * len(models), 3.4)
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, model in zip(axes, models):
        lm = loc[loc.model == model]
        choices = sorted(set(lm.layer_choice) - {"input"}, key=layer_key)
        for (method, lib), g in sorted(lm.groupby(["method", "library"]),
                                       key=lambda x: (LIB_ORDER.get(x[0][1], 3), method_key(x[0][0]))):
            mean = g.groupby("layer_choice").value.mean()
            colour, style = method_colour(method), method_style(method, lib)
            if set(mean.index) == {"input"}:
                ax.axhline(mean.iloc[0], ls=style, lw=1.2, label=method, color=colour)
            else:
                ax.plot(range(len(choices)), mean.reindex(choices).values, style, marker="o",
                        ms=3, label=method, color=colour)
        ax.set_xticks(range(len(choices)))
        ax.set_xticklabels(choices, fontsize=LABEL_FONTSIZE + 1)
        ax.tick_params(axis="y", labelsize=LABEL_FONTSIZE)
        ax.set_title(f"{model}: {metric.replace('_', ' ')} by layer", fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    figure_legend(fig, axes, title="dashed: tf-keras-vis\nflat: input space")
    return fig


def metric_by_layer(folder: Path, results: pd.DataFrame, task: str, metric: str, filename: str) -> list:
    fig = make_metric_by_layer(results, task, metric)
    return [] if fig is None else _save_all(folder, [(filename, fig)])


def make_loc_delta_curve(results: pd.DataFrame):
    """Mean Loc(δ) over images against δ, one line per method (its colour, `method_style`);
    one panel per model (rows) × layer choice (columns), the input-space methods and reference
    maps drawn in every layer's panel. None without ``loc_delta`` rows."""
    loc = results[(results.task == "localization") & (results.metric == "loc_delta")]
    loc = loc.assign(delta=deltas(loc)).dropna(subset=["delta", "value"])
    if loc.empty:
        return None
    models = sorted(set(loc.model))
    layered = sorted(set(loc.layer_choice) - {"input"}, key=layer_key) or ["input"]
    fig = new_figure(4.2 * len(layered), 3.2 * len(models))
    axes = fig.subplots(len(models), len(layered), squeeze=False)
    for r, model in enumerate(models):
        for c, choice in enumerate(layered):
            ax = axes[r, c]
            if choice != "input" and not ((loc.model == model) & (loc.layer_choice == choice)).any():
                ax.set_visible(False)  # no method of this model ran at this layer: no panel
                continue
            sel = loc[(loc.model == model) & loc.layer_choice.isin([choice, "input"])]
            groups = sorted(sel.groupby(["method", "library"]),
                            key=lambda x: (LIB_ORDER.get(x[0][1], 3), method_key(x[0][0])))
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
                ax.legend(fontsize=LABEL_FONTSIZE - 1, ncol=2)
    fig.suptitle("Loc(δ) over δ (Chattopadhyay et al. 2018): dashed tf-keras-vis, dotted reference maps",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def loc_delta_curve(folder: Path, results: pd.DataFrame) -> list:
    fig = make_loc_delta_curve(results)
    return [] if fig is None else _save_all(folder, [("loc_delta_curve.png", fig)])


def all_figures(folder, results, curves, cfg=None, log=print, map_dirs=None) -> list:
    folder = Path(folder)
    max_methods = 14 if cfg is None else int(cfg.get("report", {}).get("max_methods", 14))
    out = []
    for fn in (lambda: heatmap_grids(folder, map_dirs, max_methods, results),
               lambda: localization_by_layer(folder, results),
               lambda: grid_by_layer(folder, results),
               lambda: loc_delta_curve(folder, results),
               lambda: deletion_insertion_curves(folder, curves),
               lambda: road_curves(folder, curves),
               lambda: sanity_curves(folder, results),
               lambda: shattering_plot(folder, results),
               lambda: rank_stability_plot(folder, results)):
        try:
            out += fn()
        except Exception as e:  # one broken figure must not stop the others
            log(f"[tfcam-bench] a figure failed: {type(e).__name__}: {e}")
    return out
