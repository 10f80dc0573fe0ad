"""Speed of deletion + insertion against the forward passes they need.

    KERAS_BACKEND=tensorflow python benchmarks/metrics_speed.py [--images 32] [--steps 28]

Deletion and insertion with 28 steps each on 32 images need 56 × 32 forward passes
(the unmodified image, deletion's first and insertion's last point, is evaluated once
more: + 32). The target is that `tfcam.metrics.deletion_insertion` costs no more than
1.2 × those 56 × 32 passes run batched through the same compiled model call, on a
small CNN at 64 × 64 on CPU. Prints both timings and the ratio (best of --repeats
interleaved runs, after a warm-up that compiles every batch shape), in wall-clock and in
process CPU time (the latter is steadier on a machine shared with other jobs).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from tfcam import metrics


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=32)
    p.add_argument("--steps", type=int, default=28)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    rng = np.random.default_rng(0)
    model = small_cnn(args.size)
    images = rng.random((args.images, args.size, args.size, 3), dtype=np.float32)
    maps = rng.random((args.images, args.size, args.size))
    # the inputs the two curves need, prepared in advance: only the model runs
    needed = np.repeat(images, 2 * args.steps, axis=0)
    fn = metrics.compiled_forward(model)

    def forward_only():
        for a in range(0, len(needed), args.batch_size):
            fn(needed[a : a + args.batch_size])

    def curves():
        return metrics.deletion_insertion(model, images, maps, steps=args.steps, batch_size=args.batch_size)

    forward_only()  # warm-up: compile every batch shape
    d, _ = curves()
    wall = {"forward": [], "curves": []}
    cpu = {"forward": [], "curves": []}
    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
        for name, task in (("forward", forward_only), ("curves", curves)):
            w0, c0 = time.perf_counter(), time.process_time()
            task()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    print(f"backend {keras.backend.backend()}, {args.images} images {args.size}x{args.size}, "
          f"{d.curves.shape[1] - 1} steps per curve, batch {args.batch_size}, best of {args.repeats}")
    for label, t in (("wall", wall), ("cpu", cpu)):
        fwd, cur = min(t["forward"]), min(t["curves"])
        print(f"{label:4s}: forward passes only ({len(needed)} images) {fwd * 1e3:8.1f} ms, "
              f"deletion + insertion {cur * 1e3:8.1f} ms, ratio {cur / fwd:.3f} (target <= 1.2)")


if __name__ == "__main__":
    main()
