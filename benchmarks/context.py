"""What a task needs for one model: config, data, model, targets, the store, the plan
(:mod:`benchmarks.plan`), and the helpers that build explainers and compute maps."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import plan as planning
from .method_adapters import make_explainer, masking_fill, unit_maps
from .results import ResultStore


@dataclass
class Context:
    cfg: object
    out: Path
    store: ResultStore
    data: object                 # benchmarks.data.Dataset
    model_cfg: object
    model: object
    info: object                 # benchmarks.models.train.ModelInfo
    targets: np.ndarray          # (N,) class explained per image
    predicted: np.ndarray        # (N,) the model's top-1 class
    class_labels: bool           # targets are the data set's classes (class sensitivity applies)
    experiment: str
    targets_kind: str = "label"  # the ``targets`` column: label | predicted (benchmarks.schema.Targets)
    log: object = print
    cache: dict = field(default_factory=dict)   # what a task keeps across its units
    _explainers: dict = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        return str(self.model_cfg.name)

    @property
    def progress(self) -> bool:
        return bool(self.cfg.get("progress", True))

    @property
    def fail_fast(self) -> bool:
        return bool(self.cfg.get("fail_fast", False))

    def settings(self, task: str):
        """``metrics.<task>``: the task's settings (its one home)."""
        return self.cfg.metrics[task]

    def plan(self, task: str) -> list:
        """[PlanItem(method, layer_choice, layer)] of ``task`` on this model."""
        return planning.plan(self.cfg, self.model_cfg, task)

    def batches(self, index) -> list:
        bs = int(self.cfg.get("batch_size", 16))
        index = np.asarray(index)
        return [index[i:i + bs] for i in range(0, len(index), bs)]

    def unit(self, task: str, method_id: str, layer_choice: str, part) -> str:
        return "|".join([task, self.model_name, str(method_id), str(layer_choice), str(part)])

    def base_row(self, task: str, method_cfg=None, layer_choice="", layer=None, **columns) -> dict:
        return {"experiment": self.experiment, "task": task, "model": self.model_name,
                "dataset": self.data.name,
                "method": "" if method_cfg is None else str(method_cfg.id),
                "library": "" if method_cfg is None else str(method_cfg.library),
                "layer_choice": layer_choice, "layer": layer or "", "targets": self.targets_kind, **columns}

    def explainer(self, method_cfg, layer, model=None):
        """Explainers are built once per (method, layer) and reused across batches; a failure
        to build is remembered so the next batches record it without retrying."""
        model = self.model if model is None else model
        key = (str(method_cfg.id), layer, model)  # the model itself: ids are reused
        if key not in self._explainers:
            try:
                self._explainers[key] = make_explainer(method_cfg, model, layer,
                                                       int(self.cfg.get("batch_size", 16)),
                                                       fill=masking_fill(self.cfg))
            except Exception as e:
                if self.fail_fast:
                    raise
                self._explainers[key] = e
        return self._explainers[key]

    def explain(self, method_cfg, layer, idx, targets=None, images=None):
        """Maps (n, H, W) for images ``idx``; raises what the method raises."""
        explainer = self.explainer(method_cfg, layer)
        if isinstance(explainer, Exception):
            raise explainer
        images = self.data.images[idx] if images is None else images
        targets = self.targets[idx] if targets is None else targets
        maps = explainer(images, np.asarray(targets), self.data.ids[idx])
        return unit_maps(maps, len(images), images.shape[1:3])

    def save_figure_maps(self, method_cfg, layer_choice, idx, maps) -> None:
        """Keep the maps of the first ``report.n_images`` images for the heatmap grids, with
        the class each explains (``targets``: the figure names it)."""
        n_fig = int(self.cfg.get("report", {}).get("n_images", 4))
        sel = np.flatnonzero(np.asarray(idx) < n_fig)
        if not len(sel):
            return
        folder = self.out / "maps" / self.model_name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{method_cfg.id}__{layer_choice}.npz"
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez_compressed(tmp, maps=maps[sel].astype(np.float16), image=np.asarray(idx)[sel],
                            targets=np.asarray(self.targets)[np.asarray(idx)[sel]])
        tmp.replace(path)
