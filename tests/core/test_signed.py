"""`Explanation.signed`: every method's map with its sign, before any ReLU (issue 24).

Checked against what it is defined as, computed here from other fields and from the layer's
activations (tfcam.layer_gradients), not from the method's own code path.
"""
import keras
import numpy as np
import pytest

import tfcam
from tests.core import nets

LAYER_CAMS = ("cam", "grad_cam", "grad_cam_pp", "xgrad_cam", "score_cam", "ablation_cam")
CHANNEL_SUMS = ("saliency", "smooth_grad", "guided_backprop", "deconvnet", "guided_grad_cam",
                "input_x_gradient", "integrated_gradients", "lrp")


@pytest.fixture(scope="module")
def setup():
    keras.utils.set_random_seed(0)  # the same weights whatever ran before (xdist)
    model = nets.gap_dense()
    head = model.get_layer("head")  # mixed signs: every CAM with signed weights has negatives
    kernel = np.array([[1.0, -1.0, 0.5], [-1.0, 1.0, -0.5], [0.5, 0.5, 1.0], [-0.5, -1.0, -1.0]])
    head.set_weights([kernel.astype("float32"), np.zeros(3, "float32")])
    x = nets.images(n=2)
    a, g, _ = tfcam.layer_gradients(model, x, "conv", targets=[0, 2])
    return model, x, np.asarray(a), np.asarray(g)


@pytest.mark.parametrize("method", tfcam.methods())
def test_every_method_fills_signed_where_raw_is(setup, method):
    model, x, _, _ = setup
    ex = tfcam.explain(model, x, method=method, targets=[0, 2])
    assert ex.signed.shape == ex.raw.shape and ex.signed.dtype == np.float32
    assert np.isfinite(ex.signed).all()


@pytest.mark.parametrize("method", LAYER_CAMS)
def test_cam_signed_is_the_weighted_sum_before_the_relu(setup, method):
    model, x, a, _ = setup
    ex = tfcam.explain(model, x, method=method, targets=[0, 2])
    expected = np.einsum("nk,nhwk->nhw", ex.channel_weights, a)
    np.testing.assert_allclose(ex.signed, expected, atol=1e-5)
    np.testing.assert_allclose(ex.raw, np.maximum(expected, 0), atol=1e-5)
    if method == "grad_cam":  # the test must see negative evidence kept (seeded weights)
        assert (expected < 0).any(), "the oracle should have negative evidence to keep"


def test_layer_cam_and_eigen_cam_signed(setup):
    model, x, a, g = setup
    layer_cam = tfcam.explain(model, x, method="layer_cam", targets=[0, 2])
    np.testing.assert_allclose(layer_cam.signed, (np.maximum(g, 0) * a).sum(-1), atol=1e-5)
    eigen = tfcam.explain(model, x, method="eigen_cam", targets=[0, 2])
    centred = a - a.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(eigen.signed, np.einsum("nk,nhwk->nhw", eigen.channel_weights,
                                                       centred), atol=1e-5)


@pytest.mark.parametrize("method", CHANNEL_SUMS)
def test_input_space_signed_is_the_channel_sum_of_the_attributions(setup, method):
    model, x, _, _ = setup
    ex = tfcam.explain(model, x, method=method, targets=[0, 2])
    np.testing.assert_allclose(ex.signed, ex.attributions.sum(-1), atol=1e-6)
