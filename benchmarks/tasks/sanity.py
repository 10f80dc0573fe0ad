"""Sanity checks (Adebayo et al.): cascading and independent parameter randomization.

Each step explains a randomized *clone* with an explainer built afresh for it, and compares
the maps with the trained model's. A method whose similarity stays high while the weights are
destroyed fails the check. As in the paper, the maps are compared signed and in absolute value:

* ``spearman``: Spearman rank correlation of each method's *signed* map (:func:`signed_maps`:
  tfcam's ``Explanation.signed``, the map before any ReLU or absolute value: the Grad-CAM
  family's sum_k w_k A^k, the channel sum of the input-space methods' attributions,
  Relevance-CAM's and occlusion's raw map ...; the tf-keras-vis methods and the reference maps
  give only their [0, 1] maps, so theirs equals ``spearman_abs``);
* ``spearman_abs``, ``ssim``, ``hog_spearman``: on the maps every task uses (in [0, 1], the
  method's own normalization of its absolute or positive evidence).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import api
from ..driver import Output, Unit
from ..method_adapters import make_explainer, masking_fill, unit_maps

name = "sanity"
family = name
record_errors = True
columns = ("mode", "step", "randomized_layer")
UNIT_SIMILARITIES = ("spearman_abs", "ssim", "hog_spearman")   # on the [0, 1] maps
SIGNED = "spearman"                                              # on the signed maps


@dataclass
class Settings:
    modes: list[str] = field(default_factory=lambda: ["cascading", "independent"])
    n_images: int = 8
    max_steps: int | None = None   # null: randomize every conv/dense layer; N: N of them from the top


def signed_maps(explainer, maps) -> np.ndarray:
    """The signed maps of the explainer's last call, at the resolution the method has (the same
    for the trained and the randomized model): a tfcam method's ``Explanation.signed``; the
    [0, 1] ``maps`` of the others (tf-keras-vis, the reference maps), which have no more."""
    signed = getattr(getattr(explainer, "last", None), "signed", None)
    if signed is None or isinstance(signed, list):
        return np.asarray(maps, np.float32)
    return np.asarray(signed, np.float32)


def randomized_layers(model, max_steps=None) -> list:
    """Names of the convolution and dense layers that randomization re-draws
    (`tfcam.metrics.weighted_layers`: nested models opened), output to input. With
    ``max_steps``, that many spread evenly, the top one always first."""
    names = [layer.name for layer in api.metrics().weighted_layers(model)
             if any(k in type(layer).__name__ for k in ("Conv", "Dense"))][::-1]
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
        run.cache["sanity_layers"] = randomized_layers(run.model, s.max_steps)
    bs = int(run.cfg.batch_size)

    signed = []   # the signed maps of each call: the trained model's, then one per step

    def explain_fn(model, x, t):
        explainer = make_explainer(method_cfg, model, layer, bs, fill=masking_fill(run.cfg))
        maps = unit_maps(explainer(x, np.asarray(t), idx), len(x), x.shape[1:3])
        signed.append(np.nan_to_num(signed_maps(explainer, maps)))
        return maps

    metrics = api.metrics()
    result = metrics.randomization_test(run.model, images, explain_fn, targets=targets, mode=mode,
                                        randomized_layers=run.cache["sanity_layers"], seed=int(run.cfg.seed),
                                        metrics=UNIT_SIMILARITIES)
    rows = []
    for r in result.to_frame().itertuples():
        row = {**unit.row, "image": int(idx[r.image]), "step": int(r.step), "randomized_layer": str(r.layer)}
        rows.append({**row, "metric": str(r.metric), "value": float(r.value)})
        if r.metric == UNIT_SIMILARITIES[0]:  # the signed one next to it, as randomization_test orders them
            base, step = signed[0][r.image], signed[int(r.step)][r.image]
            rows.append({**row, "metric": SIGNED,
                         "value": float(metrics.similarities(base, step, (SIGNED,))[SIGNED])})
    return Output(rows)
