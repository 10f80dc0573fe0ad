"""The speed section of summary.md: one table per model, and the goals checked against it.

Reads the rows of ``benchmarks/tasks/speed.py`` (the setting, e.g. ``b32-float32``, is its
``batch_size`` and ``precision`` columns).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..configs import load_group
from ..tasks import speed

# (what is compared, how, goal): the goals of issue 6, checked on every run; the absolute
# Score-CAM goals were set for an H100 and hold only there.
RATIO_GOALS = {"grad_cam": 1.3, "score_cam": 1.2}
RELEVANCE_OVER_GRADCAM = 2.0
BF16_AGREEMENT = 0.99
SCORECAM_MS_H100 = {("vgg16", "float32"): 60, ("resnet50", "float32"): 125,
                    ("vgg16", "mixed_bfloat16"): 40, ("resnet50", "mixed_bfloat16"): 100}


def reference_name(method_id: str) -> str:
    """What a method's ``ratio_to_reference`` divides by (see the runner's docstring)."""
    try:
        name = str(load_group("method", method_id).name)
    except Exception:  # a method not in conf/method: its id is its name
        name = method_id
    if name in speed.PERTURBATION_METHODS:
        return "perturbed inputs × forward"
    if name in speed.PASSES_PER_IMAGE:
        return f"{speed.PASSES_PER_IMAGE[name][0]} × forward+backward"
    return "forward+backward"


def _setting(rows: pd.DataFrame) -> pd.Series:
    """``b<batch size>-<precision>``, the setting's name in the tables."""
    return "b" + rows.batch_size.astype(int).astype(str) + "-" + rows.precision.astype(str)


