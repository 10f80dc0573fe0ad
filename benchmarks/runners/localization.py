"""Localization: IoU (Otsu), pointing game, energy pointing game, Loc(δ), and class
sensitivity on the images holding two classes (both directions, averaged)."""
from __future__ import annotations

import numpy as np

from benchmarks import api

TASK = "localization"


def pointing_tolerance(cfg, image_size: int) -> float:
    tol = cfg.metrics.localization.get("pointing_tolerance", "auto")
    if tol in (None, "auto"):
        return 15.0 * image_size / 224.0  # the published 15 px at 224, scaled
    return float(tol)


def evaluate(ctx, method_cfg, layer_choice, layer, idx, maps) -> list:
    """Rows for one batch of maps (n, H, W) of images ``idx``."""
    m = api.metrics()
    loc_cfg = ctx.cfg.metrics.localization
    data = ctx.data
    masks = data.masks[idx]
    base = ctx.base_row(TASK, method_cfg, layer_choice, layer)
    results = [
        ("iou", m.iou(maps, masks, threshold=loc_cfg.get("iou_threshold", "otsu")).values),
        ("pointing_game", m.pointing_game(maps, masks, tolerance=pointing_tolerance(ctx.cfg, data.image_size[0])).values),
        ("energy_pointing_game", m.energy_pointing_game(maps, masks).values),
        ("loc_delta", m.loc_delta(maps, masks, delta=float(loc_cfg.get("loc_delta", 0.5))).values),
    ]
    rows = [{**base, "image": int(i), "metric": name, "value": float(v)}
            for name, values in results for i, v in zip(idx, values)]
    pairs = np.flatnonzero(data.second_labels[idx] >= 0)
    if loc_cfg.get("class_sensitivity", True) and ctx.class_labels and len(pairs):
        pidx = np.asarray(idx)[pairs]
        a, b = data.masks[pidx], data.second_masks[pidx]
        forward = m.class_sensitivity(maps[pairs], a, b).values
        maps_b = ctx.explain(method_cfg, layer, pidx, targets=data.second_labels[pidx])
        backward = m.class_sensitivity(maps_b, b, a).values
        for i, f, g in zip(pidx, forward, backward):
            rows.append({**base, "image": int(i), "metric": "class_sensitivity", "value": float((f + g) / 2)})
    return rows
