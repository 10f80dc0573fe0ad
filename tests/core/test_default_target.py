"""`targets=None` is each image's top-1 class on the images as given, for every method.

Regression (issue 23): Integrated Gradients and SmoothGrad took the top-1 per path point /
noisy copy, so points near the black baseline explained the class the model gives a black
image. The model here is built so that a black image is class 0, the test images class 1,
and class 2 a close second (noise tips some copies over to it).
"""
import csv

import keras
import numpy as np
import pytest

import tfcam
from tfcam.callbacks import ExplanationLogger
from tfcam.cli import main as cli

SIZE = 8


@pytest.fixture(scope="module")
def two_faced():
    """(model, images): conv -> GAP -> Dense(3, softmax); black -> 0, the images -> 1."""
    rng = np.random.default_rng(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")
    pooled = keras.layers.GlobalAveragePooling2D()(conv(inputs))
    head = keras.layers.Dense(3, activation="softmax", name="head")
    model = keras.Model(inputs, head(pooled))
    conv.set_weights([rng.uniform(-0.1, 0.3, (3, 3, 3, 4)).astype("float32"),
                      np.zeros(4, "float32")])  # a black image pools to 0: logits = bias
    images = rng.uniform(0.3, 1.0, (2, SIZE, SIZE, 3)).astype("float32")
    features = keras.Model(inputs, pooled).predict(images, verbose=0)
    w1 = np.ones(4, "float32")
    w2 = 1.5 * w1 + rng.normal(0, 0.3, 4).astype("float32")
    # class 2 trails class 1 by 0.02 on the image where it is closest
    gap = (features @ w2 - features @ w1).max() + 0.02
    head.set_weights([np.stack([np.zeros(4, "float32"), w1, w2], axis=1),
                      np.array([1.0, 0.0, -gap], "float32")])
    logits = features @ np.stack([np.zeros(4), w1, w2], axis=1) + [1.0, 0.0, -gap]
    assert (logits.argmax(1) == 1).all() and logits[:, 1].min() > 1.0 + 1  # images: class 1
    return model, images


def _asked(model, images):
    return np.argmax(model.predict(images, verbose=0), axis=1)


@pytest.mark.parametrize("method", tfcam.methods())
def test_no_target_is_the_top1_of_the_images(two_faced, method):
    model, images = two_faced
    top1 = _asked(model, images)
    assert (top1 == 1).all()
    default = tfcam.explain(model, images, method=method, progress=False)
    asked = tfcam.explain(model, images, method=method, targets=top1, progress=False)
    np.testing.assert_array_equal(default.targets, top1)
    np.testing.assert_allclose(default.scores, asked.scores, rtol=1e-6)
    np.testing.assert_allclose(default.maps, asked.maps, atol=1e-6)
    np.testing.assert_allclose(default.raw, asked.raw, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("method", ["integrated_gradients", "smooth_grad"])
def test_the_baseline_really_is_another_class(two_faced, method):
    """The fixture does what the regression needs: the path's start, and some noisy copies,
    are another class than the images."""
    model, images = two_faced
    assert _asked(model, np.zeros_like(images)).tolist() == [0, 0]
    noisy = images[:1] + np.random.default_rng(1).normal(0, 0.15 * 0.7, (64, SIZE, SIZE, 3))
    if method == "smooth_grad":
        assert set(_asked(model, noisy.astype("float32")).tolist()) == {1, 2}


def test_the_command_line_names_the_images_class(two_faced, tmp_path):
    from skimage import io

    model, images = two_faced
    model.save(tmp_path / "model.keras")
    io.imsave(tmp_path / "a.png", (images[0] * 255).round().astype("uint8"), check_contrast=False)
    code = cli(["explain", str(tmp_path / "model.keras"), str(tmp_path / "a.png"),
                "-m", "grad_cam", "-m", "integrated_gradients", "-m", "smooth_grad",
                "--out", str(tmp_path / "out")])
    assert code == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "explanations.csv")))
    assert [r["class"] for r in rows] == ["class 1"] * 3, rows


def test_the_callback_explains_the_images_class(two_faced, tmp_path):
    model, images = two_faced
    logger = ExplanationLogger(images, method=["integrated_gradients", "smooth_grad"],
                               log_dir=tmp_path, tensorboard=False)
    logger.set_model(model)
    logger.on_train_begin()
    logger.on_epoch_begin(0)  # writes the maps before training
    assert [e.method for e in logger.history] == ["integrated_gradients", "smooth_grad"]
    for method, explanation in logger.explanations.items():
        asked = tfcam.explain(model, images, method=method, targets=[1, 1], progress=False)
        np.testing.assert_array_equal(explanation.targets, [1, 1])
        np.testing.assert_allclose(explanation.maps, asked.maps, atol=1e-6)
