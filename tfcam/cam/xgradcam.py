"""XGrad-CAM (Fu et al., 2020): w_k = sum_ij A_ij g_ij / (sum_ij A_ij + 1e-7)."""

from keras import ops

from tfcam._maps import spatial_axes
from tfcam.cam.base import GradientCAM
from tfcam.registry import register


@register("xgrad_cam", aliases=("xgradcam",))
class XGradCAM(GradientCAM):
    def channel_weights(self, activations, grads):
        axes = spatial_axes(grads)
        numerator = ops.sum(activations * grads, axis=axes)
        return numerator / (ops.sum(activations, axis=axes) + 1e-7)
