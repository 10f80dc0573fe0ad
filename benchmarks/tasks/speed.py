"""Speed: images per second of each method, at each batch size and precision, and the ratio
to the plain passes the method is made of, measured in the same run on the same model and
batch (``benchmarks.passes``: compiled calls, not ``model.predict``):

* gradient methods (the Grad-CAM family, saliency, guided backprop, LRP, Relevance-CAM):
  one forward+backward pass of the batch; SmoothGrad and Integrated Gradients: that times
  their ``samples`` / ``steps``;
* perturbation methods (Score-CAM, Ablation-CAM, occlusion): the perturbed inputs they ran
  (``Explanation.perturbed_inputs``) × one forward per input, timed at the chunk size they
  run in (``perturbation_chunk``). Ablation-CAM runs only the layers after its layer, so it
  comes in under 1. Their cost in forwards of the same batch is ``ratio_to_forward``.

A method's time is the median of ``repeats`` calls after the first call, which builds the
explainer and compiles and is reported on its own (``first_call_seconds``). The
``sweep_methods`` (all when null) run at every batch size and precision, the others at the
first batch size and precision only (each setting compiles anew). At a precision other than
float32 (``mixed_bfloat16``: the same weights in a copy of the model that computes in
bfloat16), each map is compared with the float32 map of the same image
(``spearman_to_float32``).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from .. import api, passes
from ..driver import Output, Unit
from ..method_adapters import make_explainer, masking_fill
from ..models import zoo

name = "speed"
family = name
record_errors = True
columns = ("batch_size", "precision")
directions = {"images_per_second": True, "ratio_to_reference": False, "first_call_seconds": False}


@dataclass
class Settings:
    batch_sizes: list[int] = field(default_factory=lambda: [8])   # images per explainer call
    precisions: list[str] = field(default_factory=lambda: ["float32"])  # Keras dtype policies
    sweep_methods: list[str] | None = None  # timed at every batch size and precision (null: all)
    repeats: int = 3                # timed calls after the first (compiling) one; the median is reported
    perturbation_chunk: int = 64    # Score-CAM / Ablation-CAM / occlusion inputs per model call
PERTURBATION_METHODS = ("score_cam", "ablation_cam", "occlusion")
# inputs per image of the gradient methods that run several (tfcam's defaults)
PASSES_PER_IMAGE = {"smooth_grad": ("samples", 25), "integrated_gradients": ("steps", 32)}


def as_list(value) -> list:
    """A setting given as one value or a list, as a list (None: empty)."""
    if value is None:
        return []
    if isinstance(value, (str, int)):
        return [value]
    return list(value)


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def settings(run) -> dict:
    s = run.settings(name)
    return {
        "batch_sizes": [int(b) for b in as_list(s.batch_sizes)],
        "precisions": [str(p) for p in as_list(s.precisions)],
        "repeats": int(s.repeats),
        "chunk": int(s.perturbation_chunk),
        "sweep_methods": None if s.sweep_methods is None else [str(m) for m in as_list(s.sweep_methods)],
    }


def _batch(ctx, size: int):
    """``size`` images (the data set repeated if it is smaller), their targets and ids."""
    idx = np.resize(np.arange(len(ctx.data)), size)
    return ctx.data.images[idx], ctx.targets[idx].astype(np.int32), ctx.data.ids[idx]


def _with_chunk(method_cfg, chunk: int):
    """Perturbation methods run in chunks of ``chunk`` inputs unless the method sets its own."""
    from omegaconf import OmegaConf
    if (str(method_cfg.name) not in PERTURBATION_METHODS or str(method_cfg.library) != "tfcam"
            or "chunk_size" in (method_cfg.get("options") or {})):
        return method_cfg
    plain = OmegaConf.to_container(method_cfg, resolve=True)
    return OmegaConf.create({**plain, "options": {**plain.get("options", {}), "chunk_size": chunk}})


class Setting:
    """One batch size × precision: its model, batch, and the reference passes' timings."""

    def __init__(self, ctx, model, batch_size: int, precision: str, chunk: int, repeats: int):
        self.ctx, self.model, self.precision = ctx, model, precision
        self.batch_size, self.chunk, self.repeats = batch_size, chunk, repeats
        self.name = f"b{batch_size}-{precision}"
        self.images, self.targets, self.ids = _batch(ctx, batch_size)
        self._seconds: dict | None = None

    def measure_reference(self) -> list:
        """Rows of the plain passes: ``forward`` and ``forward_backward`` (per batch) and
        ``forward_chunk`` (per input of a chunk)."""
        x, t = self.images, self.targets
        chunk_x = np.resize(x, (self.chunk, *x.shape[1:]))
        forward, forward_backward = (passes.compiled_forward(self.model),
                                     passes.compiled_forward_backward(self.model))
        calls = {"forward": lambda: forward(x), "forward_backward": lambda: forward_backward(x, t),
                 "forward_chunk": lambda: forward(chunk_x)}
        rows = []
        for ref, call in calls.items():
            start = time.perf_counter()
            call()  # compiles
            first = time.perf_counter() - start
            seconds = median_seconds(call, self.repeats)
            inputs = self.chunk if ref == "forward_chunk" else self.batch_size
            base = {**self.row(ref, "keras", "input"), "image": -1}
            rows += [{**base, "metric": "seconds", "value": seconds},
                     {**base, "metric": "images_per_second", "value": inputs / seconds},
                     {**base, "metric": "first_call_seconds", "value": first}]
        self._set_seconds({r["method"]: r["value"] for r in rows if r["metric"] == "seconds"})
        return rows

    def _set_seconds(self, seconds: dict) -> None:
        seconds = dict(seconds)
        seconds["forward_chunk"] = seconds.get("forward_chunk", np.nan) / self.chunk
        self._seconds = seconds

    def reference_seconds(self) -> dict:
        """The plain passes' seconds: measured in this process, or read back from the table
        (a resumed run)."""
        if self._seconds is None:
            ctx = self.ctx
            unit = ctx.unit(name, "reference", "input", self.name)
            table = ctx.store.table()
            mine = table[(table.task == name) & (table.metric == "seconds") & table.unit.eq(unit)]
            self._set_seconds(dict(zip(mine.method, mine.value.astype(float))))
        return self._seconds

    def row(self, method: str, library: str, layer_choice: str, layer=None) -> dict:
        base = self.ctx.base_row(name, None, layer_choice, layer, batch_size=self.batch_size,
                                 precision=self.precision)
        return {**base, "method": method, "library": library}

    def reference_for(self, method_cfg, perturbed_inputs) -> float:
        """Seconds of the plain passes the method is made of (see the module's docstring)."""
        name, options = str(method_cfg.name), dict(method_cfg.get("options") or {})
        ref = self.reference_seconds()
        if name in PERTURBATION_METHODS:
            return float(np.sum(perturbed_inputs)) * ref["forward_chunk"]
        if name in PASSES_PER_IMAGE:
            key, default = PASSES_PER_IMAGE[name]
            return int(options.get(key, default)) * ref["forward_backward"]
        return ref["forward_backward"]


