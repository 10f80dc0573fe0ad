"""Any Keras 3 model, unchanged: nested, softmax heads, multi-output, keras.applications."""

import keras
import numpy as np
import pytest

import tfcam
from tests.core import nets


def _chain(size=12):
    return [
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Conv2D(5, 3, padding="same", name="c2"),
        keras.layers.ReLU(name="r2"),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c3"),
    ]


def _nested_and_flat(size=12):
    """The transfer-learning pattern and the same layers (same weights) in one flat model."""
    layers = _chain()
    inp = keras.Input((size, size, 3))
    x = inp
    for layer in layers:
        x = layer(x)
    base = keras.Model(inp, x, name="base")
    gap, head = keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4, name="head")
    nested = keras.Sequential([keras.Input((size, size, 3)), base, gap, head])
    flat_in = keras.Input((size, size, 3))
    y = flat_in
    for layer in layers:
        y = layer(y)
    flat = keras.Model(flat_in, head(gap(y)))
    return nested, flat


@pytest.mark.parametrize("method", ["grad_cam", "score_cam", "layer_cam", "ablation_cam"])
@pytest.mark.parametrize("layer", ["c1", "r2", "c3"])
def test_nested_model_equals_flat_model(method, layer):
    nested, flat = _nested_and_flat()
    x = nets.images(n=2, size=12)
    inner = tfcam.explain(nested, x, method, layer=layer, targets=[0, 3])
    outer = tfcam.explain(flat, x, method, layer=layer, targets=[0, 3])
    assert inner.layer == f"base/{layer}"
    np.testing.assert_allclose(inner.maps, outer.maps, atol=1e-5)
    np.testing.assert_allclose(inner.scores, outer.scores, rtol=1e-5)


def test_layer_by_object_and_default():
    nested, _ = _nested_and_flat()
    x = nets.images(n=2, size=12)
    base = nested.layers[0]
    by_object = tfcam.explain(nested, x, "grad_cam", layer=base.get_layer("c2"))
    by_path = tfcam.explain(nested, x, "grad_cam", layer="base/c2")
    np.testing.assert_array_equal(by_object.maps, by_path.maps)
    assert tfcam.explain(nested, x, "grad_cam").layer == "base/c3"


@pytest.mark.parametrize("head", ["dense_softmax", "softmax_layer", "activation_layer"])
def test_softmax_heads_are_skipped(head):
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(3, activation="softmax" if head == "dense_softmax" else None)
    x = dense(pooled)
    if head == "softmax_layer":
        x = keras.layers.Softmax()(x)
    elif head == "activation_layer":
        x = keras.layers.Activation("softmax")(x)
    model = keras.Model(inp, x)
    x_in = nets.images()
    ex = tfcam.explain(model, x_in, "grad_cam", targets=1)
    features = np.asarray(keras.Model(inp, pooled)(x_in))
    expected = features @ np.asarray(dense.kernel)[:, 1] + np.asarray(dense.bias)[1]
    np.testing.assert_allclose(ex.scores, expected, rtol=1e-5)
    assert not np.allclose(ex.scores, np.asarray(model(x_in))[:, 1])


def test_multi_output_model_with_callable_target():
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, [keras.layers.Dense(2, name="a")(pooled),
                              keras.layers.Dense(1, name="b")(pooled)])
    x_in = nets.images()
    ex = tfcam.explain(model, x_in, "grad_cam", targets=lambda outs: outs[1][:, 0])
    assert ex.targets is None
    np.testing.assert_allclose(ex.scores, np.asarray(model(x_in)[1])[:, 0], rtol=1e-5)
    # The gradient of the second head's score is its kernel / Z (Grad-CAM on GAP -> Dense).
    kernel = np.asarray(model.get_layer("b").kernel)[:, 0]
    np.testing.assert_allclose(ex.channel_weights, np.tile(kernel / 36, (3, 1)), rtol=1e-5)
    with pytest.raises(ValueError, match="callable"):
        tfcam.explain(model, x_in, "grad_cam", targets=0)


APPLICATIONS = {
    "VGG16": (keras.applications.VGG16, "block4_conv3"),
    "VGG19": (keras.applications.VGG19, "block5_conv4"),
    "ResNet50": (keras.applications.ResNet50, "conv4_block6_out"),
    "ResNet101": (keras.applications.ResNet101, "conv3_block4_out"),
    "ResNet50V2": (keras.applications.ResNet50V2, "post_relu"),
}


# ResNet101 is ResNet50's blocks, more of them: slow (23 s on JAX), run with -m slow.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "ResNet101" else n
                                  for n in sorted(APPLICATIONS)])
