"""`tfcam.callbacks.ExplanationLogger`: explanations of fixed images written during `fit`."""

import glob
import io

import keras
import numpy as np
import pytest
from PIL import Image

import tfcam
from tfcam.callbacks import ExplanationLogger, overlay_grid

ON_TENSORFLOW = keras.backend.backend() == "tensorflow"
tensorflow_only = pytest.mark.skipif(not ON_TENSORFLOW, reason="TensorBoard: TensorFlow backend")
jax_only = pytest.mark.skipif(ON_TENSORFLOW, reason="the JAX backend's error")
SIZE, CLASSES = 16, 3


def sequential():
    return keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(CLASSES, name="head"),
    ], name="small")


def functional():
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, keras.layers.Dense(CLASSES, name="head")(x), name="small_functional")


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")
        self.conv2 = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv2")
        self.gap = keras.layers.GlobalAveragePooling2D(name="gap")
        self.head = keras.layers.Dense(CLASSES, name="head")

    def call(self, x):
        return self.head(self.gap(self.conv2(self.conv1(x))))


def data(n=32, seed=0):
    """Images whose class is the brightest channel: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, SIZE, SIZE, 3)).astype("float32")
    y = rng.integers(0, CLASSES, n)
    x[np.arange(n), :, :, y] += 0.5
    return x, y


def fit(model, logger, epochs=2, extra=(), initial_epoch=0):
    x, y = data()
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8, epochs=epochs, initial_epoch=initial_epoch, shuffle=False,
              verbose=0, callbacks=[logger, *extra])
    return model


def read_png(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def files(folder, pattern):
    return sorted(p.name for p in folder.glob(pattern))


# ---------------------------------------------------------------------- files per epoch
def tiled_in_a_row(overlays, gap=2):
    """The overlays side by side with white gaps, tiled here (not by overlay_grid)."""
    n, h, w, _ = overlays.shape
    row = np.full((h, n * w + (n - 1) * gap, 3), 255, "uint8")
    for i, tile in enumerate(overlays):
        row[:, i * (w + gap): i * (w + gap) + w] = tile
    return row


def assert_same_overlays(written, expected):
    """PNG is lossless; a map off by float rounding may move a pixel one colormap step."""
    assert written.shape == expected.shape and written.dtype == np.uint8
    difference = np.abs(written.astype(int) - expected.astype(int))
    assert difference.max() <= 3 and (difference > 0).mean() < 0.01, difference.max()


def test_every_epoch_writes_a_png_and_the_maps(tmp_path):
    x, y = data(4, seed=1)
    model = sequential()
    logger = ExplanationLogger(x, method="gradcam", targets=y, log_dir=tmp_path, tensorboard=False)
    # A Grad-CAM explainer made here, before and after training: not the logger's, and not
    # the one tfcam.explain keeps.
    before = tfcam.GradCAM(model, progress=False).attribute(x, targets=y)
    fit(model, logger)
    after = tfcam.GradCAM(model, progress=False).attribute(x, targets=y)

    folder = tmp_path / "explanations" / "grad_cam"  # the canonical id, not the alias
    assert files(folder, "*.png") == ["epoch_000.png", "epoch_001.png", "epoch_002.png"]
    assert files(folder, "*.npy") == ["epoch_000.npy", "epoch_001.npy", "epoch_002.npy"]
    assert [(e.epoch, e.method) for e in logger.history] == [(0, "grad_cam"), (1, "grad_cam"),
                                                              (2, "grad_cam")]
    assert all(e.png.exists() and e.npy.exists() and not e.tensorboard for e in logger.history)
    assert np.abs(before.maps - after.maps).max() > 1e-2  # epochs 0 and 2 differ
    for epoch, fresh in ((0, before), (2, after)):
        maps = np.load(folder / f"epoch_{epoch:03d}.npy")
        assert maps.shape == (4, SIZE, SIZE) and maps.dtype == np.float32
        np.testing.assert_allclose(maps, fresh.maps, atol=1e-5)
        # The PNG: the overlays of the 4 images in a row, 2 px white gaps between them.
        assert_same_overlays(read_png(folder / f"epoch_{epoch:03d}.png"),
                             tiled_in_a_row(fresh.overlay(x)))
    np.testing.assert_array_equal(logger.history[-1].targets, y)  # the labels' classes
    np.testing.assert_allclose(logger.history[-1].scores, after.scores, rtol=1e-5)


def test_every_two_epochs_counted_from_the_initial_epoch(tmp_path):
    x, _ = data(3, seed=1)
    logger = ExplanationLogger(x, every=2, log_dir=tmp_path, tensorboard=False)
    fit(functional(), logger, initial_epoch=1, epochs=3)  # resumed after epoch 1: 2 epochs
    # the snapshot before training is "after 1 epoch"; then epoch 2 (2 % every == 0), not 3
    assert files(tmp_path / "explanations" / "grad_cam", "*.png") == ["epoch_001.png",
                                                                      "epoch_002.png"]
    assert [e.epoch for e in logger.history] == [1, 2]


def test_overlay_grid_wraps_rows_of_eight():
    tiles = np.arange(10 * 4 * 5 * 3, dtype="uint8").reshape(10, 4, 5, 3)
    grid = overlay_grid(tiles)
    assert grid.shape == (2 * 4 + 2, 8 * 5 + 7 * 2, 3)
    np.testing.assert_array_equal(grid[6:10, 7:12], tiles[9])  # row 1, column 1
    assert (grid[6:10, 14:] == 255).all()  # the unused tiles of the last row are white


# ---------------------------------------------------------------------- TensorBoard
@tensorflow_only
def test_tensorboard_image_summaries(tmp_path):
    import tensorflow as tf

    x, y = data(3, seed=1)
    logger = ExplanationLogger(x, method=["grad_cam", "saliency"], targets=y, log_dir=tmp_path,
                               png=False)  # tensorboard=None: on, on TensorFlow
    assert logger.tensorboard
    model = fit(functional(), logger)

    events = glob.glob(str(tmp_path / "explanations" / "events.out.tfevents*"))
    assert len(events) == 1
    assert not list((tmp_path / "explanations").glob("*/*.png"))  # png=False
    written = {}
    for event in tf.compat.v1.train.summary_iterator(events[0]):
        for value in event.summary.value:
            assert value.metadata.plugin_data.plugin_name == "images"
            written[(value.tag, event.step)] = list(value.tensor.string_val)
    assert sorted(written) == [(m, s) for m in ("grad_cam", "saliency") for s in (0, 1, 2)]
    width, height, *pngs = written[("saliency", 2)]
    assert (width, height, len(pngs)) == (str(SIZE).encode(), str(SIZE).encode(), 3)
    # the overlays of saliency maps made here, on the trained weights (not the logger's)
    overlays = tfcam.Saliency(model, progress=False).attribute(x, targets=y).overlay(x)
    for png, overlay in zip(pngs, overlays):
        assert_same_overlays(np.asarray(Image.open(io.BytesIO(png))), overlay)


@jax_only
def test_tensorboard_on_jax_is_a_clear_error(tmp_path):
    x, _ = data(2)
    with pytest.raises(ValueError, match="TensorFlow backend.*png=True"):
        ExplanationLogger(x, log_dir=tmp_path, tensorboard=True)
    assert not ExplanationLogger(x, log_dir=tmp_path).tensorboard  # None: off on JAX
    with pytest.raises(ValueError, match="nothing to write"):
        ExplanationLogger(x, log_dir=tmp_path, png=False)


# ---------------------------------------------------------------------- weights, compilation
def test_each_epoch_explains_the_weights_after_that_epoch(tmp_path):
    x, y = data(4, seed=1)
    model = sequential()
    logger = ExplanationLogger(x, targets=y, layer="conv1", log_dir=tmp_path, tensorboard=False)
    fresh = []  # tfcam.explain called anew after each epoch (after the logger: list order)
    after_epoch = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: fresh.append(
        tfcam.explain(model, x, "grad_cam", layer="conv1", targets=y, progress=False)))
    fit(model, logger, extra=[after_epoch])

    folder = tmp_path / "explanations" / "grad_cam"
    for epoch, explanation in enumerate(fresh, start=1):
        np.testing.assert_allclose(np.load(folder / f"epoch_{epoch:03d}.npy"), explanation.maps,
                                   atol=1e-5)
        np.testing.assert_allclose(logger.history[epoch].scores, explanation.scores, rtol=1e-5)
    before, after = np.load(folder / "epoch_000.npy"), np.load(folder / "epoch_002.npy")
    assert np.abs(before - after).max() > 1e-2, "training changed the weights, not the maps"


def test_the_explainer_compiles_once_for_all_epochs(tmp_path, traces):
    x, _ = data(3, seed=1)
    logger = ExplanationLogger(x, method=["grad_cam", "saliency"], log_dir=tmp_path,
                               tensorboard=False, batch_size=2,  # batches of 2, padded 1
                               before_training=False)  # compiled at the start all the same
    at_start, explainers = [], []
    record = keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: at_start.append(sum(traces.values())),
        on_epoch_end=lambda epoch, logs: explainers.append(dict(logger.explainers)))
    fit(sequential(), logger, epochs=3, extra=[record])

    assert at_start[0] >= 2  # both methods were compiled at the start of training
    assert sum(traces.values()) == at_start[0], f"traced again during training: {traces}"
    assert [(e.epoch, e.method) for e in logger.history] == [
        (epoch, method) for epoch in (1, 2, 3) for method in ("grad_cam", "saliency")]
    for method in ("grad_cam", "saliency"):
        assert len({id(e[method]) for e in explainers}) == 1


def test_subclassed_model_not_yet_built(tmp_path):
    x, y = data(2, seed=1)
    logger = ExplanationLogger(x, layer="conv2", targets=1, log_dir=tmp_path, tensorboard=False)
    keras.utils.set_random_seed(5)
    model = Subclassed(name="sub")
    assert not model.built  # fit builds it (on TensorFlow in its first step): so does the logger
    fit(model, logger)
    assert [e.epoch for e in logger.history] == [0, 1, 2]
    fresh = tfcam.explain(model, x, layer="conv2", targets=1, progress=False)
    np.testing.assert_allclose(np.load(logger.history[-1].npy), fresh.maps, atol=1e-5)
    assert read_png(logger.history[-1].png).shape == (SIZE, 2 * SIZE + 2, 3)
    # The model is not changed: built early, it has the weights it would have had, and
    # trains as it does without the logger.
    keras.utils.set_random_seed(5)
    plain = fit(Subclassed(name="sub"), keras.callbacks.Callback())
    assert len(model.layers) == len(plain.layers)
    for a, b in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_the_images_are_copied(tmp_path):
    x, y = data(2, seed=1)
    kept_x, kept_y = x.copy(), y.copy()
    logger = ExplanationLogger(x, targets=y, log_dir=tmp_path, tensorboard=False)
    x[:] = 0.0  # the user reuses their arrays: the logger does not see it
    y[:] = 2
    np.testing.assert_array_equal(logger.images, kept_x)
    np.testing.assert_array_equal(logger.targets, kept_y)
    assert logger.images is not x


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs, error, match", [
    ({"images": np.zeros((SIZE, SIZE))}, ValueError, r"batch of images.*images\[None\]"),
    ({"images": np.zeros((1, 2, SIZE, SIZE, 3))}, ValueError, r"\(N, H, W, C\).*\(1, 2, 16"),
    ({"images": np.zeros((0, SIZE, SIZE, 3))}, ValueError, "empty"),
    ({"images": np.full((2, SIZE, SIZE, 3), np.nan)}, ValueError, r"NaN.*\[0, 1\]"),
    ({"images": np.array([["a"]])}, TypeError, "numeric"),
    ({"every": 0}, ValueError, "every must be at least 1"),
    ({"every": 1.5}, TypeError, "every must be a whole number"),
    ({"method": "grad_kam"}, ValueError, "unknown method 'grad_kam'.*grad_cam"),
    ({"method": []}, ValueError, "empty list"),
    ({"samples": 4}, TypeError, "grad_cam got unknown option.*samples"),
    ({"method": ["grad_cam", "smooth_grad"], "stepz": 4}, TypeError, "stepz.*smooth_grad"),
    ({"png": False, "tensorboard": False}, ValueError, "nothing to write"),
    ({"log_dir": None}, ValueError, "needs log_dir="),
    ({"targets": np.eye(3)[[0, 1]]}, ValueError, "one-hot.*argmax"),
    ({"targets": [0, 1, 2]}, ValueError, r"one class index per image \(2\)"),
    ({"alpha": 2}, ValueError, "alpha"),
    ({"cmap": "jett"}, ValueError, "unknown cmap 'jett'"),
])
def test_bad_arguments_fail_when_the_logger_is_made(tmp_path, kwargs, error, match):
    arguments = {"images": data(2)[0], "log_dir": tmp_path, "tensorboard": False, **kwargs}
    with pytest.raises(error, match=match):
        ExplanationLogger(**arguments)


def test_options_go_to_the_methods_that_take_them(tmp_path):
    logger = ExplanationLogger(data(2)[0], method=["grad_cam", "smooth_grad"], samples=2,
                               log_dir=tmp_path, tensorboard=False)
    assert logger.options == {"grad_cam": {}, "smooth_grad": {"samples": 2}}


@pytest.mark.parametrize("kwargs, match", [
    ({"layer": "conv9"}, "no layer named 'conv9'"),
    ({"targets": 7}, "target class 7 is out of range"),
])
def test_model_dependent_errors_fail_before_the_first_epoch(tmp_path, kwargs, match):
    epochs = []
    logger = ExplanationLogger(data(2)[0], log_dir=tmp_path, tensorboard=False, **kwargs)
    watch = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs.append(epoch))
    with pytest.raises(ValueError, match=match) as raised:
        fit(sequential(), logger, extra=[watch])
    assert epochs == [], "an epoch ran before the error"
    assert any("ExplanationLogger" in note for note in getattr(raised.value, "__notes__", []))
    assert not (tmp_path / "explanations").exists()


def test_import_tfcam_exposes_the_callback():
    assert tfcam.callbacks.ExplanationLogger is ExplanationLogger
    assert issubclass(ExplanationLogger, keras.callbacks.Callback)
