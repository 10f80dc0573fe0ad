"""The two contrastive starts: "clrp" (+1 at the target, −1/C elsewhere: the Relevance-CAM
authors' code, the default) and "clrp_zero_sum" (−1/(C−1) elsewhere: sums to zero)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from lrp_helpers import gap_net, images

import tfcam
from tfcam.cam.relevancecam import RelevanceCAM
from tfcam.lrp import LRP, STARTS, relevance_at
from tfcam.lrp.start import start_vector


def _vectors(start, num_classes=5):
    logits = np.random.default_rng(0).normal(size=(3, num_classes)).astype("float32")
    idx = np.array([0, min(3, num_classes - 1), num_classes - 1], "int32")
    got = np.asarray(start_vector(start, ops.convert_to_tensor(logits),
                                  ops.convert_to_tensor(idx)))
    return got, np.eye(num_classes)[idx]


def test_start_vectors_against_numpy():
    assert "clrp_zero_sum" in STARTS
    clrp, one_hot = _vectors("clrp")
    zero_sum, _ = _vectors("clrp_zero_sum")
    np.testing.assert_allclose(clrp, np.where(one_hot > 0, 1.0, -1.0 / 5), rtol=1e-6)
    np.testing.assert_allclose(clrp.sum(axis=1), 1.0 / 5, rtol=1e-5)
    np.testing.assert_allclose(zero_sum, np.where(one_hot > 0, 1.0, -1.0 / 4), rtol=1e-6)
    np.testing.assert_allclose(zero_sum.sum(axis=1), 0.0, atol=1e-6)


def test_two_classes_is_target_minus_other():
    zero_sum, one_hot = _vectors("clrp_zero_sum", num_classes=2)
    np.testing.assert_allclose(zero_sum, 2 * one_hot - 1)


def _per_class_weights(model, dense, x):
    """Relevance-CAM's closed form on conv -> GAP -> Dense (z⁺, one-hot start, class c):
    w_k = x_k W⁺[k,c] / Σ_k' x_k' W⁺[k',c], x_k the channel mean."""
    acts = np.asarray(keras.Model(model.input, model.get_layer("conv").output)(x))
    means = acts.astype("float64").mean(axis=(1, 2))
    w_pos = np.maximum(np.asarray(dense.kernel), 0)
    out = []
    for c in range(w_pos.shape[1]):
        contrib = means * w_pos[:, c]
        out.append(contrib / contrib.sum(axis=1, keepdims=True))
    return out


def test_relevance_cam_zero_sum_start_differs_from_clrp():
    """w = w(c) − 1/(C−1) Σ_{n≠c} w(n) (C = 3), against CLRP's 1/C."""
    model, dense = gap_net(seed=3)
    x = images(2, size=8, seed=4)
    per_class = _per_class_weights(model, dense, x)
    clrp = RelevanceCAM(model, "conv").attribute(x, target=0)
    zero_sum = RelevanceCAM(model, "conv", start="clrp_zero_sum").attribute(x, target=0)
    others = per_class[1] + per_class[2]
    np.testing.assert_allclose(clrp.channel_weights, per_class[0] - others / 3, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(zero_sum.channel_weights, per_class[0] - others / 2, rtol=1e-5,
                               atol=1e-6)
    assert np.abs(zero_sum.channel_weights - clrp.channel_weights).max() > 1e-3
    assert np.isfinite(zero_sum.maps).all() and zero_sum.maps.shape == (2, 8, 8)
    # Each per-class closed form sums to 1 over channels: the zero-sum start's weights
    # sum to zero, CLRP's to 1 − (C−1)/C = 1/C.
    np.testing.assert_allclose(zero_sum.channel_weights.sum(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(clrp.channel_weights.sum(axis=1), 1.0 / 3, rtol=1e-4)


def test_zero_sum_start_is_offered_wherever_start_is():
    model, _ = gap_net(seed=3)
    x = images(2, size=8, seed=4)
    cam = tfcam.explain(model, x, "relevance_cam", layer="conv", targets=1,
                        start="clrp_zero_sum")
    _, relevance, _ = relevance_at(model, x, layer="conv", targets=1, start="clrp_zero_sum")
    np.testing.assert_allclose(np.asarray(relevance).sum(axis=(1, 2)), cam.channel_weights,
                               rtol=1e-4, atol=1e-6)
    lrp = tfcam.explain(model, x, "lrp", targets=1, start="clrp_zero_sum")
    default = LRP(model, start="clrp").attribute(x, target=1)
    assert np.isfinite(lrp.relevance).all()
    assert np.abs(lrp.relevance - default.relevance).max() > 0
    with pytest.raises(ValueError, match="class target"):
        LRP(model, start="clrp_zero_sum").attribute(x, target=lambda y: y[:, 2])
    with pytest.raises(ValueError, match="clrp_zero_sum"):
        LRP(model, start="clrp_zero")  # the error lists the starts
