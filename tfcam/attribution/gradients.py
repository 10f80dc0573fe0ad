"""Gradients of the score with respect to the input, the base of the input-space methods."""

from __future__ import annotations

from keras import ops

from tfcam import backend, targets
from tfcam._maps import minmax
from tfcam.explainer import Explainer, to_numpy


def input_gradients(explainer: Explainer, images, indices):
    """dS/dx (same shape as images), scores and resolved targets; traced in a compiled fn."""
    program, spec = explainer.program, explainer.spec

    def total_score(x):
        env = program.evaluate({program.input_keys[0]: x}, targets.score_keys(program, spec))
        scores, resolved = targets.scores_and_targets(program, env, spec, indices)
        return ops.sum(scores), (scores, resolved)

    _, (scores, resolved), grads = backend.value_and_grad(total_score)(images)
    return grads, scores, resolved


class InputSpaceMethod(Explainer):
    """A method whose map lives at the input's resolution; it ignores `layer`."""

    needs_layer = False

    def __init__(self, model, layer=None, **kwargs):
        super().__init__(model, None, **kwargs)


class Saliency(InputSpaceMethod):
    """Saliency (Simonyan et al., 2014): max over channels of |dS/dx|."""

    method = "saliency"

    def explain_batch(self, images, indices):
        def run(images, indices):
            grads, scores, resolved = input_gradients(self, images, indices)
            raw = ops.max(ops.abs(grads), axis=-1)
            return dict(maps=minmax(raw), raw=raw, scores=scores, targets=resolved,
                        attributions=grads)

        return to_numpy(self.compiled("saliency", run)(images, indices))


class InputXGradient(InputSpaceMethod):
    """Input x Gradient: x * dS/dx; raw is its sum over channels, maps its normalized |.|."""

    method = "input_x_gradient"

    def explain_batch(self, images, indices):
        def run(images, indices):
            grads, scores, resolved = input_gradients(self, images, indices)
            attributions = images * grads
            raw = ops.sum(attributions, axis=-1)
            return dict(maps=minmax(ops.abs(raw)), raw=raw, scores=scores, targets=resolved,
                        attributions=attributions)

        return to_numpy(self.compiled("input_x_gradient", run)(images, indices))
