"""Layer-CAM (Jiang et al., 2021): map ReLU(sum_k ReLU(g^k_ij) A^k_ij), no spatial pooling."""

from keras import ops

from tfcam.cam.base import GradientCAM


class LayerCAM(GradientCAM):
    method = "layercam"

    def channel_weights(self, activations, grads):
        return None

    def layer_map(self, activations, grads, weights):
        return ops.relu(ops.sum(ops.relu(grads) * activations, axis=-1))
