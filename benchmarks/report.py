"""summary.md and figures from a run folder's tables (matplotlib, Agg backend).

Everything here reads ``results.csv`` / ``curves.csv`` / ``maps/``, so a report can be
rebuilt at any time: ``python -m benchmarks.report <run folder>``.
"""
from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import speed_report
from benchmarks.results import CURVE_COLUMNS, RESULT_COLUMNS, read_table

HIGHER_IS_BETTER = {
    "iou": True, "pointing_game": True, "energy_pointing_game": True, "loc_delta": True,
    "class_sensitivity": True, "average_drop": False, "increase_in_confidence": True,
    "deletion": False, "insertion": True, "win_percent": True, "spearman_vs_tfcam": True,
    "images_per_second": True, "ratio_to_reference": False, "first_call_seconds": False,
}
TASK_METRICS = {
    "localization": ["iou", "pointing_game", "energy_pointing_game", "loc_delta", "class_sensitivity"],
    "faithfulness": ["average_drop", "increase_in_confidence", "win_percent", "deletion", "insertion"],
}
LAYER_ORDER = {"shallow": 0, "mid": 1, "middle": 1, "last": 2, "input": 3}
LIB_ORDER = {"tfcam": 0, "tf-keras-vis": 1, "baseline": 2}


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_(no rows)_\n"
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(v) for v in r.values) + " |")
    return "\n".join(lines) + "\n"


