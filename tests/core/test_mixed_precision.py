"""Models that compute in bfloat16 (Keras' mixed_bfloat16 policy, weights in float32) give
float32 maps close to those of the same weights computing in float32."""

import contextlib

import keras
import numpy as np
import pytest
from scipy.stats import spearmanr

import tfcam
from tests.core import nets

OPTIONS = {"integrated_gradients": {"steps": 8}, "occlusion": {"patch": 4, "stride": 2}}
# One method per code path that handles dtypes: the gradient CAMs (Grad-CAM++, XGrad-CAM and
# Layer-CAM share Grad-CAM's), the perturbation methods, the LRP walk (Relevance-CAM, LRP,
# the guided walks), input gradients (Input×Gradient and SmoothGrad share saliency's).
METHODS = ["cam", "grad_cam", "score_cam", "ablation_cam", "relevance_cam", "lrp", "guided_grad_cam",
           "saliency", "integrated_gradients", "occlusion"]


@contextlib.contextmanager
def dtype_policy(name):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.fixture(scope="module")
def twins():
    """(float32 model, the same weights under mixed_bfloat16, images)."""
    keras.utils.set_random_seed(3)
    model = nets.gap_dense(size=16, channels=8, classes=4, softmax=True)
    with dtype_policy("mixed_bfloat16"):
        mixed = nets.gap_dense(size=16, channels=8, classes=4, softmax=True, name="mixed")
    mixed.set_weights(model.get_weights())
    assert mixed.get_layer("conv").compute_dtype == "bfloat16"
    return model, mixed, nets.images(n=3, size=16, seed=4)


@pytest.mark.parametrize("method", METHODS)
def test_mixed_bfloat16_maps_are_float32_and_agree(method, twins):
    model, mixed, x = twins
    reference = tfcam.explain(model, x, method, targets=[0, 1, 2], **OPTIONS.get(method, {}))
    ex = tfcam.explain(mixed, x, method, targets=[0, 1, 2], **OPTIONS.get(method, {}))
    assert ex.maps.dtype == np.float32 and ex.scores.dtype == np.float32
    assert np.isfinite(ex.maps).all() and ex.maps.min() >= 0 and ex.maps.max() <= 1
    np.testing.assert_allclose(ex.scores, reference.scores, rtol=0.05, atol=0.05)
    for a, b in zip(ex.maps, reference.maps):
        if np.ptp(b) > 0:
            assert spearmanr(a.ravel(), b.ravel()).statistic > 0.9