def _order(s: dict, plan: list) -> list:
    """[(precision, batch size, (method_cfg, choice, layer))] in the order they are timed:
    the ``sweep_methods`` in every setting first (the figures the goals are about, if a run
    is cut short), then the other methods at the first batch size and precision."""
    chosen = s["sweep_methods"]
    swept = [u for u in plan if chosen is None or str(u[0].id) in chosen]
    rest = [u for u in plan if chosen is not None and str(u[0].id) not in chosen]
    units = [(p, b, u) for p in s["precisions"] for b in s["batch_sizes"] for u in swept]
    return units + [(s["precisions"][0], s["batch_sizes"][0], u) for u in rest]


def _setting(run, precision: str, batch_size: int) -> Setting:
    s = settings(run)
    models = run.cache.setdefault("speed_models", {})
    setups = run.cache.setdefault("speed_settings", {})
    if precision not in models:
        models[precision] = zoo.with_precision(run.model_cfg, run.model, precision, run.info)
    if (precision, batch_size) not in setups:
        setups[precision, batch_size] = Setting(run, models[precision], batch_size, precision, s["chunk"],
                                                s["repeats"])
    return setups[precision, batch_size]


def units(run) -> list:
    """Per setting (batch size × precision): the plain passes first, then its methods."""
    out, seen = [], set()
    for precision, batch_size, (method_cfg, choice, layer) in _order(settings(run), run.plan(name)):
        setting = f"b{batch_size}-{precision}"
        columns = {"batch_size": batch_size, "precision": precision}
        if setting not in seen:
            seen.add(setting)
            out.append(Unit(task=name, key=run.unit(name, "reference", "input", setting),
                            row={**run.base_row(name, None, "input", None, **columns), "method": "reference",
                                 "library": "keras"},
                            label=f"speed {setting} reference", payload=(precision, batch_size, None, "input", None),
                            order=(len(out),)))
        out.append(Unit(task=name, key=run.unit(name, method_cfg.id, choice, setting),
                        row=run.base_row(name, method_cfg, choice, layer, **columns),
                        label=f"speed {setting} {method_cfg.id} @ {choice}",
                        payload=(precision, batch_size, method_cfg, choice, layer), order=(len(out),)))
    return out