def test_keras_applications_with_random_weights(name):
    build, layer = APPLICATIONS[name]
    model = build(weights=None, input_shape=(32, 32, 3), classes=5)
    x = nets.images(n=2, size=32)
    ex = tfcam.explain(model, x, "grad_cam", layer=layer)
    assert ex.maps.shape == (2, 32, 32)
    assert np.isfinite(ex.maps).all() and ex.maps.min() >= 0 and ex.maps.max() <= 1
    assert ex.layer == layer


def test_resnet_base_nested_in_sequential():
    # 64 px: the last block is 2×2 (at 32 px it is 1×1, and the default is then conv4's)
    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3))
    model = keras.Sequential([base, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5)])
    x = nets.images(n=2, size=64)
    for layer in ("conv2_block3_out", "conv4_block6_out", None):
        ex = tfcam.explain(model, x, "grad_cam", layer=layer)
        assert ex.maps.shape == (2, 64, 64) and np.isfinite(ex.maps).all()
    assert ex.layer == "resnet50/conv5_block3_out"
    assert ex.maps.std(axis=(1, 2)).min() > 0.01  # not constant: the CAM check below bites
    # Grad-CAM at the last layer equals CAM there (GAP -> Dense head, no softmax).
    cam = tfcam.explain(model, x, "cam", targets=[1, 2])
    grad = tfcam.explain(model, x, "grad_cam", targets=[1, 2])
    np.testing.assert_allclose(grad.maps, cam.maps, atol=1e-4)


def test_model_and_inputs_unchanged():
    model = nets.gap_dense(softmax=True)
    before = [np.array(w) for w in model.get_weights()]
    activation = model.get_layer("head").activation
    x = nets.images()
    x_copy = x.copy()
    for method in tfcam.METHODS:
        tfcam.explain(model, x, method)
    assert model.get_layer("head").activation is activation
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(x, x_copy)


def test_weights_changed_after_first_call_are_used():
    """Compiled functions must read the current weights, not the ones they were traced with."""
    model = nets.gap_dense()
    x = nets.images()
    first = tfcam.explain(model, x, "grad_cam", targets=0)
    head = model.get_layer("head")
    head.kernel.assign(-np.asarray(head.kernel))
    second = tfcam.explain(model, x, "grad_cam", targets=0)
    np.testing.assert_allclose(second.channel_weights, -first.channel_weights, rtol=1e-5)


def test_overlay_is_rgb_uint8():
    model = nets.gap_dense()
    x = nets.images()
    out = tfcam.explain(model, x, "grad_cam").overlay(x)
    assert out.shape == (3, 8, 8, 3) and out.dtype == np.uint8


def test_same_shaped_batches_do_not_retrace():
    traces = []

    class CountingGradCAM(tfcam.GradCAM):
        def channel_weights(self, activations, grads):
            traces.append(1)  # runs when the function is traced, not when it is called
            return super().channel_weights(activations, grads)

    model = nets.gap_dense()
    explainer = CountingGradCAM(model, batch_size=2)
    explainer.attribute(nets.images(n=5))  # batches of 2, 2 and a padded 1
    explainer.attribute(nets.images(n=4, seed=1), target=[0, 1, 2, 0])
    assert len(traces) == 1


@pytest.mark.parametrize("which", ["nested", "flat"])
def test_traced_program_reproduces_the_model(which):
    from tfcam.graph import trace

    model = dict(zip(["nested", "flat"], _nested_and_flat()))[which]
    x = nets.images(n=2, size=12)
    np.testing.assert_allclose(np.asarray(trace(model)(x)), np.asarray(model(x)), rtol=1e-5,
                               atol=1e-6)


def test_explainer_reused_for_batches_of_other_sizes():
    """Compiled functions take their batch size from the traced inputs, not the first call."""
    model = nets.gap_dense()
    x = nets.images(n=5)
    for method, options in [("integrated_gradients", {"steps": 2}),
                            ("smooth_grad", {"samples": 2, "noise_level": 0.0})]:
        cls = {"integrated_gradients": tfcam.IntegratedGradients,
               "smooth_grad": tfcam.SmoothGrad}[method]
        reused = cls(model, batch_size=64, **options)
        small, large = reused.attribute(x[:2]), reused.attribute(x)
        fresh = cls(model, batch_size=64, **options).attribute(x)
        np.testing.assert_allclose(large.maps, fresh.maps, atol=1e-6)
        np.testing.assert_allclose(small.maps, fresh.maps[:2], atol=1e-5)
