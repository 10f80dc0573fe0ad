"""Speed of tfcam's metrics against the model passes they need.

    KERAS_BACKEND=tensorflow python -m benchmarks.metrics_speed [--images 32] [--steps 28]
        [--metrics deletion_insertion,infidelity,road,completeness,max_sensitivity,...]

Deletion and insertion with 28 steps each on 32 images need 56 × 32 forward passes
(the unmodified image, deletion's first and insertion's last point, is evaluated once
more: + 32). The target is that `tfcam.metrics.deletion_insertion` costs no more than
1.2 × those 56 × 32 passes run batched through the same compiled model call, on a
small CNN at 64 × 64 on CPU. Prints both timings and the ratio (best of --repeats
interleaved runs, after a warm-up that compiles every batch shape), in wall-clock and in
process CPU time (the latter is steadier on a machine shared with other jobs).

The other metrics are measured the same way, in a table. Their model passes are counted,
not assumed: every function tfcam compiles is wrapped (`PassCounter`) and adds the rows
of each call. The reference runs exactly the counted passes, batched, through the same
compiled model call (`tfcam.metrics.compiled_forward`); goal: metric <= 1.2 × reference.

- infidelity: 1 + P passes per image (the image, P perturbed copies).
- road: 1 + T passes per image (T percentages); its noisy linear imputation is host work,
  not passes: timed inside each run ("imputation", a timing wrapper around the function
  `tfcam.metrics.road` calls) and taken out in a second ratio.
- completeness: 2 passes per image (the image and the baseline).
- max_sensitivity, per method of --methods: 1 forward per image (the explained class)
  and (1 + P) explanations; the reference is the method's `tfcam.explain` on the same
  (1 + P)·N images prepared in advance, batched; the counts per compiled function show
  how the copies were batched (Score-CAM: its masked inputs, chunks of many images).
- sparseness, complexity: no passes; their time only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib
import math
import os
import time
from collections import Counter
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import tfcam
from tfcam import backend, metrics

METRICS = ("deletion_insertion", "infidelity", "road", "completeness", "max_sensitivity",
           "sparseness", "complexity")
SENSITIVITY_METHODS = ("saliency", "grad_cam", "score_cam")
GOAL = 1.2


def small_cnn(size: int, classes: int = 10) -> keras.Model:
    keras.utils.set_random_seed(0)
    inp = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inp)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(128, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(classes)(x))


# ---------------------------------------------------------------------- counting passes
def _rows(args) -> int:
    """Model inputs of one compiled call: the length of its last 1-D integer argument (the
    class indices of an explainer's batch, Score-CAM's chunk of pairs, the rows of a
    prepared batch), else the leading size of its first image batch (>= 3 axes); 0 for a
    call that runs no model (Score-CAM's combine)."""
    ints = [a for a in args if getattr(a, "ndim", None) == 1
            and keras.backend.standardize_dtype(a.dtype).startswith(("int", "uint"))]
    if ints:
        return int(ints[-1].shape[0])
    batches = [a for a in args if (getattr(a, "ndim", 0) or 0) >= 3]
    return int(batches[0].shape[0]) if batches else 0


class PassCounter:
    """While entered, every function `tfcam.backend` compiles counts its calls and model
    inputs (`_rows`) under its name ("model" for `compile_forward`). Compiled functions are
    cached per model, so enter it before the model's first use."""

    def __init__(self):
        self.calls: Counter = Counter()
        self.rows: Counter = Counter()

    def __enter__(self):
        self._saved = backend.compile_forward, backend.compile_function
        forward, function = self._saved
        backend.compile_forward = lambda model, prepare=None: self._counted(
            "model", forward(model, prepare))
        backend.compile_function = lambda fn, variables: self._counted(
            _name(fn), function(fn, variables))
        return self

    def __exit__(self, *exc):
        backend.compile_forward, backend.compile_function = self._saved

    def _counted(self, name: str, compiled: Callable) -> Callable:
        def call(*args):
            self.calls[name] += 1
            self.rows[name] += _rows(args)
            return compiled(*args)
        return call

    def during(self, task: Callable) -> dict[str, tuple[int, int]]:
        """Runs task; {function name: (calls, model inputs)} of what it compiled or ran."""
        calls, rows = self.calls.copy(), self.rows.copy()
        task()
        return {k: (self.calls[k] - calls[k], self.rows[k] - rows[k])
                for k in self.calls if self.calls[k] > calls[k]}


def _name(fn) -> str:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__name__", type(fn).__name__)


# ---------------------------------------------------------------------- timing
@dataclasses.dataclass
class Row:
    """One metric's measure: counted passes and best-of times (seconds), wall and cpu."""

    name: str
    images: int
    counts: dict[str, tuple[int, int]]  # compiled function -> (calls, model inputs)
    wall: dict[str, float]  # "metric", "reference" (absent: no passes), parts of the best run
    cpu: dict[str, float]
    reference: str = ""  # what the reference runs

    @property
    def passes(self) -> int:
        return sum(rows for _, rows in self.counts.values())

    @property
    def calls(self) -> int:
        return sum(calls for calls, rows in self.counts.values() if rows)

    def ratio(self, clock: str, without: str | None = None) -> float | None:
        t = getattr(self, clock)
        if "reference" not in t:
            return None
        return (t["metric"] - (t[without] if without else 0.0)) / t["reference"]


class PartTimer:
    """Wall and cpu seconds spent in one function during a run (`wrap` it, `reset` before)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.wall = self.cpu = 0.0

    def wrap(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.wall += time.perf_counter() - w0
                self.cpu += time.process_time() - c0
        return timed


def measure(name: str, n: int, run: Callable, counter: PassCounter, repeats: int,
            reference: Callable[[dict], tuple[Callable, str]] | None = None,
            parts: dict[str, PartTimer] | None = None) -> Row:
    """Times `run` against `reference(counts)` (made from the passes `run` was counted
    making): a first run compiles every batch shape and is counted, then best of `repeats`
    runs interleaved, so that load changes hit both alike. `parts`: timers that `run`
    feeds; the row keeps their times in the fastest run (per clock)."""
    parts = parts or {}
    counts = counter.during(run)
    tasks = {"metric": run}
    label = ""
    if reference is not None:
        ref, label = reference(counts)
        ref()  # warm-up
        tasks = {"reference": ref, **tasks}
    wall = {k: math.inf for k in tasks}
    cpu = dict(wall)
    for _ in range(repeats):
        for key, task in tasks.items():
            for timer in parts.values():
                timer.reset()
            w0, c0 = time.perf_counter(), time.process_time()
            task()
            w, c = time.perf_counter() - w0, time.process_time() - c0
            if w < wall[key]:
                wall[key] = w
                wall.update({k: t.wall for k, t in parts.items() if key == "metric"})
            if c < cpu[key]:
                cpu[key] = c
                cpu.update({k: t.cpu for k, t in parts.items() if key == "metric"})
    return Row(name, n, counts, wall, cpu, label)


def forward_reference(model, images: np.ndarray, batch_size: int):
    """`reference(counts)` for `measure`: the counted passes, as copies of the images made
    in advance, run batched through `tfcam.metrics.compiled_forward`."""
    fn = metrics.compiled_forward(model)

    def make(counts):
        total = sum(rows for _, rows in counts.values())
        per_image, left = divmod(total, len(images))
        if left:
            raise RuntimeError(f"{total} passes for {len(images)} images: not a whole number each.")
        needed = np.repeat(images, per_image, axis=0)

        def run():
            for a in range(0, len(needed), batch_size):
                fn(needed[a : a + batch_size])
        return run, f"{len(needed)} forward passes batched"

    return make


# ---------------------------------------------------------------------- the metrics
def deletion_insertion_row(args, model, images, counter) -> Row:
    """The historical measure: reference 2 × steps passes per image (the original's extra
    pass not included); its output lines as they were."""
    maps = np.random.default_rng(0).random((args.images, args.size, args.size))
    needed = np.repeat(images, 2 * args.steps, axis=0)
    fn = metrics.compiled_forward(model)

    def forward_only():
        for a in range(0, len(needed), args.batch_size):
            fn(needed[a : a + args.batch_size])

    def curves():
        return metrics.deletion_insertion(model, images, maps, steps=args.steps,
                                          batch_size=args.batch_size)

    forward_only()  # warm-up: compile every batch shape
    steps = curves()[0].curves.shape[1] - 1
    row = measure("deletion_insertion", args.images, curves, counter, args.repeats,
                  reference=lambda counts: (forward_only, f"{len(needed)} forward passes "
                                                          "batched (2 x steps per image)"))
    print(f"backend {keras.backend.backend()}, {args.images} images {args.size}x{args.size}, "
          f"{steps} steps per curve, batch {args.batch_size}, best of {args.repeats}")
    for label in ("wall", "cpu"):
        t = getattr(row, label)
        fwd, cur = t["reference"], t["metric"]
        print(f"{label:4s}: forward passes only ({len(needed)} images) {fwd * 1e3:8.1f} ms, "
              f"deletion + insertion {cur * 1e3:8.1f} ms, ratio {cur / fwd:.3f} (target <= 1.2)")
    return row


@contextlib.contextmanager
def timed_imputation(timer: PartTimer):
    """`timer` counts the time of every imputation `tfcam.metrics.road` makes (its module's
    `noisy_linear_imputation`, wrapped while inside)."""
    module = importlib.import_module("tfcam.metrics.road")  # `metrics.road` is the function
    original = module.noisy_linear_imputation
    module.noisy_linear_imputation = timer.wrap(original)
    try:
        yield
    finally:
        module.noisy_linear_imputation = original


def sensitivity_row(args, model, images, counter, method: str) -> Row:
    options = {}
    if method == "score_cam" and args.score_cam_channels:  # fewer masked copies per image
        options["max_channels"] = args.score_cam_channels
    p, r, n = args.sensitivity_perturbations, 0.02, args.images
    classes = np.argmax(np.asarray(metrics.predict(model, images, args.batch_size)), axis=1)

    def run():
        return metrics.max_sensitivity(model, images, method, radius=r, n_perturbations=p,
                                       options=options, batch_size=args.batch_size)

    def reference(counts):
        # the same (1 + P)·N images, made in advance, and the classes max_sensitivity explains
        copies = [images[i] + np.random.default_rng([0, i, j]).uniform(-r, r, images.shape[1:])
                  for i in range(n) for j in range(p)]
        stacked = np.concatenate([images, np.asarray(copies, np.float32)])
        targets = np.concatenate([classes, np.repeat(classes, p)])

        def explain_only():
            tfcam.explain(model, stacked, method=method, targets=targets,
                          batch_size=args.batch_size, progress=False, **options)
        return explain_only, f"explain on {len(stacked)} images batched"

    return measure(f"max_sensitivity {method}", n, run, counter, args.repeats, reference)


def rows_for(args, model, images, counter) -> list[Row]:
    n, bs = args.images, args.batch_size
    ref = forward_reference(model, images, bs)
    # realistic maps (smooth, like a CAM's): ROAD's solve time depends on the removed shapes
    maps = tfcam.explain(model, images, method="grad_cam", batch_size=bs, progress=False).maps
    attributions = np.random.default_rng(1).standard_normal(images.shape).astype(np.float32)
    percentages = np.linspace(0, 100, args.percentages + 2)[1:-1]
    rows = []
    for name in args.metrics:
        if name == "deletion_insertion":
            rows.append(deletion_insertion_row(args, model, images, counter))
        elif name == "infidelity":
            rows.append(measure(
                "infidelity", n, lambda: metrics.infidelity(
                    model, images, attributions, n_perturbations=args.perturbations,
                    batch_size=bs), counter, args.repeats, ref))
        elif name == "road":
            timer = PartTimer()
            with timed_imputation(timer):
                rows.append(measure(
                    "road", n, lambda: metrics.road(model, images, maps,
                                                    percentages=percentages, batch_size=bs),
                    counter, args.repeats, ref, parts={"imputation": timer}))
        elif name == "completeness":
            rows.append(measure(
                "completeness", n, lambda: metrics.completeness(
                    model, images, attributions, batch_size=bs), counter, args.repeats, ref))
        elif name == "max_sensitivity":
            rows += [sensitivity_row(args, model, images, counter, m) for m in args.methods]
        else:  # sparseness, complexity: the maps alone
            fn = getattr(metrics, name)
            rows.append(measure(name, n, lambda fn=fn: fn(maps), counter, args.repeats))
    return rows


# ---------------------------------------------------------------------- output
def print_table(rows: list[Row]) -> None:
    print(f"\n{'metric':26s} {'passes/img':>10s} {'calls':>6s} | {'wall ms':>9s} {'passes ms':>9s} "
          f"{'ratio':>6s} | {'cpu ms':>9s} {'passes ms':>9s} {'ratio':>6s} | goal <= {GOAL}")
    for row in rows:
        cells = []
        for clock in ("wall", "cpu"):
            t, ratio = getattr(row, clock), row.ratio(clock)
            ref = f"{t['reference'] * 1e3:9.1f}" if ratio is not None else f"{'-':>9s}"
            cells.append(f"{t['metric'] * 1e3:9.1f} {ref} "
                         + (f"{ratio:6.3f}" if ratio is not None else f"{'-':>6s}"))
        print(f"{row.name:26s} {row.passes / row.images:10.1f} {row.calls:6d} | "
              f"{cells[0]} | {cells[1]} | {verdict(row)}")
        for line in details(row):
            print(f"    {line}")


def verdict(row: Row) -> str:
    """ "ok" when both clocks meet the goal, else which missed it; "-" without passes."""
    if row.ratio("wall") is None:
        return "-"
    missed = [c for c in ("wall", "cpu") if row.ratio(c) > GOAL]
    return f"MISSED ({', '.join(missed)})" if missed else "ok"


def details(row: Row) -> list[str]:
    lines = [f"reference: {row.reference}"] if row.reference else []
    if "imputation" in row.wall:
        share = {c: getattr(row, c)["imputation"] / getattr(row, c)["metric"] for c in ("wall", "cpu")}
        lines.append(
            f"of which imputation (host): wall {row.wall['imputation'] * 1e3:.1f} ms "
            f"({share['wall']:.0%}), cpu {row.cpu['imputation'] * 1e3:.1f} ms "
            f"({share['cpu']:.0%}); road without it / passes: wall "
            f"{row.ratio('wall', 'imputation'):.3f}, cpu {row.ratio('cpu', 'imputation'):.3f}")
    if row.name.startswith("max_sensitivity"):
        lines.append("compiled calls: " + ", ".join(
            f"{name} {rows} inputs in {calls} calls" if rows else f"{name} {calls} calls"
            for name, (calls, rows) in row.counts.items()))
    return lines


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=32)
    p.add_argument("--steps", type=int, default=28, help="deletion/insertion steps per curve")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--metrics", default=",".join(METRICS),
                   help=f"comma-separated, of {', '.join(METRICS)} (default: all)")
    p.add_argument("--methods", default=",".join(SENSITIVITY_METHODS),
                   help="comma-separated tfcam methods that max_sensitivity explains with")
    p.add_argument("--perturbations", type=int, default=100, help="infidelity's per image")
    p.add_argument("--percentages", type=int, default=9,
                   help="ROAD's percentages, evenly spaced in (0, 100): 9 is 10, 20, ..., 90")
    p.add_argument("--sensitivity-perturbations", type=int, default=10,
                   help="max_sensitivity's per image")
    p.add_argument("--score-cam-channels", type=int, default=16,
                   help="Score-CAM's max_channels in max_sensitivity (0: every channel)")
    args = p.parse_args(argv)
    args.metrics = _choices(args.metrics, METRICS, "--metrics", p)
    args.methods = _choices(args.methods, tfcam.methods(), "--methods", p)
    return args


def _choices(text: str, allowed, option: str, parser) -> list[str]:
    chosen = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in allowed]
    if unknown or not chosen:
        parser.error(f"{option}: unknown {', '.join(unknown) or 'empty list'}; choose from "
                     f"{', '.join(allowed)} (comma-separated).")
    return chosen


def main(argv=None) -> list[Row]:
    args = parse(argv)
    rng = np.random.default_rng(0)
    # entered first: the model's compiled functions are made (and counted) inside
    with PassCounter() as counter:
        model = small_cnn(args.size)
        images = rng.random((args.images, args.size, args.size, 3), dtype=np.float32)
        rows = rows_for(args, model, images, counter)
    if rows[1:] or rows[0].name != "deletion_insertion":
        print(f"\nbackend {keras.backend.backend()}, {args.images} images "
              f"{args.size}x{args.size}, batch {args.batch_size}, best of {args.repeats}; "
              f"passes counted per compiled call")
        print_table(rows)
    return rows


if __name__ == "__main__":
    main()
