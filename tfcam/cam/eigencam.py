"""Eigen-CAM (Muhammad & Yeasin, 2020): the layer's first principal component, no gradients.

Per image, the activations (spatial..., K) are laid out as P positions x K channels,
centred per channel (as pytorch-grad-cam's `get_2d_projection` does), and projected on
their first right singular vector v1: map = ReLU((A - mean) @ v1), resized and normalized
like every CAM. channel_weights = v1 (signed as below).

The sign of a singular vector is arbitrary (LAPACK and each backend may return -v1):
pytorch-grad-cam leaves it to the SVD and relies on the centring to make it come out
positive. Here v1 is flipped, per image, so that the map correlates positively with the
channel sum of the activations (where the layer is active); an exact tie keeps the SVD's.

Class-agnostic: the map depends on the activations only; the target sets `scores`. Only
the forward pass to the layer runs (`uses_gradients = False`).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from tfcam.cam.base import GradientCAM
from tfcam.registry import register


@register("eigen_cam")
class EigenCAM(GradientCAM):
    uses_gradients = False

    def channel_weights(self, activations, grads):
        flat = _positions(activations)
        centred = flat - ops.mean(flat, axis=1, keepdims=True)
        _, _, vh = ops.svd(centred, full_matrices=False)
        v1 = vh[:, 0, :]  # (N, K): the first right singular vector of each image
        projection = ops.einsum("npk,nk->np", centred, v1)
        # Orient v1 towards the channel sum (the projection has mean 0: a covariance).
        agreement = ops.sum(projection * ops.sum(flat, axis=-1), axis=1)
        return v1 * ops.where(agreement < 0, -1.0, 1.0)[:, None]

    def layer_map(self, activations, grads, weights):
        flat = _positions(activations)
        centred = flat - ops.mean(flat, axis=1, keepdims=True)
        projection = ops.einsum("npk,nk->np", centred, weights)
        return ops.reshape(projection, (-1, *activations.shape[1:-1]))  # ReLU: the base's


def _positions(activations):
    """(N, spatial..., K) -> (N, P, K)."""
    positions = int(np.prod(activations.shape[1:-1]))
    return ops.reshape(activations, (-1, positions, activations.shape[-1]))
