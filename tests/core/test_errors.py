"""Bad input gets a clear error naming what was wrong and how to fix it."""

import keras
import numpy as np
import pytest

import tfcam
from tests.core import nets


@pytest.fixture(scope="module")
def model():
    return nets.gap_dense()


def test_unknown_layer_suggests_close_names(model):
    with pytest.raises(ValueError, match=r"no layer named 'cnv'.*Did you mean \['conv'\]"):
        tfcam.explain(model, nets.images(), "grad_cam", layer="cnv")


def test_non_spatial_layer(model):
    with pytest.raises(ValueError, match=r"'head' outputs shape \(None, 3\).*conv"):
        tfcam.explain(model, nets.images(), "grad_cam", layer="head")


def test_cam_needs_gap_dense_head():
    model = nets.flatten_dense()
    with pytest.raises(ValueError, match="GlobalAveragePooling2D.*grad_cam"):
        tfcam.explain(model, nets.images(size=6, channels=2), "cam")


def test_missing_batch_axis(model):
    with pytest.raises(ValueError, match=r"inputs\[None\]"):
        tfcam.explain(model, nets.images()[0], "grad_cam")


def test_wrong_input_size(model):
    with pytest.raises(ValueError, match=r"expects inputs of shape \(None, 8, 8, 3\); got"):
        tfcam.explain(model, nets.images(size=9), "grad_cam")


@pytest.mark.parametrize("targets", [3, [0, 1, -1], [0, 1]])
def test_bad_targets(model, targets):
    with pytest.raises(ValueError, match="out of range|one per sample"):
        tfcam.explain(model, nets.images(), "grad_cam", targets=targets)


def test_unknown_method(model):
    with pytest.raises(ValueError, match=r"unknown method 'gradcm'.*'gradcam'"):
        tfcam.explain(model, nets.images(), "gradcm")


def test_model_without_spatial_layer():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no layer with a 4-D"):
        tfcam.explain(model, np.zeros((1, 4), "float32"), "grad_cam")


def test_subclassed_model_not_called_yet():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(keras.ops.mean(x, axis=(1, 2)))

    with pytest.raises(ValueError, match=r"not been called.*model\(images\[:1\]\)"):
        tfcam.explain(Net(), np.zeros((1, 4, 4, 1), "float32"), "saliency")


def test_unbuilt_sequential():
    model = keras.Sequential([keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="build"):
        tfcam.explain(model, np.zeros((1, 8, 8, 1), "float32"), "grad_cam")


def test_layer_object_from_another_model(model):
    other = nets.gap_dense(name="other")
    with pytest.raises(ValueError, match="not part of the model"):
        tfcam.explain(model, nets.images(), "grad_cam", layer=other.get_layer("conv"))


def test_nested_names_resolve_by_path_and_ambiguity_is_reported():
    inp = keras.Input((8, 8, 3))
    first = keras.Model(inp, keras.layers.Conv2D(3, 1, name="conv")(inp), name="first")
    inner = nets.gap_dense(name="inner")
    outer_in = keras.Input((8, 8, 3))
    model = keras.Model(outer_in, inner(first(outer_in)))
    with pytest.raises(ValueError, match=r"ambiguous.*'first/conv', 'inner/conv'"):
        tfcam.explain(model, nets.images(), "grad_cam", layer="conv")
    assert tfcam.explain(model, nets.images(), "grad_cam", layer="inner/conv").layer == "inner/conv"
