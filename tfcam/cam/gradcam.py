"""Grad-CAM (Selvaraju et al., 2017): w_k = mean_ij dS/dA^k_ij; map ReLU(sum_k w_k A^k)."""

from keras import ops

from tfcam._maps import spatial_axes
from tfcam.cam.base import GradientCAM
from tfcam.registry import register


@register("grad_cam", aliases=("gradcam",))
class GradCAM(GradientCAM):
    def channel_weights(self, activations, grads):
        return ops.mean(grads, axis=spatial_axes(grads))
