"""A small saved model and a few image files for the command line's tests."""
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

CLASSES = ("circle", "square", "stripes")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder with model.keras (0-255 images in: a Rescaling layer first; a base model
    nested in the outer model), three images of different formats and sizes, labels.txt."""
    from skimage import io

    folder = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu", name="conv1"),
                             keras.layers.Conv2D(6, 3, activation="relu", name="conv2")], name="base")
    inputs = keras.Input((16, 16, 3))
    x = base(keras.layers.Rescaling(1 / 255.0)(inputs))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(inputs, outputs, name="small").save(folder / "model.keras")
    rng = np.random.default_rng(0)
    io.imsave(folder / "rgb.png", rng.integers(0, 256, (20, 24, 3), dtype=np.uint8), check_contrast=False)
    io.imsave(folder / "grey.jpg", rng.integers(0, 256, (16, 16), dtype=np.uint8), check_contrast=False)
    io.imsave(folder / "alpha.png", rng.integers(0, 256, (30, 18, 4), dtype=np.uint8), check_contrast=False)
    (folder / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    (folder / "broken.png").write_text("not an image")
    return folder


def tfcam_command(*args, cwd) -> subprocess.CompletedProcess:
    """Run the installed `tfcam` console script (its entry point where it is not installed)."""
    script = Path(sys.executable).with_name("tfcam")
    command = [str(script)] if script.exists() else [sys.executable, "-c",
                                                    "import sys, tfcam_console; sys.exit(tfcam_console.main())"]
    env = {**os.environ}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell: the console script must quiet TensorFlow itself
    return subprocess.run([*command, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