def evaluate(run, unit, inputs) -> Output:
    precision, batch_size, method_cfg, choice, layer = unit.payload
    setting = _setting(run, precision, batch_size)
    if method_cfg is None:
        return Output(setting.measure_reference())
    return Output(_time_method(run, setting, method_cfg, choice, layer, run.cache.setdefault("float32_maps", {})))


def _time_method(ctx, setting: Setting, method_cfg, choice, layer, float32_maps: dict) -> list:
    base = {**setting.row(str(method_cfg.id), str(method_cfg.library), choice, layer), "image": -1}
    method_cfg = _with_chunk(method_cfg, setting.chunk)
    x, t, ids = setting.images, setting.targets, setting.ids
    start = time.perf_counter()
    explainer = make_explainer(method_cfg, setting.model, layer, batch_size=setting.batch_size,
                               fill=masking_fill(ctx.cfg))
    maps = np.asarray(explainer(x, t, ids))
    first = time.perf_counter() - start
    seconds = median_seconds(lambda: explainer(x, t, ids), setting.repeats)
    rows = [{**base, "metric": "first_call_seconds", "value": first},
            {**base, "metric": "seconds", "value": seconds},
            {**base, "metric": "images_per_second", "value": len(x) / seconds}]
    if str(method_cfg.library) == "tfcam":
        perturbed = explainer.last.perturbed_inputs
        reference = setting.reference_for(method_cfg, perturbed)
        rows.append({**base, "metric": "reference_seconds", "value": reference})
        if reference > 0:  # 0 when Score-CAM found no channel worth a forward
            rows.append({**base, "metric": "ratio_to_reference", "value": seconds / reference})
        if perturbed is not None:
            forward = setting.reference_seconds()["forward"]
            rows += [{**base, "metric": "perturbed_inputs", "value": float(np.sum(perturbed))},
                     {**base, "metric": "ratio_to_forward", "value": seconds / forward}]
    key = (str(method_cfg.id), choice, setting.batch_size)
    if setting.precision == "float32":
        float32_maps[key] = maps
    else:
        rows += _agreement(ctx, setting, method_cfg, layer, maps, float32_maps, key, base)
    return rows


def _agreement(ctx, setting, method_cfg, layer, maps, float32_maps, key, base) -> list:
    """Spearman correlation of each map with the float32 model's map of the same image;
    images where both maps are constant (all zero after a ReLU, say) have nothing to rank and
    are left out."""
    if key not in float32_maps:  # not timed in this process (a resumed run): make them now
        model = zoo.with_precision(ctx.model_cfg, ctx.model, "float32", ctx.info)
        explainer = make_explainer(method_cfg, model, layer, batch_size=setting.batch_size,
                                   fill=masking_fill(ctx.cfg))
        float32_maps[key] = np.asarray(explainer(setting.images, setting.targets, setting.ids))
    spearman = api.metrics().spearman
    return [{**base, "image": i, "metric": "spearman_to_float32",
             "value": float(spearman(a.ravel(), r.ravel()))}
            for i, (a, r) in enumerate(zip(maps, float32_maps[key])) if np.ptp(a) or np.ptp(r)]

