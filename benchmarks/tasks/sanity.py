"""Sanity checks (Adebayo et al.): cascading and independent parameter randomization.

Each step explains a randomized *clone* with an explainer built afresh for it, and compares
the maps with the trained model's (Spearman of |map| and signed map, SSIM, HOG). A method
whose similarity stays high while the weights are destroyed fails the check.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from benchmarks import api
from benchmarks.driver import Output, Unit
from benchmarks.explainers import make_explainer, unit_maps

name = "sanity"
family = name
record_errors = True
columns = ("mode", "step", "randomized_layer")


@dataclass
class Settings:
    modes: list[str] = field(default_factory=lambda: ["cascading", "independent"])
    n_images: int = 8
    max_steps: int | None = None   # null: randomize every conv/dense layer; N: N of them from the top


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


def units(run) -> list:
    s = run.settings(name)
    out = []
    for method_cfg, choice, layer in run.plan(name):
        for mode in [str(m) for m in s.modes]:
            out.append(Unit(task=name, key=run.unit(name, method_cfg.id, choice, mode),
                            row=run.base_row(name, method_cfg, choice, layer, mode=mode),
                            label=f"sanity {method_cfg.id} @ {choice} {mode}", payload=(method_cfg, layer, mode),
                            order=(len(out),)))
    return out


def evaluate(run, unit, inputs) -> Output:
    s = run.settings(name)
    method_cfg, layer, mode = unit.payload
    idx = np.arange(min(int(s.n_images), len(run.data)))
    images, targets = run.data.images[idx], run.targets[idx]
    if "sanity_layers" not in run.cache:
        run.cache["sanity_layers"] = randomized_layers(run.model, s.get("max_steps"))
    bs = int(run.cfg.get("batch_size", 16))

    def explain_fn(model, x, t):
        return unit_maps(make_explainer(method_cfg, model, layer, bs)(x, np.asarray(t), idx), len(x), x.shape[1:3])

    frame = api.metrics().randomization_test(run.model, images, explain_fn, targets=targets, mode=mode,
                                             layers=run.cache["sanity_layers"], seed=int(run.cfg.get("seed", 0)))
    return Output([{**unit.row, "image": int(idx[r.image]), "metric": str(r.metric), "step": int(r.step),
                    "randomized_layer": str(r.layer), "value": float(r.value)} for r in frame.itertuples()])
