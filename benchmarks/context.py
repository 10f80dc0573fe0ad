"""What a runner needs for one model: config, data, model, targets, the store, and the
helpers that plan the work (methods × layers × batches) and compute maps once per unit."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.configs import load_group
from benchmarks.explainers import make_explainer, unit_maps
from benchmarks.models.zoo import resolve_layer
from benchmarks.results import ResultStore


def as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (str, int)):
        return [value]
    return list(value)


def method_configs(cfg, names=None) -> list:
    """Method configs to run: ``method=<name>`` on the command line wins, else ``names`` (a
    task's own list), else the experiment's ``methods``."""
    if cfg.get("method") is not None:
        return [cfg.method]
    return [load_group("method", str(n)) for n in as_list(names if names is not None else cfg.methods)]


def layer_choices(cfg, names=None) -> list:
    if cfg.get("layer") is not None:
        return [str(cfg.layer)]
    return [str(n) for n in as_list(names if names is not None else cfg.layers)]


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
    log: object = print
    _explainers: dict = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        return str(self.model_cfg.name)

    @property
    def model_overrides(self) -> dict:
        """The experiment's ``model_overrides[<model>]``: methods / layers / tasks kept for it."""
        return dict((self.cfg.get("model_overrides") or {}).get(self.model_name) or {})

    @property
    def progress(self) -> bool:
        return bool(self.cfg.get("progress", True))

    def plan(self, task_opts) -> list:
        """[(method_cfg, layer_choice, layer_name)]: layer-wise methods at each layer choice,
        input-space methods and reference maps once (layer choice ``input``)."""
        methods = method_configs(self.cfg, task_opts.get("methods"))
        layers = layer_choices(self.cfg, task_opts.get("layers"))
        own = self.model_overrides
        if own.get("methods") is not None and self.cfg.get("method") is None:
            keep = [str(x) for x in own["methods"]]
            methods = [m for m in methods if str(m.id) in keep]
        if own.get("layers") is not None and self.cfg.get("layer") is None:
            layers = [c for c in layers if c in [str(x) for x in own["layers"]]]
        # method_layers: {method id: [layer choices]} narrows the layers of some methods
        narrow = dict(self.cfg.get("method_layers") or {})
        narrow.update(dict(task_opts.get("method_layers") or {}))
        plan = []
        for m in methods:
            if m.get("layerwise", True):
                mine = layers
                if self.cfg.get("layer") is None and str(m.id) in narrow:
                    mine = [c for c in layers if c in [str(x) for x in narrow[str(m.id)]]]
                for choice in mine:
                    try:
                        name = resolve_layer(self.model_cfg, choice)
                    except KeyError as e:
                        name = f"!{e}"
                    plan.append((m, choice, name))
            else:
                plan.append((m, "input", None))
        return plan

    def batches(self, index) -> list:
        bs = int(self.cfg.get("batch_size", 16))
        index = np.asarray(index)
        return [index[i:i + bs] for i in range(0, len(index), bs)]

    def unit(self, task: str, method_id: str, layer_choice: str, part) -> str:
        return "|".join([task, self.model_name, str(method_id), str(layer_choice), str(part)])

    def base_row(self, task: str, method_cfg=None, layer_choice="", layer=None) -> dict:
        return {"experiment": self.experiment, "task": task, "model": self.model_name,
                "dataset": self.data.name,
                "method": "" if method_cfg is None else str(method_cfg.id),
                "library": "" if method_cfg is None else str(method_cfg.library),
                "layer_choice": layer_choice, "layer": layer or ""}

    def explainer(self, method_cfg, layer, model=None):
        """Explainers are built once per (method, layer) and reused across batches; a failure
        to build is remembered so the next batches record it without retrying."""
        model = self.model if model is None else model
        key = (str(method_cfg.id), layer, model)  # the model itself: ids are reused
        if key not in self._explainers:
            try:
                self._explainers[key] = make_explainer(method_cfg, model, layer,
                                                       int(self.cfg.get("batch_size", 16)))
            except Exception as e:  # noqa: BLE001 - recorded in the table
                if self.cfg.get("fail_fast", False):
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
        """Keep the maps of the first ``report.n_images`` images for the heatmap grids."""
        n_fig = int(self.cfg.get("report", {}).get("n_images", 4))
        sel = np.flatnonzero(np.asarray(idx) < n_fig)
        if not len(sel):
            return
        folder = self.out / "maps" / self.model_name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{method_cfg.id}__{layer_choice}.npz"
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez_compressed(tmp, maps=maps[sel].astype(np.float16), image=np.asarray(idx)[sel])
        tmp.replace(path)


def error_text(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}"[:300].replace("\n", " ")


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
