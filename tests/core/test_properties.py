"""Invariants on random small architectures (hypothesis)."""

import keras
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfcam

CAM_METHODS = ["grad_cam", "grad_cam_pp", "xgrad_cam", "layer_cam", "score_cam", "ablation_cam",
               "relevance_cam", "guided_grad_cam"]
INPUT_METHODS = ["saliency", "input_x_gradient", "smooth_grad", "integrated_gradients",
                 "occlusion", "lrp", "guided_backprop", "deconvnet"]

architectures = st.fixed_dictionaries({
    "convs": st.lists(st.tuples(st.integers(1, 4), st.sampled_from([1, 3]),
                                st.sampled_from(["relu", "tanh", None])),
                      min_size=1, max_size=3),
    "batchnorm": st.booleans(),
    "pool": st.booleans(),
    "softmax": st.booleans(),
    "classes": st.integers(2, 4),
    "seed": st.integers(0, 2**16),
})


def build(arch, size=8):
    keras.utils.set_random_seed(arch["seed"])
    inp = keras.Input((size, size, 2))
    x = inp
    for i, (channels, kernel, activation) in enumerate(arch["convs"]):
        x = keras.layers.Conv2D(channels, kernel, padding="same", activation=activation,
                                name=f"conv{i}")(x)
        if arch["batchnorm"]:
            x = keras.layers.BatchNormalization()(x)
        if arch["pool"] and i == 0:
            x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(arch["classes"], activation="softmax" if arch["softmax"] else None)(x)
    return keras.Model(inp, out)


SETTINGS = settings(max_examples=5, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(arch=architectures, method=st.sampled_from(CAM_METHODS + INPUT_METHODS))
def test_batch_equals_one_at_a_time(arch, method):
    model = build(arch)
    x = np.random.default_rng(arch["seed"]).normal(size=(3, 8, 8, 2)).astype("float32")
    options = {"samples": 2, "noise_level": 0.0} if method == "smooth_grad" else {}
    together = tfcam.explain(model, x, method, batch_size=2, **options)
    for i in range(3):
        alone = tfcam.explain(model, x[i:i + 1], method, batch_size=2, **options)
        np.testing.assert_allclose(alone.maps[0], together.maps[i], atol=2e-4)
        assert alone.targets[0] == together.targets[i]


@SETTINGS
@given(arch=architectures, method=st.sampled_from(CAM_METHODS + INPUT_METHODS),
       value=st.sampled_from([0.0, 1.0]))
def test_maps_in_unit_range_and_never_nan(arch, method, value):
    model = build(arch)
    x = np.full((2, 8, 8, 2), value, dtype="float32")  # constant inputs: constant maps
    ex = tfcam.explain(model, x, method)
    assert np.isfinite(ex.maps).all() and np.isfinite(ex.raw).all()
    assert ex.maps.min() >= 0 and ex.maps.max() <= 1
    assert ex.maps.shape == (2, 8, 8)


@SETTINGS
@given(arch=architectures)
def test_gradcam_equals_cam_on_gap_dense(arch):
    model = build({**arch, "batchnorm": False, "pool": False})
    x = np.random.default_rng(1).random((2, 8, 8, 2)).astype("float32")
    layer = f"conv{len(arch['convs']) - 1}"
    cam = tfcam.explain(model, x, "cam", layer=layer)
    grad = tfcam.explain(model, x, "grad_cam", layer=layer)
    np.testing.assert_allclose(grad.maps, cam.maps, atol=1e-4)


class _Chain(keras.Model):
    """A subclassed model calling the given (already built) layers one after another."""

    def __init__(self, chain, **kwargs):
        super().__init__(**kwargs)
        self.chain = chain

    def call(self, x):
        for layer in self.chain:
            x = layer(x)
        return x


@SETTINGS
@given(arch=architectures, method=st.sampled_from(CAM_METHODS + INPUT_METHODS))
def test_subclassed_twin_equals_functional(arch, method):
    functional = build(arch)
    subclassed = _Chain(functional.layers[1:])  # the same layers, hence the same weights
    x = np.random.default_rng(arch["seed"]).normal(size=(2, 8, 8, 2)).astype("float32")
    subclassed(x)
    options = {"samples": 2} if method == "smooth_grad" else {}
    layer = functional.layers[1] if method in CAM_METHODS else None  # first conv: by object
    sub = tfcam.explain(subclassed, x, method, layer=layer, **options)
    ref = tfcam.explain(functional, x, method, layer=layer, **options)
    np.testing.assert_allclose(sub.maps, ref.maps, atol=1e-5)
    np.testing.assert_array_equal(sub.targets, ref.targets)
