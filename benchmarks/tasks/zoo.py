"""The zoo: every architecture family a Keras user has (``benchmarks.models.architectures``:
the keras.applications families, a hand-written ViT, KerasHub's image classifiers), small and
with random weights, × every method of the run (``methods``; ``experiment=zoo`` lists all of
tfcam's). Does each method run on each family, how long does it take, does it give a map?

The task builds its own models (``own_models``): it runs once per run, not once per model of
``models``, and needs no training. One unit per family × method: the family's model is built
(seeded by ``seed``) for its first unit and kept for the next ones; its images are the run's
data set's (``dataset.n_images``: 2 in ``experiment=zoo``), resized to the family's input
size, the larger of the data's size and the smallest the family accepts
(``architectures.min_size``). Each image is explained for the model's top-1 class
(``targets``: predicted), at tfcam's default layer.

Rows of a unit (``model``: the family, ``source``: keras.applications | KerasHub | Functional,
``layer``: the layer the method chose, ``Explanation.layer``; ``image`` -1 unless said):

* ``works`` 1 (a method that raised has an ``error`` row instead: ``Type: first line``);
* ``first_call_seconds``: the first call (builds the explainer and compiles);
* ``seconds_per_image``: a second call, divided by the images;
* ``map_std`` per image (``image`` 0, 1, ...) and ``constant_map``: 1 when a map's standard
  deviation is at most ``constant_std`` (a constant map says nothing), ``nonfinite_map``: 1
  when a map holds NaN or inf;
* LRP only, ``relevance_kept`` per image: the input relevance summed, over the relevance the
  walk started from. LRP starts (``start="one_hot"``, tfcam's default) with 1 at the
  explained logit, so this is ``Σ R_input``; the walk is linear in its start, so it is also
  ``Σ R_input ÷ S_c`` of a walk started at the score (``start="logit"``). 1 means conserved;
  biases, ε and the rules' stabilizers absorb some. Relevance-CAM starts elsewhere (CLRP:
  +1 at the target, −1/C at the other classes, summing to 1/C) and stops at its layer: no
  such row.

A family whose builder needs KerasHub, when it is not installed, gets an error row
``NotInstalled: keras-hub not installed`` per method (retried by the next run, as errors are).
The slow methods run with cheap options (``options``: fewer Score-CAM channels, IG steps and
SmoothGrad samples, large occlusion patches) so that the whole zoo takes minutes on a CPU.
"""
from __future__ import annotations

import gc
import importlib.util
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..driver import Output, Unit

name = "zoo"
family = name
record_errors = True
columns = ("source",)
directions = {"first_call_seconds": False}
own_models = True   # builds its models: run once (benchmarks.app), not per model of `models`

HUB = "KerasHub"


@dataclass
class Settings:
    families: list[str] | None = None  # names of benchmarks.models.architectures.FAMILIES (null: all)
    classes: int = 10                  # classes of the random-weight models
    constant_std: float = 1e-6         # a map whose standard deviation is at most this is constant
    # options of the slow methods (by tfcam name), merged under the method config's own
    options: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "score_cam": {"max_channels": 16},
        "occlusion": {"patch": 16, "stride": 16},
        "integrated_gradients": {"steps": 8},
        "smooth_grad": {"samples": 4},
    })


def hub_installed() -> bool:
    return importlib.util.find_spec("keras_hub") is not None


class NotInstalled(ImportError):
    """A family's library is missing (KerasHub): the row says so instead of failing."""


def families(cfg) -> list:
    """The run's families, in ``FAMILIES``' order; a ValueError naming unknown ones."""
    from ..models.architectures import FAMILIES
    chosen = cfg.metrics[name].families
    if chosen is None:
        return list(FAMILIES)
    chosen = [str(f) for f in chosen]
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise ValueError(f"metrics.zoo.families: unknown {unknown}; known: {list(FAMILIES)}")
    return [f for f in FAMILIES if f in chosen]


def check(cfg) -> None:
    """What ``benchmarks.app.validate`` checks before any work: the families."""
    families(cfg)


def units(run) -> list:
    """Family × method, family by family; the methods of the run's plan (``methods`` and the
    rules of ``only``), each once: the zoo explains at tfcam's default layer, not at ``layers``."""
    from ..models.architectures import FAMILIES
    out = []
    methods = list({str(item.method.id): item.method for item in run.plan(name)}.values())
    for i, fam in enumerate(families(run.cfg)):
        source = FAMILIES[fam][0]
        for j, method_cfg in enumerate(methods):
            choice = "default" if method_cfg.get("layerwise", True) else "input"
            row = {"experiment": run.experiment, "task": name, "model": fam, "dataset": run.data.name,
                   "method": str(method_cfg.id), "library": str(method_cfg.library),
                   "layer_choice": choice, "layer": "", "targets": "predicted", "weights": "random",
                   "source": source}
            out.append(Unit(task=name, key="|".join([name, fam, str(method_cfg.id), choice, "-"]), row=row,
                            label=f"{fam} {method_cfg.id}", payload=(fam, method_cfg), order=(i, j)))
    return out


