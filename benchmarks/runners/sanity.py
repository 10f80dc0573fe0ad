"""Sanity checks (Adebayo et al.): cascading and independent parameter randomization.

Each step explains a randomized *clone* with an explainer built afresh for it, and compares
the maps with the trained model's (Spearman of |map| and signed map, SSIM, HOG). A method
whose similarity stays high while the weights are destroyed fails the check.
"""
from __future__ import annotations

import numpy as np

from benchmarks import api
from benchmarks.context import error_text
from benchmarks.explainers import make_explainer, unit_maps

TASK = "sanity"


def randomized_layers(model, max_steps=None) -> list:
    """Convolution and dense layers (nested models walked), output to input. With
    ``max_steps``, that many spread evenly, the top one always first."""
    names = []

    def walk(m):
        for layer in m.layers:
            if hasattr(layer, "layers") and layer.layers:
                walk(layer)
            elif layer.weights and any(k in type(layer).__name__ for k in ("Conv", "Dense")):
                names.append(layer.name)

    walk(model)
    names = names[::-1]
    if max_steps and len(names) > int(max_steps):
        pick = np.unique(np.linspace(0, len(names) - 1, int(max_steps)).round().astype(int))
        names = [names[i] for i in pick]
    return names


def run(ctx, opts: dict, bar=None) -> None:
    scfg = ctx.cfg.metrics.sanity
    n = int(opts.get("n_images", scfg.get("n_images", 8)))
    idx = np.arange(min(n, len(ctx.data)))
    images, targets = ctx.data.images[idx], ctx.targets[idx]
    modes = [str(m) for m in opts.get("modes", scfg.get("modes", ["cascading"]))]
    layers = randomized_layers(ctx.model, opts.get("max_steps", scfg.get("max_steps")))
    bs = int(ctx.cfg.get("batch_size", 16))
    for method_cfg, choice, layer in ctx.plan(opts):
        for mode in modes:
            unit = ctx.unit(TASK, method_cfg.id, choice, mode)
            if bar is not None:
                bar.set_postfix_str(f"{ctx.model_name} sanity {method_cfg.id} @ {choice} {mode}")
            if ctx.store.is_done(unit):
                if bar is not None:
                    bar.update(1)
                continue
            base = ctx.base_row(TASK, method_cfg, choice, layer)

            def explain_fn(model, x, t, _m=method_cfg, _layer=layer):
                return unit_maps(make_explainer(_m, model, _layer, bs)(x, np.asarray(t), idx), len(x), x.shape[1:3])

            try:
                frame = api.metrics().randomization_test(ctx.model, images, explain_fn, targets=targets,
                                                         mode=mode, layers=layers,
                                                         seed=int(ctx.cfg.get("seed", 0)))
                rows = [{**base, "image": int(idx[r.image]), "metric": str(r.metric),
                         "param": f"{mode}:{int(r.step)}:{r.layer}", "value": float(r.value)}
                        for r in frame.itertuples()]
            except Exception as e:  # noqa: BLE001 - recorded
                if ctx.cfg.get("fail_fast", False):
                    raise
                rows = [{**base, "image": -1, "metric": "error", "param": mode, "error": error_text(e)}]
            ctx.store.write(unit, rows)
            if bar is not None:
                bar.update(1)


def count_units(ctx, opts) -> int:
    scfg = ctx.cfg.metrics.sanity
    return len(ctx.plan(opts)) * len(list(opts.get("modes", scfg.get("modes", ["cascading"]))))
