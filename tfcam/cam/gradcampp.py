"""Grad-CAM++ (Chattopadhay et al., 2018), the paper's closed form.

alpha_ij = g^2 / (2 g^2 + (sum_ab A_ab) g^3), 0 where the denominator is 0;
w_k = sum_ij alpha_ij ReLU(g_ij). The exp(S) factor of the paper is a per-image constant and
drops out after normalization.
"""

from keras import ops

from tfcam._maps import spatial_axes
from tfcam.cam.base import GradientCAM
from tfcam.registry import register


@register("grad_cam_pp", aliases=("gradcampp",))
class GradCAMPlusPlus(GradientCAM):
    def channel_weights(self, activations, grads):
        g2, axes = ops.square(grads), spatial_axes(grads)
        activation_sums = ops.sum(activations, axis=axes, keepdims=True)
        denominator = 2.0 * g2 + activation_sums * g2 * grads
        nonzero = denominator != 0
        alpha = ops.where(nonzero, g2 / ops.where(nonzero, denominator, 1.0), 0.0)
        return ops.sum(alpha * ops.relu(grads), axis=axes)
