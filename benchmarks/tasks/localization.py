"""Localization: IoU (Otsu), pointing game, energy pointing game, Loc(δ) at every δ of
``loc_delta`` (one row per image and δ, the δ in the ``delta`` column), and class
sensitivity on the images holding two classes (both directions, averaged). Every row names
its independent unit (``source``: the image's id; on grids the explained photo, which
several grids may share: :func:`benchmarks.tasks.grid_pointing.sources`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import api, maps
from ..driver import Output
from ..tasks.grid_pointing import sources

name = "localization"
family = maps.FAMILY
record_errors = True
columns = ("first_image", "n_images", "delta", "source")

# Loc(δ) over δ, as Grad-CAM++ reports it; the report picks each paper's δ from these.
LOC_DELTAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class Settings:
    map_threshold: Any = "otsu"  # the map's threshold for IoU (a number or "otsu")
    pointing_tolerance: Any = "auto"   # pixels; auto: the published 15 px at 224, scaled
    loc_delta: Any = field(default_factory=lambda: list(LOC_DELTAS))  # one δ or a list of δ
    class_sensitivity: bool = True
    n_images: int | None = None     # null: every image


def pointing_tolerance(settings, image_size: int) -> float:
    tol = settings.pointing_tolerance
    if tol in (None, "auto"):
        return 15.0 * image_size / 224.0  # the published 15 px at 224, scaled
    return float(tol)


def loc_deltas(settings) -> list:
    """The δ of Loc(δ) as a list of floats (a single number is one δ)."""
    value = settings.loc_delta
    if isinstance(value, (int, float)):
        value = [value]
    return [float(d) for d in value]


def loc_delta_rows(base: dict, idx, curves, deltas, units=None) -> list:
    """One ``loc_delta`` row per image and δ, the δ in its own column; ``units``: {image:
    source} (the ``source`` column; left out without it)."""
    at = (lambda i: {"source": units[int(i)]}) if units else (lambda i: {})
    return [{**base, "image": int(i), **at(i), "metric": "loc_delta", "delta": d, "value": float(v)}
            for i, row in zip(idx, curves) for d, v in zip(deltas, row)]


def units(run) -> list:
    return maps.units(run, name, run.plan(name), 0)


def evaluate(run, unit, inputs) -> Output:
    value = inputs[unit.inputs[0]]
    method_cfg, _, layer, idx = unit.payload
    m = api.metrics()
    s = run.settings(name)
    data = run.data
    masks = data.masks[idx]
    base = unit.row
    batch = value.maps
    targets = getattr(run, "targets", None)
    units = dict(zip(map(int, idx), sources(data, idx, None if targets is None else np.asarray(targets)[idx])))
    results = [
        ("iou", m.iou(batch, masks, threshold=s.map_threshold).values),
        ("pointing_game", m.pointing_game(batch, masks, tolerance=pointing_tolerance(s, data.image_size[0])).values),
        ("energy_pointing_game", m.energy_pointing_game(batch, masks).values),
    ]
    rows = [{**base, "image": int(i), "source": units[int(i)], "metric": metric, "value": float(v)}
            for metric, values in results for i, v in zip(idx, values)]
    deltas = loc_deltas(s)
    rows += loc_delta_rows(base, idx, m.loc_delta_curve(batch, masks, deltas).curves, deltas, units)
    pairs = np.flatnonzero(data.second_labels[idx] >= 0)
    if s.class_sensitivity and run.class_labels and len(pairs):
        pidx = np.asarray(idx)[pairs]
        a, b = data.masks[pidx], data.second_masks[pidx]
        forward = m.class_sensitivity(batch[pairs], a, b).values
        maps_b = run.explain(method_cfg, layer, pidx, targets=data.second_labels[pidx])
        backward = m.class_sensitivity(maps_b, b, a).values
        for i, f, g in zip(pidx, forward, backward):
            rows.append({**base, "image": int(i), "source": units[int(i)], "metric": "class_sensitivity",
                         "value": float((f + g) / 2)})
    return Output(rows + maps.timing_rows(run, unit, value))
