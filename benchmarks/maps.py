"""The maps that localization, faithfulness, agreement, complexity and robustness share:
every method × layer × batch of images is explained once (a shared input of the driver),
then each task records its own unit. tfcam methods are explained first, so tf-keras-vis maps
can be compared with them. A tfcam method's input-space attributions (``Explanation.
attributions``: saliency, Integrated Gradients, LRP ...) travel with its maps."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .driver import Unit

FAMILY = "maps"
# the tasks whose plans make the maps plan
MAP_TASKS = ("localization", "faithfulness", "complexity", "robustness")
# tasks that score only the first ``n_images`` of the maps' images (they cost model passes
# per image): their n_images does not narrow the images the other map tasks score
SUBSET_TASKS = ("robustness",)
MEMBERS = ("localization", "faithfulness", "agreement", "complexity", "robustness")
LIB_RANK = {"tfcam": 0, "baseline": 1}


@dataclass
class Maps:
    """One batch's maps and what explaining it cost; the first task to record the cost
    takes it (``take_seconds``), so it is in the table once per batch."""
    maps: np.ndarray
    seconds: float
    idx: np.ndarray
    taken: bool = False
    attributions: np.ndarray | None = None   # (n, H, W, C) where the method has them

    def take_seconds(self):
        if self.taken:
            return None
        self.taken = True
        return self.seconds


def _active(run) -> list:
    return [t for t in MAP_TASKS if t in run.cache.get("tasks", ())]


def index(run) -> np.ndarray:
    """The images the map tasks run on: the fewest any of them asks for (``n_images``; the
    `SUBSET_TASKS` take the first of these, and a task without the setting takes all)."""
    n = len(run.data)
    sizes = [getattr(run.settings(t), "n_images", None) for t in _active(run) if t not in SUBSET_TASKS]
    return np.arange(min([int(s) for s in sizes if s] + [n]))


def plan(run) -> list:
    """The union of the map tasks' plans, tfcam methods first: [(method, choice, layer)]."""
    if "maps_plan" not in run.cache:
        order, seen = [], set()
        for t in _active(run):
            for m, choice, layer in run.plan(t):
                if (str(m.id), choice) not in seen:
                    seen.add((str(m.id), choice))
                    order.append((m, choice, layer))
        order.sort(key=lambda p: LIB_RANK.get(str(p[0].library), 2))
        run.cache["maps_plan"] = order
    return run.cache["maps_plan"]


def key(method_id, choice, idx) -> tuple:
    return ("maps", str(method_id), str(choice), int(idx[0]))


def provide(run, k: tuple) -> Maps:
    """The driver's provider of ``("maps", method, choice, first image)``."""
    _, method_id, choice, first = k
    method_cfg, layer = next((m, layer) for m, c, layer in plan(run) if str(m.id) == method_id and c == choice)
    idx = next(b for b in run.batches(index(run)) if int(b[0]) == first)
    start = time.perf_counter()
    maps = run.explain(method_cfg, layer, idx)
    seconds = time.perf_counter() - start
    run.save_figure_maps(method_cfg, choice, idx, maps)
    return Maps(maps, seconds, idx, attributions=attributions(run.explainer(method_cfg, layer), maps.shape))


def attributions(explainer, maps_shape) -> np.ndarray | None:
    """The input-space attributions (n, H, W, C) of the explainer's last call (a tfcam method's
    ``Explanation.attributions``), or None: CAMs, tf-keras-vis, reference maps, several inputs."""
    value = getattr(getattr(explainer, "last", None), "attributions", None)
    if value is None or isinstance(value, list):
        return None
    value = np.asarray(value, np.float32)
    return value if value.ndim == 4 and value.shape[:3] == tuple(maps_shape) else None


def units(run, task: str, wanted, rank: int) -> list:
    """One unit per (method, choice) in ``wanted`` (PlanItems) × batch, in the maps' order."""
    want = {(str(m.id), c) for m, c, _ in wanted}
    out = []
    for pos, (m, choice, layer) in enumerate(plan(run)):
        if (str(m.id), choice) not in want:
            continue
        for idx in run.batches(index(run)):
            out.append(Unit(task=task, key=run.unit(task, m.id, choice, int(idx[0])),
                            row=run.base_row(task, m, choice, layer), label=f"{task} {m.id} @ {choice}",
                            payload=(m, choice, layer, idx), inputs=(key(m.id, choice, idx),),
                            order=(pos, int(idx[0]), rank), error_image=int(idx[0]),
                            error_columns={"n_images": len(idx)}))
    return out


def timing_rows(run, unit: Unit, value: Maps) -> list:
    """The explanation's cost, once per batch (in the first task's unit)."""
    seconds = value.take_seconds()
    if seconds is None:
        return []
    return [{**unit.row, "image": -1, "first_image": int(value.idx[0]), "n_images": len(value.idx),
             "metric": "explain_seconds_per_image", "value": seconds / len(value.idx)}]