@dataclass
class Family:
    """One family's model, its images and the classes explained (or why it has none)."""
    name: str
    model: Any = None
    images: np.ndarray | None = None
    targets: np.ndarray | None = None
    error: BaseException | None = None


def _images(data, size: int) -> np.ndarray:
    images = np.asarray(data.images, np.float32)
    if images.shape[1:3] != (size, size):
        from keras import ops
        images = ops.convert_to_numpy(ops.image.resize(images, (size, size)))
    return images


def build(run, fam: str) -> Family:
    """The family's model (seeded), images and top-1 classes; the build's error kept."""
    import keras

    from ..models import architectures
    source, builder = architectures.FAMILIES[fam]
    s = run.settings(name)
    try:
        if source == HUB and not hub_installed():
            raise NotInstalled("keras-hub not installed (pip install keras-hub)")
        size = max(int(run.data.image_size[0]), architectures.min_size(fam))
        keras.utils.set_random_seed(int(run.cfg.get("seed", 0)))
        model = builder(size, int(s.classes))
        if builder is architectures.vit:
            architectures.register_vit_rules()  # its own token layers' LRP rules
        images = _images(run.data, size)
        outputs = keras.ops.convert_to_numpy(model(images, training=False))
        return Family(fam, model, images, outputs.argmax(-1).astype(np.int32))
    except Exception as e:
        if run.fail_fast:
            raise
        return Family(fam, error=e)


def _family(run, fam: str) -> Family:
    """The current family (built on its first unit; the previous one's model let go)."""
    current = run.cache.get("zoo_family")
    if current is None or current.name != fam:
        if current is not None:
            import keras
            run.cache.pop("zoo_family")
            del current
            keras.backend.clear_session()
            gc.collect()
        run.cache["zoo_family"] = build(run, fam)
    return run.cache["zoo_family"]


def with_options(method_cfg, options: dict):
    """``method_cfg`` with the zoo's cheap options for its method under its own."""
    from omegaconf import OmegaConf
    extra = options.get(str(method_cfg.name))
    if not extra or str(method_cfg.library) != "tfcam":
        return method_cfg
    plain = OmegaConf.to_container(method_cfg, resolve=True)
    return OmegaConf.create({**plain, "options": {**dict(extra), **(plain.get("options") or {})}})


def start_sum(method_cfg, scores: np.ndarray) -> np.ndarray | None:
    """What LRP's start vector sums to: 1 (``one_hot``, the default) or the score (``logit``);
    None for the contrastive starts, which sum to 1/C or 0."""
    start = (method_cfg.get("options") or {}).get("start", "one_hot")
    if start == "one_hot":
        return np.ones_like(scores, np.float64)
    if start == "logit":
        return scores.astype(np.float64)
    return None


def evaluate(run, unit, inputs) -> Output:
    from omegaconf import OmegaConf

    from ..method_adapters import make_explainer, masking_fill
    fam_name, method_cfg = unit.payload
    fam = _family(run, fam_name)
    if fam.error is not None:
        raise fam.error
    s = run.settings(name)
    method_cfg = with_options(method_cfg, OmegaConf.to_container(s.options, resolve=True))
    x, t = fam.images, fam.targets
    ids = np.arange(len(x))
    start = time.perf_counter()
    explainer = make_explainer(method_cfg, fam.model, None, batch_size=len(x), fill=masking_fill(run.cfg))
    maps = np.asarray(explainer(x, t, ids), np.float32)
    first = time.perf_counter() - start
    start = time.perf_counter()
    explainer(x, t, ids)
    second = time.perf_counter() - start
    last = getattr(explainer, "last", None)  # a tfcam explainer's Explanation
    base = {**unit.row, "layer": (getattr(last, "layer", None) or "") if last is not None else "", "image": -1}
    flat = maps.reshape(len(maps), -1)
    finite = np.isfinite(flat).all(axis=1)
    std = np.where(finite, np.nan_to_num(flat).std(axis=1), np.nan)
    rows = [{**base, "metric": "works", "value": 1.0},
            {**base, "metric": "first_call_seconds", "value": first},
            {**base, "metric": "seconds_per_image", "value": second / len(x)},
            {**base, "metric": "constant_map", "value": float((finite & (std <= float(s.constant_std))).any())},
            {**base, "metric": "nonfinite_map", "value": float((~finite).any())}]
    rows += [{**base, "image": i, "metric": "map_std", "value": float(v)} for i, v in enumerate(std)]
    if last is not None and str(method_cfg.name) == "lrp":
        relevance = np.asarray(last.relevance, np.float64)
        started = start_sum(method_cfg, np.asarray(last.scores))
        if started is not None:
            kept = relevance.reshape(len(relevance), -1).sum(axis=1) / started
            rows += [{**base, "image": i, "metric": "relevance_kept", "value": float(v)}
                     for i, v in enumerate(kept)]
    return Output(rows)
