"""The default CAM layer is larger than 1×1 (issue 25 §1): a CAM of a 1×1 layer is constant.

keras.applications built with random weights at small inputs: MobileNet's and MobileNetV3's
head has a 1×1 conv after global pooling (the last 4-D layer), and InceptionV3's last block
is 1×1 at 75 px. Before, the default layer was that 1×1 layer and every map was 0.
"""
import warnings

import keras
import numpy as np
import pytest

import tfcam

APPS = {
    "mobilenet": lambda: keras.applications.MobileNet(weights=None, input_shape=(96, 96, 3)),
    "mobilenet_v3": lambda: keras.applications.MobileNetV3Small(weights=None,
                                                                 input_shape=(96, 96, 3)),
    "inception_v3": lambda: keras.applications.InceptionV3(weights=None, input_shape=(75, 75, 3)),
}


@pytest.fixture(scope="module", params=list(APPS))
def app(request):
    keras.utils.set_random_seed(0)
    return request.param, APPS[request.param]()


def test_the_default_layer_is_the_last_one_larger_than_1x1(app):
    name, model = app
    layers = tfcam.explainable_layers(model)
    (default,) = [layer for layer in layers if layer.default]
    assert max(default.shape[1:3]) > 1
    after = layers[layers.index(default) + 1:]
    assert after and all(layer.pointwise for layer in after), (name, default, after[:3])


def test_grad_cam_by_default_is_not_constant(app):
    _, model = app
    x = np.random.default_rng(0).random((2, *model.input_shape[1:])).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default layer warns of nothing
        ex = tfcam.explain(model, x, method="grad_cam")
    assert ex.maps.std(axis=(1, 2)).min() > 0.01


def test_a_1x1_layer_on_request_warns(app):
    _, model = app
    pointwise = [layer for layer in tfcam.explainable_layers(model) if layer.pointwise][-1]
    with pytest.warns(UserWarning, match=r"1 wide on every spatial axis, so its map is constant"):
        tfcam.GradCAM(model, layer=pointwise.path)


def test_tfcam_layers_marks_the_1x1_layers(tmp_path, capsys):
    from tfcam.cli import main

    APPS["mobilenet"]().save(tmp_path / "mobilenet.keras")
    assert main(["layers", str(tmp_path / "mobilenet.keras")]) == 0
    lines = capsys.readouterr().out.splitlines()
    (default,) = [line for line in lines if "<- default" in line]
    assert default.startswith("conv_pw_13_relu")
    marked = [line.split()[0] for line in lines if "(1×1: a CAM here is constant)" in line]
    assert marked and "conv_preds" in marked


def test_layer_none_is_the_marked_default(app):
    """`layer=None` explains the layer `explainable_layers` marks as the default."""
    _, model = app
    (default,) = [layer for layer in tfcam.explainable_layers(model) if layer.default]
    x = np.random.default_rng(1).random((1, *model.input_shape[1:])).astype("float32")
    implicit = tfcam.explain(model, x, method="grad_cam")
    explicit = tfcam.explain(model, x, method="grad_cam", layer=default.path)
    assert implicit.layer == explicit.layer == default.path
    np.testing.assert_array_equal(implicit.maps, explicit.maps)