def speed_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per model × setting × method × layer choice: the median timings, side by side.

    A sweep's combined table (``-m``) holds each job's rows: every job timed the reference
    passes (forward, forward_backward, …) again, and may time a method at several layer
    choices. Repeated measurements of one row are summarized by their median, so each model ×
    setting has one row per reference pass."""
    rows = results[(results.task == "speed") & (results.metric != "error")]
    rows = rows.assign(param=_setting(rows))
    per_image = rows[rows.metric == "spearman_to_float32"]
    timing = rows[rows.metric != "spearman_to_float32"]
    keys = ["model", "param", "method", "library", "layer_choice"]
    t = timing.pivot_table(index=keys, columns="metric", values="value", aggfunc="median").reset_index()
    # the run's order (references first in each setting), not the alphabet's
    order = {k: i for i, k in enumerate(dict.fromkeys(zip(*(timing[c] for c in keys))))}
    t = t.assign(_order=[order[k] for k in zip(*(t[c] for c in keys))])
    t = t.sort_values("_order").drop(columns="_order").reset_index(drop=True)
    if not per_image.empty:
        agree = per_image.groupby(["model", "param", "method", "layer_choice"]).value.agg(["mean", "min"])
        agree.columns = ["spearman_to_float32", "min_spearman_to_float32"]
        t = t.merge(agree.reset_index(), on=["model", "param", "method", "layer_choice"], how="left")
    return t.rename(columns={"param": "setting"})


def method_label(method: str, layer_choice: str) -> str:
    """A method's name in the tables: ``grad_cam``, or ``grad_cam@shallow`` at a layer choice
    other than the default (last) one."""
    return method if layer_choice in ("last", "input", "") else f"{method}@{layer_choice}"


def _cell(value, fmt: str) -> str:
    return fmt.format(value) if value is not None and np.isfinite(value) else "–"


def markdown(results: pd.DataFrame, md_table) -> list:
    """The speed section (a list of markdown blocks), empty when the run timed nothing."""
    speed = results[results.task == "speed"]
    if speed.empty:
        return []
    t = speed_table(results)
    parts = ["## Speed\n",
             "Median of the timed calls after the first (compiling) one. `ratio` divides a method's time by "
             "the plain compiled passes it is made of, on the same model and batch: forward+backward for "
             "gradient methods (× samples or steps for SmoothGrad and Integrated Gradients), perturbed inputs "
             "× one forward per input (at the perturbation chunk size) for Score-CAM, Ablation-CAM and "
             "occlusion (`÷ forward`: their time in forwards of the batch). `forward`, `forward_backward`: those "
             "passes themselves (`forward_chunk`: one chunk of the perturbation methods).\n"]
    for model, g in t.groupby("model", sort=False):
        rows = []
        for r in g.itertuples():
            get = lambda k, r=r: getattr(r, k, np.nan)
            rows.append({
                "setting": r.setting, "method": method_label(r.method, r.layer_choice), "library": r.library,
                "images/s": _cell(get("images_per_second"), "{:.1f}"),
                "ms/image": _cell(1000 / get("images_per_second"), "{:.2f}"),
                "first call (s)": _cell(get("first_call_seconds"), "{:.1f}"),
                "ratio": _cell(get("ratio_to_reference"), "{:.3g}×"),
                "reference": reference_name(r.method) if np.isfinite(get("ratio_to_reference")) else "",
                "÷ forward": _cell(get("ratio_to_forward"), "{:.3g}×"),
                "perturbed inputs": _cell(get("perturbed_inputs"), "{:.0f}"),
                "Spearman vs float32 (mean / min)": (
                    f"{get('spearman_to_float32'):.3f} / {get('min_spearman_to_float32'):.3f}"
                    if np.isfinite(get("spearman_to_float32")) else ""),
            })
        parts += [f"### {model}\n", md_table(pd.DataFrame(rows))]
    errors = speed[speed.metric == "error"]
    if not errors.empty:
        rows = errors.assign(setting=_setting(errors))[["model", "setting", "method", "error"]]
        parts += ["Methods that failed:\n", md_table(rows)]
    goals = goal_table(t)
    if not goals.empty:
        parts += ["### Goals\n", md_table(goals)]
    return parts


def goal_table(t: pd.DataFrame) -> pd.DataFrame:
    """Each speed goal with the value measured and whether it is met."""
    rows = []

    def add(model, setting, goal, value, limit, higher_is_better=False):
        if value is None or not np.isfinite(value):
            return
        met = value >= limit if higher_is_better else value <= limit
        rows.append({"model": model, "setting": setting, "goal": goal, "measured": f"{value:.3g}",
                     "met": "yes" if met else "**no**"})

    tfcam = t[t.library == "tfcam"]
    seconds = {(r.model, r.setting, r.method, r.layer_choice): r.seconds for r in tfcam.itertuples()} \
        if "seconds" in tfcam else {}
    for _, r in tfcam.iterrows():
        model, setting, method, choice = r["model"], r["setting"], r["method"], r["layer_choice"]
        name = method_label(method, choice)
        if method in RATIO_GOALS and "ratio_to_reference" in r:
            add(model, setting, f"{name} ≤ {RATIO_GOALS[method]}× {reference_name(method)}",
                r["ratio_to_reference"], RATIO_GOALS[method])
        grad_cam = seconds.get((model, setting, "grad_cam", choice))
        if method == "relevance_cam" and grad_cam:
            add(model, setting, f"{name} ≤ {RELEVANCE_OVER_GRADCAM}× {method_label('grad_cam', choice)}",
                r["seconds"] / grad_cam, RELEVANCE_OVER_GRADCAM)
        precision = setting.split("-", 1)[-1]
        if method == "score_cam" and (model, precision) in SCORECAM_MS_H100:
            add(model, setting, f"{name} ≤ {SCORECAM_MS_H100[model, precision]} ms/image (on an H100)",
                1000 / r["images_per_second"], SCORECAM_MS_H100[model, precision])
        if "spearman_to_float32" in r and np.isfinite(r["spearman_to_float32"]):
            add(model, setting, f"{name} maps vs float32: mean Spearman ≥ {BF16_AGREEMENT}",
                r["spearman_to_float32"], BF16_AGREEMENT, higher_is_better=True)
            add(model, setting, f"{name} maps vs float32: every image's Spearman ≥ {BF16_AGREEMENT}",
                r["min_spearman_to_float32"], BF16_AGREEMENT, higher_is_better=True)
    return pd.DataFrame(rows)
