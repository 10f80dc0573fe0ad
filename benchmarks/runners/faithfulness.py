"""Faithfulness: Average Drop %, Increase in Confidence %, deletion and insertion AUC (with
their curves). Win % is computed across methods in the report, from the per-image drops."""
from __future__ import annotations

from benchmarks import api

TASK = "faithfulness"


def evaluate(ctx, method_cfg, layer_choice, layer, idx, maps) -> tuple:
    """(rows, curve rows) for one batch of maps (n, H, W) of images ``idx``."""
    m = api.metrics()
    fcfg = ctx.cfg.metrics.faithfulness
    images = ctx.data.images[idx]
    targets = ctx.targets[idx]
    base = ctx.base_row(TASK, method_cfg, layer_choice, layer)
    rows, curves = [], []

    def add(name, values):
        rows.extend({**base, "image": int(i), "metric": name, "value": float(v)} for i, v in zip(idx, values))

    if fcfg.get("average_drop", True) or fcfg.get("increase_in_confidence", True):
        # One pass over original and masked images serves both metrics.
        drop = m.average_drop(ctx.model, images, maps, targets)
        if fcfg.get("average_drop", True):
            add("average_drop", drop.values)
        if fcfg.get("increase_in_confidence", True):
            original, masked = drop.extras["original"], drop.extras["masked"]
            add("increase_in_confidence", 100.0 * (original < masked))
    steps = int(fcfg.get("deletion_steps", 16))
    if steps:
        curve_base = {k: base[k] for k in ("task", "model", "method", "library", "layer_choice",
                                           "layer")}
        for res in m.deletion_insertion(ctx.model, images, maps, targets, steps=steps):
            add(res.name, res.values)
            fraction = res.extras["fraction"]
            for i, curve in zip(idx, res.curves):
                for s, v in enumerate(curve):
                    curves.append(curve_base | {"image": int(i), "curve": res.name, "step": s,
                                                "fraction": float(fraction[s]), "value": float(v)})
    return rows, curves
