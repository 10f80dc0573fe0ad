"""Shattered gradients, per layer: lag-1 autocorrelation and sign coherence of the layer
gradient (with its noise floor), the share of negative Grad-CAM weights, and how well
Grad-CAM's and Relevance-CAM's channel weights rank channels by ablation importance."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import api
from ..driver import Output, Unit, error_text

name = "shattered_gradients"
family = name
record_errors = True
columns = ("relevance_method", "ablation_method")


@dataclass
class Settings:
    n_images: int = 16
    layers: list[str] | None = None          # null: the model's stages
    relevance_method: str | None = "relevance_cam"
    ablation_method: str | None = "ablation_cam"


def stage_layers(run) -> list:
    layers = run.settings(name).layers or run.model_cfg.get("stages") or list(run.model_cfg.layers.values())
    return [str(x) for x in layers]


def _choice_of(run, layer: str) -> str:
    for choice, layer_name in (run.model_cfg.get("layers") or {}).items():
        if str(layer_name) == layer:
            return str(choice)
    return "stage"


def units(run) -> list:
    n = int(run.settings(name).n_images)
    return [Unit(task=name, key=run.unit(name, "gradients", "stages", int(idx[0])),
                 row={**run.base_row(name), "method": "gradients", "library": "tfcam"},
                 label=f"shattering {int(idx[0])}", payload=idx, order=(int(idx[0]),), error_image=int(idx[0]))
            for idx in run.batches(np.arange(min(n, len(run.data))))]


def evaluate(run, unit, inputs) -> Output:
    s = run.settings(name)
    idx = unit.payload
    relevance, ablation = s.relevance_method, s.ablation_method
    rows = []
    for layer in stage_layers(run):  # one layer at a time: a failing layer does not hide the others
        base = {**unit.row, "layer_choice": _choice_of(run, layer), "layer": layer}
        attempts = [(relevance, ablation)]
        if relevance is not None:  # without Relevance-CAM, the gradient statistics still count
            attempts.append((None, ablation))
        if ablation is not None:
            attempts.append((None, None))
        for rel, abl in attempts:
            try:
                result = api.metrics().shattering(run.model, run.data.images[idx], [layer], run.targets[idx],
                                                  relevance_method=rel, ablation_method=abl, batch_size=len(idx))
                rows += [{**base, "image": int(idx[r.image]), "metric": str(r.metric), "value": float(r.value)}
                         for r in result.to_frame().itertuples()]
                break
            except Exception as e:
                if run.fail_fast:
                    raise
                rows.append({**base, "image": int(idx[0]), "metric": "error", "error": error_text(e),
                             "relevance_method": rel or "", "ablation_method": abl or ""})
    return Output(rows)
