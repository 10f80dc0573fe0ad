"""Speed of the core methods, as ratios measured in one run (issue: tfcam core).

    python -m benchmarks.core_speed --models resnet50 vgg16 --batch 8 --size 224

Prints, per model and method: seconds per batch; Grad-CAM family ÷ one compiled
forward+backward of the same batch; Score-CAM ÷ (masked inputs × one forward per image);
and tfcam ÷ tf-keras-vis 0.8.7 at equal settings (TensorFlow backend only: tf-keras-vis is
TensorFlow-only). Models use random weights (`weights=None`); timings are medians of
`--repeats` calls after a warm-up call that compiles.
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np

import tfcam
from tfcam import backend
from tfcam.explain import method_class

MODELS = {
    "resnet50": (keras.applications.ResNet50, "conv5_block3_out"),
    "vgg16": (keras.applications.VGG16, "block5_conv3"),
}
GRADIENT_METHODS = ["gradcam", "gradcampp", "layercam"]


def median_seconds(fn, repeats: int) -> float:
    fn()  # compile / warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compiled_forward_backward(model):
    """One plain compiled forward + backward pass (gradient of the top logit w.r.t. input)."""

    def total(x):
        logits = model(x, training=False)
        return keras.ops.sum(keras.ops.max(logits, axis=-1)), logits

    grad = backend.value_and_grad(total)
    step = backend.compile_function(lambda x: grad(x)[2], model.variables)
    return lambda x: np.asarray(step(x))


def compiled_forward(model):
    step = backend.compile_function(lambda x: model(x, training=False), model.variables)
    return lambda x: np.asarray(step(x))


def tf_keras_vis_explainers(model):
    """tf-keras-vis 0.8.7 objects built once (their construction clones the model)."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.layercam import Layercam
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

    modifier = ReplaceToLinear()
    return {
        "gradcam": Gradcam(model, model_modifier=modifier, clone=True),
        "gradcampp": GradcamPlusPlus(model, model_modifier=modifier, clone=True),
        "layercam": Layercam(model, model_modifier=modifier, clone=True),
        "scorecam": Scorecam(model, model_modifier=modifier, clone=True),
    }


def run(model_name: str, batch: int, size: int, repeats: int, score_channels: int,
        score_images: int) -> list[dict]:
    build, layer = MODELS[model_name]
    keras.utils.set_random_seed(0)
    model = build(weights=None, input_shape=(size, size, 3), classifier_activation="softmax")
    images = np.random.default_rng(0).random((batch, size, size, 3)).astype("float32") * 255
    targets = np.arange(batch) % 1000
    rows = []
    forward_backward = compiled_forward_backward(model)
    fwd_bwd = median_seconds(lambda: forward_backward(images), repeats)
    rows.append(dict(model=model_name, method="forward+backward", seconds=fwd_bwd))
    baselines = tf_keras_vis_explainers(model) if backend.NAME == "tensorflow" else {}

    for method in GRADIENT_METHODS:
        explainer = method_class(method)(model, layer, batch_size=batch, progress=False)
        seconds = median_seconds(lambda: explainer.attribute(images, targets), repeats)
        row = dict(model=model_name, method=method, seconds=seconds,
                   ratio_to_reference=seconds / fwd_bwd, reference="forward+backward")
        if method in baselines:
            from tf_keras_vis.utils.scores import CategoricalScore

            vis = baselines[method]
            vis_seconds = median_seconds(
                lambda: vis(CategoricalScore(list(targets)), images, penultimate_layer=layer),
                repeats)
            row.update(tf_keras_vis_seconds=vis_seconds, tfcam_over_tf_keras_vis=seconds / vis_seconds)
        rows.append(row)

    # Score-CAM: `score_images` images, the `score_channels` channels of highest mean
    # activation each (the faster variant; all channels of ResNet50 are 2048 forwards).
    subset = images[:score_images]
    chunk = min(64, score_channels)
    forward = compiled_forward(model)
    one_chunk = np.repeat(subset[:1], chunk, axis=0)
    per_input = median_seconds(lambda: forward(one_chunk), repeats) / chunk
    explainer = tfcam.ScoreCAM(model, layer, max_channels=score_channels, chunk_size=chunk,
                               batch_size=score_images, progress=False)
    seconds = median_seconds(lambda: explainer.attribute(subset, targets[:score_images]), repeats)
    masked = score_images * score_channels
    row = dict(model=model_name, method=f"scorecam(max_channels={score_channels})",
               seconds=seconds, ratio_to_reference=seconds / (masked * per_input),
               reference=f"{masked} masked inputs x forward")
    if "scorecam" in baselines:
        from tf_keras_vis.utils.scores import CategoricalScore

        vis = baselines["scorecam"]
        vis_seconds = median_seconds(
            lambda: vis(CategoricalScore(list(targets[:score_images])), subset,
                        penultimate_layer=layer, max_N=score_channels, batch_size=chunk),
            repeats)
        row.update(tf_keras_vis_seconds=vis_seconds, tfcam_over_tf_keras_vis=seconds / vis_seconds)
    rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet50", "vgg16"], choices=MODELS)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--score-channels", type=int, default=64)
    parser.add_argument("--score-images", type=int, default=2)
    args = parser.parse_args(argv)
    import pandas as pd

    rows = []
    for name in args.models:
        rows += run(name, args.batch, args.size, args.repeats, args.score_channels,
                    args.score_images)
        print(pd.DataFrame(rows).round(3).to_string(index=False), flush=True)
    print(f"\nbackend={backend.NAME} keras={keras.__version__} batch={args.batch} "
          f"size={args.size}")


if __name__ == "__main__":
    main()
