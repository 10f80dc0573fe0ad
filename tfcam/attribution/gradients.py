"""Gradients of the score with respect to the input, the base of the input-space methods.

A model with several inputs is differentiated with respect to every input at once: the
gradients (and every per-input result) are tuples, one entry per input.
"""

from __future__ import annotations

from keras import ops

from tfcam import backend, targets
from tfcam._maps import channel_max_abs, channel_sum, minmax
from tfcam.inputs import each, feeds
from tfcam.method_base import Explainer, InputSpaceMethod
from tfcam.registry import register

__all__ = ["InputSpaceMethod", "InputXGradient", "Saliency", "input_gradients"]


def input_gradients(explainer: Explainer, spec, images, indices):
    """dS/dx (same shape as images; a tuple, one per input, for a tuple of inputs), scores
    and resolved targets for the targets `spec`; traced in a compiled fn."""
    program = explainer.program

    def total_score(x):
        env = program.evaluate(feeds(program, x), targets.score_keys(program, spec))
        scores, resolved = targets.scores_and_targets(program, env, spec, indices)
        return ops.sum(scores), (scores, resolved)

    several = isinstance(images, (tuple, list))
    _, (scores, resolved), grads = backend.value_and_grad(total_score)(
        list(images) if several else images)
    return (tuple(grads) if several else grads), scores, resolved


@register("saliency")
class Saliency(InputSpaceMethod):
    """Saliency (Simonyan et al., 2014): max over channels of |dS/dx|."""

    def traced(self, call, images, indices):
        grads, scores, resolved = input_gradients(self, call.spec, images, indices)
        raw = each(channel_max_abs, grads)
        return dict(maps=each(minmax, raw), raw=raw, signed=each(channel_sum, grads),
                    scores=scores, targets=resolved, attributions=grads)


@register("input_x_gradient")
class InputXGradient(InputSpaceMethod):
    """Input x Gradient: x * dS/dx; raw is its sum over channels, maps its normalized |.|."""

    def traced(self, call, images, indices):
        grads, scores, resolved = input_gradients(self, call.spec, images, indices)
        attributions = each(lambda x, g: x * g, images, grads)
        raw = each(channel_sum, attributions)
        return dict(maps=each(lambda r: minmax(ops.abs(r)), raw), raw=raw, signed=raw,
                    scores=scores, targets=resolved, attributions=attributions)