def _fmt(mean, std, n, digits=3) -> str:
    if n == 0 or not np.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _sort_key(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["_l"] = df["layer_choice"].map(lambda x: LAYER_ORDER.get(x, 1.5))
    df["_lib"] = df["library"].map(lambda x: LIB_ORDER.get(x, 3))
    return df.sort_values(["model", "_l", "_lib", "method"]).drop(columns=["_l", "_lib"])


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
            row[metric] = _fmt(vals.mean(), vals.std(), len(vals)) if len(vals) else "–"
        n = ok[ok.metric == metrics[0]].image.nunique() if len(ok) else 0
        row["n"] = int(n)
        if len(errors):
            row["note"] = f"failed on {len(errors)} batch(es): {errors.error.iloc[0]}"
        else:
            row["note"] = ""
        out.append(row)
    df = _sort_key(pd.DataFrame(out))
    arrows = {m: f"{m} {'↑' if HIGHER_IS_BETTER.get(m, True) else '↓'}" for m in metrics}
    return df.rename(columns=arrows)


def _paired(a: pd.Series, b: pd.Series) -> tuple:
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


def _verdict_change(d: float, p: float) -> str:
    if not np.isfinite(d):
        return "no data"
    if np.isfinite(p) and p < 0.05:
        return "degrades" if d < 0 else "improves"
    return "no significant change"


def _per_image(results, model, method, choice, metric) -> pd.Series:
    sel = results[(results.model == model) & (results.method == method) & (results.metric == metric)
                  & (results.layer_choice == choice)]
    return sel.groupby("image").value.first()


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


def findings(results: pd.DataFrame) -> list:
    """Plain statements, with their numbers, about the questions the suite exists for."""
    out = []
    loc = results[(results.task == "localization") & (results.metric != "error")]
    models = list(dict.fromkeys(results.model[results.model != ""]))
    for model in models:
        lm = loc[loc.model == model]
        if lm.empty:
            continue
        # 1. Grad-CAM (last layer) against the centred Gaussian prior
        for metric in ("energy_pointing_game", "pointing_game", "iou"):
            a = _per_image(lm, model, "gradcam", "last", metric)
            b = _per_image(lm, model, "gaussian", "input", metric)
            if len(a) and len(b):
                d, p, n = _paired(a, b)
                verdict = "beats" if d > 0 and (np.isnan(p) or p < 0.05) else \
                    ("is no better than" if d <= 0 else "is not significantly better than")
                out.append(f"**{model}**: Grad-CAM at the last layer {verdict} a centred Gaussian map on "
                           f"{metric} ({a.mean():.3f} vs {b.mean():.3f}, mean difference {d:+.3f}, "
                           f"Wilcoxon p={p:.2g}, {n} images).")
        # 2. The seed paper's claim: Grad-CAM degrades at shallow layers, Relevance-CAM does not
        for metric in ("energy_pointing_game", "pointing_game", "iou"):
            vals = {}
            for method in ("gradcam", "relevance_cam"):
                for choice in ("shallow", "mid", "last"):
                    s = _per_image(lm, model, method, choice, metric)
                    if len(s):
                        vals[(method, choice)] = s
            if not all((m, c) in vals for m in ("gradcam", "relevance_cam") for c in ("shallow", "last")):
                continue
            parts = []
            for method, label in (("gradcam", "Grad-CAM"), ("relevance_cam", "Relevance-CAM")):
                trail = " → ".join(f"{vals[(method, c)].mean():.3f}" for c in ("last", "mid", "shallow")
                                   if (method, c) in vals)
                d, p, n = _paired(vals[(method, "shallow")], vals[(method, "last")])
                parts.append(f"{label} {trail} ({_verdict_change(d, p)}, shallow − last {d:+.3f}, p={p:.2g})")
            d, p, n = _paired(vals[("relevance_cam", "shallow")], vals[("gradcam", "shallow")])
            g_deg = _paired(vals[("gradcam", "shallow")], vals[("gradcam", "last")])
            r_deg = _paired(vals[("relevance_cam", "shallow")], vals[("relevance_cam", "last")])
            claim = (g_deg[0] < 0 and g_deg[1] < 0.05) and not (r_deg[0] < 0 and r_deg[1] < 0.05)
            out.append(
                f"**{model}**, {metric}, last → mid → shallow layer: " + "; ".join(parts)
                + f". At the shallow layer Relevance-CAM − Grad-CAM = {d:+.3f} (Wilcoxon p={p:.2g}, {n} images: "
                + ("Relevance-CAM better" if d > 0 and p < 0.05 else
                   "Grad-CAM better" if d < 0 and p < 0.05 else "no significant difference")
                + "). The seed paper's pattern (Grad-CAM degrades at shallow layers, Relevance-CAM keeps its "
                + ("localization) **is reproduced** here." if claim else "localization) is **not** reproduced here."))
    agree = results[(results.task == "agreement") & (results.metric == "spearman_vs_tfcam")]
    if not agree.empty:
        parts = [f"{r.method}@{r.layer_choice} on {r.model}: {r.value:.3f}"
                 for r in agree.groupby(["model", "method", "layer_choice"]).value.median().reset_index().itertuples()]
        out.append("Agreement of tf-keras-vis with tfcam (median Spearman rank correlation of the maps): "
                   + "; ".join(parts) + ".")
    for model in models:  # another view of a model (same weights) should give the same numbers
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
    errs = results[(results.metric == "error") & (results.library == "tf-keras-vis")]
    if not errs.empty:
        for (model, method), g in errs.groupby(["model", "method"]):
            out.append(f"tf-keras-vis **failed** for {method} on {model} "
                       f"({', '.join(sorted(set(g.layer_choice)))}): `{g.error.iloc[0]}`.")
    errs = results[(results.metric == "error") & (results.library != "tf-keras-vis")]
    if not errs.empty:
        for (model, method), g in errs.groupby(["model", "method"]):
            out.append(f"{method} failed on {model} ({', '.join(sorted(set(g.layer_choice)))}): `{g.error.iloc[0]}`.")
    shat = results[(results.task == "shattered_gradients") & (results.metric != "error")]
    for model, sm in shat.groupby("model", sort=False):
        order = list(dict.fromkeys(sm.layer))
        means = sm.groupby(["metric", "layer"]).value.mean()
        def at(metric, layer):  # noqa: E306
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
    san = results[(results.task == "sanity") & (results.metric == "spearman_abs")]
    if not san.empty:
        san = san.assign(mode=san.param.str.split(":").str[0], step=san.param.str.split(":").str[1].astype(int))
        for (model, method, choice, mode), g in san.groupby(["model", "method", "layer_choice", "mode"]):
            last = g[g.step == g.step.max()].value.mean()
            first = g[g.step == g.step.min()].value.mean()
            if mode == "cascading":
                out.append(f"Sanity ({model}, {method}@{choice}, cascading): Spearman |map| vs the trained "
                           f"model's is {first:.2f} after randomizing the top layer and {last:.2f} with all "
                           f"layers randomized — " + ("passes (maps change)" if last < 0.5 else
                                                      "**fails** (maps barely change)") + ".")
    return out


def _environment() -> list:
    lines = [f"- date: {datetime.datetime.now():%Y-%m-%d %H:%M}",
             f"- machine: {platform.platform()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
             f"- command: `{' '.join([Path(sys.argv[0]).name] + sys.argv[1:])}`"]
    try:
        import keras
        lines.append(f"- keras {keras.__version__} ({keras.backend.backend()} backend)")
        lines.append(f"- device: {_device(keras.backend.backend())}")
    except Exception:
        pass
    for mod in ("tfcam", "tensorflow", "tf_keras_vis"):
        try:
            m = __import__(mod)
            lines.append(f"- {mod} {getattr(m, '__version__', '?')}")
        except Exception:
            pass
    return lines


def _device(backend: str) -> str:
    """The accelerator the backend computes on (its kind, e.g. 'NVIDIA H100 80GB HBM3'), or 'CPU'."""
    if backend == "jax":
        import jax
        device = jax.devices()[0]
        return f"{device.device_kind} ({device.platform}, jax {jax.__version__})"
    if backend == "tensorflow":
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return "CPU"


def write_summary(folder: Path, results: pd.DataFrame, figures: list, title: str = "") -> Path:
    folder = Path(folder)
    parts = [f"# tfcam benchmark: {title or folder.name}\n", *_environment(), ""]
    models = results[results.task == "model"]
    if not models.empty:
        rows = []
        for name, g in models.groupby("model", sort=False):
            get = lambda m: g[g.metric == m].value.iloc[0] if (g.metric == m).any() else np.nan  # noqa: E731
            skipped = g[g.metric == "not_accurate_enough"]
            rows.append({"model": name, "weights": g.param.iloc[0],
                         "val accuracy": f"{get('val_accuracy'):.3f}" if np.isfinite(get("val_accuracy")) else "–",
                         "accuracy on these images (single-class)": f"{get('eval_accuracy'):.3f}" if np.isfinite(get("eval_accuracy")) else "–",
                         "status": (f"NOT ACCURATE ENOUGH: {skipped.error.iloc[0]} ({skipped.param.iloc[0]})"
                                    if len(skipped) else "explained")})
        parts += ["## Models\n", _md_table(pd.DataFrame(rows))]
    found = findings(results)
    if found:
        parts += ["## Findings\n", "Computed from the table below by `benchmarks/report.py`; "
                  "paired tests are over the same images.\n", *[f"- {f}" for f in found], ""]
    wins = win_percent(results)
    for task, metrics in TASK_METRICS.items():
        table = metric_table(results, task, metrics, wins)
        if not table.empty:
            parts += [f"## {task.capitalize()} (mean ± std over images)\n", _md_table(table)]
    if not wins.empty:
        parts.append("Win %: share of images where the method has the lowest Average Drop among the methods "
                     "at that layer (input-space and reference maps compete at every layer; one value per layer "
                     "for those).\n")
    agree = results[(results.task == "agreement") & (results.metric == "spearman_vs_tfcam")]
    if not agree.empty:
        t = agree.groupby(["model", "method", "param", "layer_choice"]).value.agg(["mean", "std", "median", "count"]).reset_index()
        t = t.rename(columns={"param": "tfcam counterpart", "count": "n"})
        for c in ("mean", "std", "median"):
            t[c] = t[c].map(lambda v: f"{v:.3f}")
        parts += ["## Agreement: tf-keras-vis vs tfcam (Spearman rank correlation of the maps)\n", _md_table(t)]
    san = results[(results.task == "sanity") & (results.metric != "error")]
    if not san.empty:
        san = san.assign(mode=san.param.str.split(":").str[0], step=san.param.str.split(":").str[1].astype(int))
        last = san[san.step == san.groupby(["model", "method", "layer_choice", "mode"]).step.transform("max")]
        t = last.groupby(["model", "method", "layer_choice", "mode", "metric"]).value.mean().unstack("metric").reset_index()
        for c in t.columns[4:]:
            t[c] = t[c].map(lambda v: f"{v:.3f}")
        parts += ["## Sanity checks: similarity to the trained model's maps at the last randomization step\n",
                  "Lower is better (a method should depend on the weights). Cascading: all listed layers "
                  "randomized; independent: the bottom layer alone.\n", _md_table(t)]
    shat = results[(results.task == "shattered_gradients") & (results.metric != "error")]
    if not shat.empty:
        t = shat.groupby(["model", "layer", "metric"]).value.mean().unstack("metric").reset_index()
        order = {ln: i for i, ln in enumerate(dict.fromkeys(shat.layer))}
        t = t.sort_values(["model", "layer"], key=lambda s: s.map(order) if s.name == "layer" else s)
        for c in t.columns[2:]:
            t[c] = t[c].map(lambda v: f"{v:.3f}")
        parts += ["## Shattered gradients per layer (means over images)\n", _md_table(t),
                  "At a layer that feeds global average pooling directly, the gradient is the same at every "
                  "position (autocorrelation reported as 0, sign coherence 1): that layer's row says nothing "
                  "about shattering.\n"]
    parts += speed_report.markdown(results, _md_table)
    if figures:
        parts += ["## Figures\n", *[f"- [{Path(f).name}]({Path(f).relative_to(folder).as_posix()})" for f in figures], ""]
    n_err = int((results.metric == "error").sum())
    parts += [f"---\n{len(results)} rows in `results.csv` (one per image × model × method × layer × metric); "
              f"{n_err} error rows (failed batches are kept in the table with their message)."]
    path = folder / "summary.md"
    tmp = folder / "summary.md.tmp"
    tmp.write_text("\n".join(parts) + "\n")
    tmp.replace(path)
    return path


def write_report(folder, cfg=None, log=print) -> Path:
    folder = Path(folder)
    results = read_table(folder / "results.csv", RESULT_COLUMNS)
    curves = read_table(folder / "curves.csv", CURVE_COLUMNS)
    figures = []
    want_figures = True if cfg is None else bool(cfg.get("report", {}).get("figures", True))
    if want_figures:
        from benchmarks import figures as figs
        try:
            figures = figs.all_figures(folder, results, curves, cfg, log=log)
        except Exception as e:  # figures are a bonus: never lose the summary for them
            log(f"[tfcam-bench] figures failed: {type(e).__name__}: {e}")
    title = "" if cfg is None else str(cfg.get("experiment", {}).get("name", ""))
    return write_summary(folder, results, figures, title)


def aggregate_sweep(sweep_dir: Path) -> Path | None:
    """Concatenate the jobs' results.csv under ``sweep_dir`` and summarize them."""
    sweep_dir = Path(sweep_dir)
    tables = [read_table(p) for p in sorted(sweep_dir.rglob("results.csv")) if p.parent != sweep_dir]
    if not tables:
        return None
    results = pd.concat(tables, ignore_index=True).drop_duplicates(
        subset=[c for c in RESULT_COLUMNS if c not in ("value", "error")])
    results.to_csv(sweep_dir / "results.csv", index=False)
    curves = [read_table(p, CURVE_COLUMNS) for p in sorted(sweep_dir.rglob("curves.csv")) if p.parent != sweep_dir]
    curves = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    figures = []
    try:
        from benchmarks import figures as figs
        figures = figs.all_figures(sweep_dir, results, curves, None, map_dirs=sorted(p for p in sweep_dir.rglob("maps") if p.is_dir()))
    except Exception as e:
        print(f"[tfcam-bench] sweep figures failed: {type(e).__name__}: {e}")
    return write_summary(sweep_dir, results, figures, f"sweep {sweep_dir.name}")


if __name__ == "__main__":
    print(write_report(Path(sys.argv[1])))
