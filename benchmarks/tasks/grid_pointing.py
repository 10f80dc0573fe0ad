"""Grid pointing game (Rao, Böhle & Schiele, "Towards Better Understanding Attribution
Methods", CVPR 2022) on the grids of :mod:`benchmarks.data.grid` (``dataset=grid``).

Each grid is explained once per cell, for that cell's class. Per grid and cell:

* ``grid_localization``: Rao et al.'s localization score, the share of the map's positive
  attribution that lies inside the cell (0.25 for a map spread evenly; 1 at best);
* ``grid_pointing``: 1 when the map's maximum lies in the cell (the pointing game of Zhang
  et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016), else 0.

Every row names the cell's photo (``source``): the photos repeat across grids (8 grids of 8
photos fill 32 cells, each photo several), so the report's paired tests average the cells of
one photo before testing (`sources`; :mod:`benchmarks.report.stats`).

The map is the positive part of the method's raw attribution (``Explanation.raw``: before the
[0, 1] min-max normalization, which would shift the shares), resized bilinearly to the image;
methods without one (tf-keras-vis) are scored on their [0, 1] maps.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..driver import Output, Unit

name = "grid_pointing"
family = name
record_errors = True
columns = ("cell", "source")
directions = {"grid_localization": True, "grid_pointing": True}


@dataclass
class Settings:
    n_images: int | None = None   # grids (null: every grid)
    energy: str = "raw"           # raw: the positive raw attribution | maps: the [0, 1] maps


# ------------------------------------------------------------------ metrics (numpy)
def positive_share(maps, masks) -> np.ndarray:
    """(N, H, W) maps, (K, H, W) masks -> (N, K): the share of each map's positive part
    inside each mask; 0 for a map with no positive value."""
    pos = np.maximum(np.asarray(maps, np.float64), 0.0)
    total = pos.reshape(len(pos), -1).sum(1)
    inside = np.einsum("nhw,khw->nk", pos, np.asarray(masks, np.float64))
    return np.divide(inside, total[:, None], out=np.zeros_like(inside), where=total[:, None] > 0)


def pointing_hits(maps, masks) -> np.ndarray:
    """(N, H, W) maps, (K, H, W) masks -> (N, K) bool: the mask holds the map's maximum
    (the first one in row-major order on a tie); none for a map with no positive value."""
    maps = np.asarray(maps)
    flat = maps.reshape(len(maps), -1)
    top = flat.argmax(1)
    hits = np.asarray(masks, bool).reshape(len(masks), -1)[:, top].T
    return hits & (flat.max(1) > 0)[:, None]


def attribution(explainer, maps, size, energy: str = "raw") -> np.ndarray:
    """The map the scores use: the explainer's last raw map (positive part, resized as tfcam
    resizes its maps: :func:`tfcam.visualize.resize_maps`), or
    ``maps`` when it has none or ``energy="maps"``."""
    raw = getattr(getattr(explainer, "last", None), "raw", None)
    if energy != "raw" or raw is None or isinstance(raw, list) or np.ndim(raw) != 3:
        return np.asarray(maps, np.float32)
    from tfcam.visualize import resize_maps
    return resize_maps(np.maximum(np.asarray(raw, np.float32), 0.0), size)


# ------------------------------------------------------------------ the task
def has_grids(data) -> bool:
    return getattr(data, "cell_labels", None) is not None


def sources(data, idx, targets=None) -> list:
    """The independent unit of each image's values (the ``source`` column the report's paired
    tests average over): on grids, the photo whose class is explained (the cell holding the
    ``targets`` class; the grid's id when no cell does), elsewhere the image's id (its position
    when the data set has none)."""
    idx = np.asarray(idx)
    ids = getattr(data, "ids", None)
    names = [str(i) for i in (idx if ids is None else np.asarray(ids)[idx])]
    if not has_grids(data) or targets is None:
        return names
    out = []
    for i, t, name in zip(idx, np.asarray(targets), names):
        k = np.flatnonzero(data.cell_labels[i] == t)
        out.append(str(data.cell_photos[i, k[0]]) if len(k) else name)
    return out


def units(run) -> list:
    if not has_grids(run.data):
        run.log(f"[tfcam-bench] grid_pointing skipped: data set {run.data.name} has no grids (dataset=grid)")
        return []
    n = run.settings(name).n_images
    index = np.arange(min(int(n), len(run.data)) if n else len(run.data))
    out = []
    for pos, (method_cfg, choice, layer) in enumerate(run.plan(name)):
        for idx in run.batches(index):
            out.append(Unit(task=name, key=run.unit(name, method_cfg.id, choice, int(idx[0])),
                            row=run.base_row(name, method_cfg, choice, layer),
                            label=f"{name} {method_cfg.id} @ {choice}", payload=(method_cfg, layer, idx),
                            order=(pos, int(idx[0])), error_image=int(idx[0])))
    return out


def evaluate(run, unit, inputs) -> Output:
    method_cfg, layer, idx = unit.payload
    data = run.data
    energy = str(run.settings(name).energy)
    explainer = run.explainer(method_cfg, layer)
    rows = []
    for cell in range(data.cell_labels.shape[1]):
        maps = run.explain(method_cfg, layer, idx, targets=data.cell_labels[idx, cell])
        values = attribution(explainer, maps, data.image_size, energy)
        share = positive_share(values, data.cell_masks[cell:cell + 1])[:, 0]
        hit = pointing_hits(values, data.cell_masks[cell:cell + 1])[:, 0]
        for i, s, h in zip(idx, share, hit):
            at = {**unit.row, "image": int(i), "cell": cell, "source": str(data.cell_photos[i, cell])}
            rows.append({**at, "metric": "grid_localization", "value": float(s)})
            rows.append({**at, "metric": "grid_pointing", "value": float(h)})
    return Output(rows)
