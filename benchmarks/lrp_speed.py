"""Speed of LRP and Relevance-CAM, as ratios measured in one run (issue: LRP).

    python -m benchmarks.lrp_speed --models vgg16 resnet50 --batch 8 --size 224

Prints, per model, seconds per batch and two ratios:
* Relevance-CAM ÷ Grad-CAM at the last convolutional layer (goal ≤ 2.0);
* LRP to the input (epsilon_plus, BatchNorm folded) ÷ one compiled forward+backward pass
  (the gradient of the top logit with respect to the input; goal ≤ 3).
Models use random weights (`weights=None`); timings are medians of `--repeats` calls after a
warm-up call that compiles, the two sides of a ratio timed alternately so that a machine
shared with other work slows both alike. Explainers include their numpy outputs, as a user
sees them.
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np

import tfcam
from tfcam import backend
from tfcam.cam.relevancecam import RelevanceCAM
from tfcam.lrp import LRP

from benchmarks.core_speed import compiled_forward_backward

MODELS = {
    "vgg16": (keras.applications.VGG16, "block5_conv3"),
    "resnet50": (keras.applications.ResNet50, "conv5_block3_out"),
}


def paired_median_seconds(first, second, repeats: int) -> tuple[float, float]:
    """Median seconds of `first` and of `second`, called alternately after a warm-up."""
    first(), second()  # compile / warm up
    times = ([], [])
    for _ in range(repeats):
        for fn, out in zip((first, second), times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def run(name: str, size: int, batch: int, repeats: int) -> dict:
    build, layer = MODELS[name]
    model = build(weights=None, input_shape=(size, size, 3))
    x = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype("float32")
    gradcam = tfcam.GradCAM(model, layer, batch_size=batch, progress=False)
    relcam = RelevanceCAM(model, layer, batch_size=batch, progress=False)
    lrp = LRP(model, batch_size=batch, progress=False)
    fwd_bwd = compiled_forward_backward(model)
    t = {}
    t["gradcam"], t["relevance_cam"] = paired_median_seconds(
        lambda: gradcam.attribute(x), lambda: relcam.attribute(x), repeats)
    t["forward_backward"], t["lrp"] = paired_median_seconds(
        lambda: fwd_bwd(x), lambda: lrp.attribute(x), repeats)
    t["relevance_cam/gradcam"] = t["relevance_cam"] / t["gradcam"]
    t["lrp/forward_backward"] = t["lrp"] / t["forward_backward"]
    return t


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"backend={backend.NAME} size={args.size} batch={args.batch} "
          f"repeats={args.repeats} (median seconds per batch)")
    for name in args.models:
        t = run(name, args.size, args.batch, args.repeats)
        print(f"{name}: gradcam {t['gradcam']:.3f}s  relevance_cam {t['relevance_cam']:.3f}s  "
              f"-> {t['relevance_cam/gradcam']:.2f}x (goal <= 2.0)")
        print(f"{name}: forward+backward {t['forward_backward']:.3f}s  lrp {t['lrp']:.3f}s  "
              f"-> {t['lrp/forward_backward']:.2f}x (goal <= 3)")


if __name__ == "__main__":
    main()
