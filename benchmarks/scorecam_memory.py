"""Peak host memory of Score-CAM on ResNet50 at 224×224 (2048 channels at the last layer).

    python -m benchmarks.scorecam_memory --channels 2048

Prints the process's peak resident memory after building the model and running one
compiled forward pass on a chunk of masked inputs ("the model's own"), then after Score-CAM
on one image, and the difference. Masked inputs are made `chunk_size` at a time, so the
difference does not grow with the number of channels.
"""

from __future__ import annotations

import argparse
import resource

import keras
import numpy as np

import tfcam
from tfcam import backend


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--channels", type=int, default=2048)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--chunk-size", type=int, default=None)
    args = parser.parse_args(argv)
    model = keras.applications.ResNet50(weights=None, input_shape=(args.size, args.size, 3))
    image = np.random.default_rng(0).random((1, args.size, args.size, 3)).astype("float32")
    explainer = tfcam.ScoreCAM(model, "conv5_block3_out", max_channels=args.channels,
                               chunk_size=args.chunk_size, progress=False)
    chunk = explainer.chunk_for(image.shape) if args.chunk_size is None else args.chunk_size
    forward = backend.compile_function(lambda x: model(x, training=False), model.variables)
    np.asarray(forward(np.repeat(image, chunk, axis=0)))
    model_peak = peak_mib()
    explainer.attribute(image)
    total_peak = peak_mib()
    print(f"backend={keras.backend.backend()} chunk_size={chunk} channels<={args.channels}")
    print(f"peak after model + one forward of a chunk: {model_peak:.0f} MiB")
    print(f"peak after Score-CAM: {total_peak:.0f} MiB; above the model's own: "
          f"{total_peak - model_peak:.0f} MiB")


if __name__ == "__main__":
    main()
