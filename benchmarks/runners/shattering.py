"""Shattered gradients, per layer: lag-1 autocorrelation and sign coherence of the layer
gradient (with its noise floor), the share of negative Grad-CAM weights, and how well
Grad-CAM's and Relevance-CAM's channel weights rank channels by ablation importance."""
from __future__ import annotations

import numpy as np

from benchmarks import api
from benchmarks.context import error_text

TASK = "shattered_gradients"


def stage_layers(ctx, opts) -> list:
    layers = opts.get("layers") or ctx.model_cfg.get("stages") or list(ctx.model_cfg.layers.values())
    return [str(x) for x in layers]


def _choice_of(ctx, layer: str) -> str:
    for choice, name in (ctx.model_cfg.get("layers") or {}).items():
        if str(name) == layer:
            return str(choice)
    return "stage"


def run(ctx, opts: dict, bar=None) -> None:
    n = int(opts.get("n_images", ctx.cfg.metrics.shattering.get("n_images", 16)))
    index = np.arange(min(n, len(ctx.data)))
    layers = stage_layers(ctx, opts)
    relevance = opts.get("relevance_method", "relevance_cam")
    ablation = opts.get("ablation_method", "ablationcam")
    base_cfg = {"id": "gradients", "library": "tfcam"}
    for idx in ctx.batches(index):
        unit = ctx.unit(TASK, "gradients", "stages", int(idx[0]))
        if bar is not None:
            bar.set_postfix_str(f"{ctx.model_name} shattering {int(idx[0])}")
        if ctx.store.is_done(unit):
            if bar is not None:
                bar.update(1)
            continue
        rows = []
        for layer in layers:  # one layer at a time: a failing layer does not hide the others
            base = {**ctx.base_row(TASK), "method": base_cfg["id"], "library": base_cfg["library"],
                    "layer_choice": _choice_of(ctx, layer), "layer": layer}
            attempts = [(relevance, ablation)]
            if relevance is not None:  # without Relevance-CAM, the gradient statistics still count
                attempts.append((None, ablation))
            if ablation is not None:
                attempts.append((None, None))
            for k, (rel, abl) in enumerate(attempts):
                try:
                    frame = api.metrics().shattering(ctx.model, ctx.data.images[idx], [layer], ctx.targets[idx],
                                                     relevance_method=rel, ablation_method=abl,
                                                     batch_size=len(idx))
                    rows += [{**base, "image": int(idx[r.image]), "metric": str(r.statistic), "value": float(r.value)}
                             for r in frame.itertuples()]
                    break
                except Exception as e:  # noqa: BLE001
                    if ctx.cfg.get("fail_fast", False):
                        raise
                    rows.append({**base, "image": int(idx[0]), "metric": "error", "error": error_text(e),
                                 "param": f"relevance={rel},ablation={abl}"})
        ctx.store.write(unit, rows)
        if bar is not None:
            bar.update(1)


def count_units(ctx, opts) -> int:
    n = int(opts.get("n_images", ctx.cfg.metrics.shattering.get("n_images", 16)))
    return len(ctx.batches(np.arange(min(n, len(ctx.data)))))
