"""Faithfulness: Average Drop %, Increase in Confidence %, deletion and insertion AUC (with
their curves). Win % is computed across methods in the report, from the per-image drops."""
from __future__ import annotations

from dataclasses import dataclass

from benchmarks import api, maps
from benchmarks.driver import Output

name = "faithfulness"
family = maps.FAMILY
record_errors = True
columns = ("first_image", "n_images")


@dataclass
class Settings:
    average_drop: bool = True
    increase_in_confidence: bool = True
    deletion_steps: int = 16           # points of the deletion and insertion curves
    insertion_steps: int = 16
    n_images: int | None = None     # null: every image


def units(run) -> list:
    return maps.units(run, name, run.plan(name), 1)


def evaluate(run, unit, inputs) -> Output:
    value = inputs[unit.inputs[0]]
    _, _, _, idx = unit.payload
    m = api.metrics()
    s = run.settings(name)
    images = run.data.images[idx]
    targets = run.targets[idx]
    batch = value.maps
    base = unit.row
    rows, curves = [], []

    def add(metric, values):
        rows.extend({**base, "image": int(i), "metric": metric, "value": float(v)} for i, v in zip(idx, values))

    if s.get("average_drop", True) or s.get("increase_in_confidence", True):
        # One pass over original and masked images serves both metrics.
        drop = m.average_drop(run.model, images, batch, targets)
        if s.get("average_drop", True):
            add("average_drop", drop.values)
        if s.get("increase_in_confidence", True):
            original, masked = drop.extras["original"], drop.extras["masked"]
            add("increase_in_confidence", 100.0 * (original < masked))
    steps = int(s.get("deletion_steps", 16))
    if steps:
        curve_base = {k: base[k] for k in ("task", "model", "method", "library", "layer_choice", "layer")}
        for res in m.deletion_insertion(run.model, images, batch, targets, steps=steps):
            add(res.name, res.values)
            fraction = res.extras["fraction"]
            for i, curve in zip(idx, res.curves):
                for s_, v in enumerate(curve):
                    curves.append(curve_base | {"image": int(i), "curve": res.name, "step": s_,
                                                "fraction": float(fraction[s_]), "value": float(v)})
    return Output(rows + maps.timing_rows(run, unit, value), curves)
