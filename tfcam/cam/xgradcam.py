"""XGrad-CAM (Fu et al., 2020): w_k = sum_ij A_ij g_ij / (sum_ij A_ij + 1e-7)."""

from keras import ops

from tfcam.cam.base import GradientCAM


class XGradCAM(GradientCAM):
    method = "xgradcam"

    def channel_weights(self, activations, grads):
        numerator = ops.sum(activations * grads, axis=(1, 2))
        return numerator / (ops.sum(activations, axis=(1, 2)) + 1e-7)
