"""A model the user drops is collected with everything tfcam made for it (issue 23).

`tfcam.explain` caches explainers (their compiled functions) and programs per model in
weak-keyed tables; a value that held its key would keep every model ever explained alive.
"""
import gc
import importlib
import weakref

import keras
import numpy as np
import pytest

import tfcam
import tfcam.metrics
from tfcam.callbacks import ExplanationLogger

MODELS = 12
IMAGES = np.random.default_rng(0).random((2, 12, 12, 3)).astype("float32")


def small_model():
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def alive_after(use) -> int:
    """How many of MODELS models, each used by `use(model)` and then dropped, survive."""
    refs = []
    for _ in range(MODELS):
        model = small_model()
        use(model)
        refs.append(weakref.ref(model))
        del model
    gc.collect()
    return sum(ref() is not None for ref in refs)


@pytest.mark.parametrize("methods", [
    ("grad_cam", "integrated_gradients", "relevance_cam"),
    ("score_cam", "lrp", "smooth_grad", "occlusion"),
])
def test_explained_models_are_collected(methods):
    def use(model):
        for method in methods:
            tfcam.explain(model, IMAGES, method=method, progress=False)
    assert alive_after(use) == 0


def test_an_explainer_the_user_holds_keeps_its_model():
    explainer = tfcam.GradCAM(small_model(), progress=False)  # the only reference
    gc.collect()
    assert explainer.attribute(IMAGES).maps.shape == (2, 12, 12)


def test_models_scored_by_the_metrics_are_collected():
    def use(model):
        maps = tfcam.explain(model, IMAGES, progress=False).maps
        tfcam.metrics.average_drop(model, IMAGES, maps)
        tfcam.metrics.deletion(model, IMAGES, maps, steps=4)
        tfcam.metrics.shattering(model, IMAGES, layers=["conv"], relevance_method=None,
                                 ablation_method=None)
    assert alive_after(use) == 0


def test_models_trained_with_the_callback_are_collected(tmp_path):
    y = np.array([0, 1])

    def use(model):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        logger = ExplanationLogger(IMAGES, method=["grad_cam", "saliency"], log_dir=tmp_path,
                                   tensorboard=False)
        model.fit(IMAGES, y, epochs=1, verbose=0, callbacks=[logger])
    assert alive_after(use) == 0


def test_cached_explainers_are_bounded_per_model():
    front = importlib.import_module("tfcam.api")

    model = small_model()
    for batch_size in range(1, 40):
        tfcam.explain(model, IMAGES, batch_size=batch_size, progress=False)
    assert len(front._EXPLAINERS[model]) <= front._MAX_EXPLAINERS_PER_MODEL
