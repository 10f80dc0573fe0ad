"""Relevance-CAM (Lee et al., 2021): channel weights from LRP relevance instead of gradients.

`R^k` is the relevance at the layer's output, propagated from the output with the
`relevance_cam` composite (z⁺ on every linear layer, winner-take-all max pooling,
proportional residual split) from a CLRP start (+1 at the target, −1/C elsewhere);
`w_k = Σ_ij R^k_ij`; map `Σ_k w_k A^k` (no ReLU by default, as in the reference code:
`relu=True` applies one), upsampled and min-max normalized.

Unlike gradients, relevance keeps its meaning at shallow layers, so the map can be taken at
any layer, including layers inside nested models. One forward pass and one backward walk
from the output to the layer, compiled together.

Explanation fields: channel_weights (N, K) = w; relevance (N, h, w, K) = R at the layer
((N, T, K) for sequences, (N, d, h, w, K) for volumes).
"""

from __future__ import annotations

from keras import ops

from tfcam._maps import spatial_axes
from tfcam.cam.base import weighted_sum
from tfcam.lrp.methods import RelevanceWalker
from tfcam.method_base import Explainer
from tfcam.registry import register


@register("relevance_cam")
class RelevanceCAM(RelevanceWalker, Explainer):

    def __init__(self, model, layer=None, *, composite="relevance_cam", start: str = "clrp",
                 relu: bool = False, **kwargs):
        super().__init__(model, layer, **kwargs)
        self.relu = bool(relu)
        self.plan_walk(composite, start, self.layer_tap.key)

    def traced(self, call, images, indices):
        key = self.layer_tap.key
        env, relevance, scores, resolved = self.relevance_pass(call.spec, images, indices, key)
        # summed in float32 on mixed precision; a token layer's on its grid
        relevance = ops.cast(self.layer_tap.spatial(relevance), "float32")
        weights = ops.sum(relevance, axis=spatial_axes(relevance))
        signed = weighted_sum(weights, self.layer_tap.spatial(env[key]))
        raw = ops.relu(signed) if self.relu else signed
        return dict(maps=call.to_inputs(raw), raw=raw, signed=signed, scores=scores,
                    targets=resolved, channel_weights=weights, relevance=relevance)
