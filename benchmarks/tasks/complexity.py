"""Complexity of the maps, from the maps alone (no model pass): sparseness, the Gini index of
the map (Chalasani et al., ICML 2020; higher: fewer pixels carry the map), and complexity,
the entropy of the map as a distribution (Bhatt et al., IJCAI 2020; lower: fewer pixels).
Protocols: docs/benchmarks.md, *Robustness and complexity*.

It scores the [0, 1] maps every map task shares (:mod:`benchmarks.maps`), at the input
resolution, every image the map tasks run on. Both metrics are unchanged when a map is scaled,
so the methods' own normalizations do not matter; an all-zero map counts as uniform
(sparseness 0, complexity log(H·W)). Every row names its independent unit (``source``, as in
localization and faithfulness)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import api, maps
from ..driver import Output
from ..tasks.grid_pointing import sources

name = "complexity"
family = maps.FAMILY
record_errors = True
columns = ("first_image", "n_images", "source")
METRICS = ("sparseness", "complexity")


@dataclass
class Settings:
    sparseness: bool = True
    complexity: bool = True


def units(run) -> list:
    return maps.units(run, name, run.plan(name), 3)


def evaluate(run, unit, inputs) -> Output:
    value = inputs[unit.inputs[0]]
    idx = np.asarray(unit.payload[3])
    s = run.settings(name)
    m = api.metrics()
    units_ = sources(run.data, idx, np.asarray(run.targets)[idx])
    rows = []
    for metric in METRICS:
        if not getattr(s, metric):
            continue
        values = getattr(m, metric)(value.maps).values
        rows += [{**unit.row, "image": int(i), "source": u, "metric": metric, "value": float(v)}
                 for i, u, v in zip(idx, units_, values)]
    return Output(rows + maps.timing_rows(run, unit, value))
