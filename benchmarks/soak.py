"""Soak: memory stays flat when models come and go, and when one model is explained many times.

    python -m benchmarks.soak                      # 200 models × 3 methods, 2,000 calls
    python -m benchmarks.soak --models 20 --calls 200 --out soak.jsonl

Phase "models": a new small model per step (as a notebook or a sweep rebuilds them), each
explained by every method through `tfcam.explain`, then dropped. Phase "calls": one model,
`tfcam.explain` called again and again. Each phase prints (and appends to `--out`, one JSON
line per checkpoint, as produced) the resident memory after `gc.collect()` at its start and
at every tenth of it, the models still alive, and the time per step since the last
checkpoint. Flat memory and no live models are the goal (issue 23: every model stayed
alive, +3 MB each).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import weakref
from pathlib import Path

import keras
import numpy as np
from tqdm.auto import tqdm

import tfcam


def resident_mib() -> float:
    """The process's resident memory now (Linux /proc; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        import os
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def small_model(size: int) -> keras.Model:
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(32, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def run_phase(name, steps, step, write) -> None:
    alive: list = []
    checkpoints = set(np.linspace(0, steps, 11).round().astype(int).tolist())
    last_step, last_time = 0, time.perf_counter()
    for i in tqdm(range(steps + 1), desc=name, unit="step"):
        if i in checkpoints:
            now = time.perf_counter()  # the steps since the last checkpoint, before gc
            per_step = (now - last_time) / (i - last_step) if i > last_step else None
            gc.collect()
            write({"phase": name, "step": i, "resident_mib": round(resident_mib(), 1),
                   "models_alive": sum(r() is not None for r in alive),
                   "seconds_per_step": None if per_step is None else round(per_step, 4)})
            last_step, last_time = i, time.perf_counter()
        if i < steps:
            model = step(i)
            if model is not None:
                alive.append(weakref.ref(model))
            del model  # the step's model is dropped, as a user drops it


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--methods", default="grad_cam,relevance_cam,integrated_gradients")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--out", default=None, help="a JSON-lines file, appended to")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    images = np.random.default_rng(0).random((4, args.size, args.size, 3)).astype("float32")
    out = Path(args.out) if args.out else None

    def write(row):
        row = {"backend": keras.backend.backend(), **row}
        print(json.dumps(row), flush=True)
        if out is not None:
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")

    def new_model(i):
        model = small_model(args.size)
        for method in methods:
            tfcam.explain(model, images, method=method, progress=False)
        return model  # dropped by the caller after its weak reference is taken

    run_phase("models", args.models, new_model, write)
    model = small_model(args.size)
    run_phase("calls", args.calls,
              lambda i: tfcam.explain(model, images, method=methods[i % len(methods)],
                                      progress=False) and None, write)


if __name__ == "__main__":
    main()
