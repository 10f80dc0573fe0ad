"""Agreement: Spearman rank correlation of each tf-keras-vis map with its tfcam
counterpart's (the method config's ``counterpart``), same image, layer and model. It uses the
maps the map tasks made; when either map failed, the methods' own rows say why and the unit
is left to be retried."""
from __future__ import annotations

from dataclasses import dataclass

from .. import api, maps
from ..driver import Output, Unit

name = "agreement"
family = maps.FAMILY
record_errors = False
columns = ("counterpart",)
directions = {"spearman_vs_tfcam": True}


@dataclass
class Settings:
    pass


def units(run) -> list:
    if not any(t in run.cache.get("tasks", ()) for t in maps.MAP_TASKS):
        return []
    planned = {(str(m.id), c) for m, c, _ in maps.plan(run)}
    out = []
    for pos, (m, choice, layer) in enumerate(maps.plan(run)):
        partner = m.get("counterpart")
        if not partner or (str(partner), choice) not in planned:
            continue
        for idx in run.batches(maps.index(run)):
            out.append(Unit(task=name, key=run.unit(name, m.id, choice, int(idx[0])),
                            row=run.base_row(name, m, choice, layer, counterpart=str(partner)),
                            label=f"agreement {m.id} @ {choice}", payload=idx,
                            inputs=(maps.key(m.id, choice, idx), maps.key(partner, choice, idx)),
                            order=(pos, int(idx[0]), 2)))
    return out


def evaluate(run, unit, inputs) -> Output:
    mine, other = (inputs[k].maps for k in unit.inputs)
    spearman = api.metrics().spearman
    return Output([{**unit.row, "image": int(i), "metric": "spearman_vs_tfcam",
                    "value": float(spearman(a.ravel(), b.ravel()))} for i, a, b in zip(unit.payload, mine, other)])
