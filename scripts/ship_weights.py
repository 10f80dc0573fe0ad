"""Train the default small models with the benchmark's own recipe and put their weights in
the package (``benchmarks/models/weights/<name>-<size>px-<hash>/``), where a cold model cache
finds them instead of training (benchmarks/models/train.py). Run after any change to the
models, the training recipe or the synthetic data that changes their hash:

    KERAS_BACKEND=tensorflow python scripts/ship_weights.py [vgg_small resnet_small]

The folders of the previous hash are removed. ``tests/benchmarks/test_shipped_weights.py``
checks that the shipped folders are the current hash's and (marked slow) that training
again reproduces their accuracy.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

# the checkout's `benchmarks` (an install names it tfcam_benchmarks), as `python -m` would find it
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.models.train import SHIPPED  # noqa: E402
from benchmarks.shipping import DEFAULT_MODELS, train_for_shipping  # noqa: E402


def main(names: list) -> None:
    SHIPPED.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as cache:
        for name in names:
            folder, accuracy = train_for_shipping(name, cache)
            for old in SHIPPED.glob(f"{name}-*"):
                shutil.rmtree(old)
            shutil.copytree(folder, SHIPPED / folder.name)
            print(f"{name}: val accuracy {accuracy:.3f} -> {SHIPPED / folder.name}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(DEFAULT_MODELS))
