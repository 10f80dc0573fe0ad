"""Layer-CAM (Jiang et al., 2021): map ReLU(sum_k ReLU(g^k_ij) A^k_ij), no spatial pooling."""

from keras import ops

from tfcam.cam.base import GradientCAM
from tfcam.registry import register


@register("layer_cam", aliases=("layercam",))
class LayerCAM(GradientCAM):
    def channel_weights(self, activations, grads):
        return None

    def layer_map(self, activations, grads, weights):
        return ops.sum(ops.relu(grads) * activations, axis=-1)  # the base applies the ReLU
