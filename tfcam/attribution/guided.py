"""Guided Backprop, Deconvnet and Guided Grad-CAM: the LRP walk with gradient rules.

Every step passes the gradient back (`vjp(op)(upstream)`) except the ReLUs, which apply
Guided Backprop's rule `upstream · 1[x > 0] · 1[upstream > 0]` (Springenberg et al., 2015)
or Deconvnet's `ReLU(upstream)` (Zeiler & Fergus, 2014). Every ReLU counts: ReLU layers,
Activation("relu"), a layer's own `activation="relu"` (the traced graph splits it into its
own step) and `keras.ops.relu` nodes, inside nested models too: a ReLU that stayed plain
would silently turn the result back into a gradient.

Fields: attributions (N, H, W, C) = the guided gradient; raw (N, H, W) = max over channels
of |attributions|; maps = minmax(raw). Sequences and volumes: (N, T, C) -> (N, T) and
(N, D, H, W, C) -> (N, D, H, W).

Guided Grad-CAM (Selvaraju et al., 2017) multiplies Guided Backprop by the Grad-CAM map of a
layer upsampled to the input (and normalized to [0, 1]): attributions = guided ⊙ cam,
raw = max over channels of |attributions| (at the input's resolution), channel_weights =
the Grad-CAM weights.

A model with several inputs: the guided gradient reaches every input; attributions, raw and
maps are tuples (lists in the Explanation), one per input. Guided Grad-CAM has them for
the inputs of the layer's spatial rank only (None for the others: no CAM to multiply by).
"""

from __future__ import annotations

from keras import ops

from tfcam._maps import channel_max_abs, channel_sum, minmax, spatial_axes
from tfcam.cam.base import activations_and_gradients, weighted_sum
from tfcam.inputs import each
from tfcam.lrp import rules
from tfcam.lrp.composites import Composite
from tfcam.lrp.methods import RelevanceWalker
from tfcam.method_base import Explainer, InputSpaceMethod
from tfcam.registry import register


def guided_composite() -> Composite:
    return Composite(relu=rules.GuidedReLU(), default=rules.Gradient(), name="guided_backprop")


def deconvnet_composite() -> Composite:
    return Composite(relu=rules.DeconvReLU(), default=rules.Gradient(), name="deconvnet")


class _GradientWalker(RelevanceWalker):
    gradient_walk = True
    make_composite = staticmethod(guided_composite)

    def __init__(self, model, layer=None, **kwargs):
        # a mixin: the next __init__ on the MRO is Explainer's
        super().__init__(model, layer, **kwargs)  # type: ignore[call-arg]
        self.plan_walk(self.make_composite(), "one_hot")


@register("guided_backprop")
class GuidedBackprop(_GradientWalker, InputSpaceMethod):
    """Guided Backprop (Springenberg et al., 2015): the gradient, with ReLUs passing only
    positive gradients of positive inputs."""

    def traced(self, call, images, indices):
        _, grads, scores, resolved = self.relevance_pass(call.spec, images, indices)
        raw = each(channel_max_abs, grads)
        return dict(maps=each(minmax, raw), raw=raw, signed=each(channel_sum, grads),
                    scores=scores, targets=resolved, attributions=grads)


@register("deconvnet")
class Deconvnet(GuidedBackprop):
    """Deconvnet (Zeiler & Fergus, 2014): the gradient, with ReLUs applied to the backward signal instead."""

    make_composite = staticmethod(deconvnet_composite)


@register("guided_grad_cam", aliases=("guided_gradcam",))
class GuidedGradCAM(_GradientWalker, Explainer):
    """Guided Grad-CAM (Selvaraju et al., 2017): Guided Backprop times the layer's Grad-CAM map."""

    def traced(self, call, images, indices):
        # One forward pass serves both the guided walk and Grad-CAM's gradient.
        env, guided, _, _ = self.relevance_pass(call.spec, images, indices)
        a, g, scores, resolved = activations_and_gradients(self, call.spec, images, indices,
                                                           env)
        weights = ops.mean(g, axis=spatial_axes(g))
        cam = call.to_inputs(ops.relu(weighted_sum(weights, a)))
        attributions = each(lambda guided, cam: guided * cam[..., None], guided, cam)
        raw = each(channel_max_abs, attributions)
        return dict(maps=each(minmax, raw), raw=raw, signed=each(channel_sum, attributions),
                    scores=scores, targets=resolved, channel_weights=weights,
                    attributions=attributions)
