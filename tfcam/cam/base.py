"""CAM methods: channel weights of a layer's activations, combined into a map.

A gradient CAM needs the layer's activations `A` (N, h, w, K) and the gradient `g` of the
score with respect to them, both from one forward and one backward pass: the program is run
up to the layer, then the rest of it is differentiated with respect to the layer's output.
"""

from __future__ import annotations

from keras import ops

from tfcam import backend, targets
from tfcam._maps import to_input_resolution
from tfcam.explainer import Explainer, to_numpy


def weighted_sum(weights, activations):
    """sum_k w_k A^k: weights (N, K), activations (N, h, w, K) -> (N, h, w), in float32."""
    return ops.einsum("nk,nhwk->nhw", ops.cast(weights, "float32"),
                      ops.cast(activations, "float32"))


def activations_and_gradients(explainer: Explainer, images, indices, forward=None):
    """A, dS/dA, scores and resolved targets (traced inside a compiled function).

    A and dS/dA come back in float32 whatever the model computes in (mixed precision), so
    channel weights are not summed in bfloat16.

    `forward`: an environment from a forward pass already made on `images` (the values up
    to the layer are reused from it; the rest is recomputed to be differentiated).
    """
    program, key = explainer.program, explainer.tap.key
    input_key = program.input_keys[0]
    if forward is None:
        env = program.evaluate({input_key: images}, [key])
    else:
        before = program.plan(frozenset([input_key]), (key,))
        env = {k: forward[k] for k in (input_key, *(k for s in before for k in s.outputs))}
    spec = explainer.spec

    def total_score(activations):
        tail = program.evaluate({**env, key: activations}, targets.score_keys(program, spec))
        scores, resolved = targets.scores_and_targets(program, tail, spec, indices)
        return ops.sum(scores), (scores, resolved)

    _, (scores, resolved), grads = backend.value_and_grad(total_score)(env[key])
    return ops.cast(env[key], "float32"), ops.cast(grads, "float32"), scores, resolved


class GradientCAM(Explainer):
    """Base for Grad-CAM and its relatives: subclasses give `channel_weights` or `layer_map`."""

    relu = True

    def channel_weights(self, activations, grads):
        """(N, K) weights; return None for methods without per-channel weights."""
        raise NotImplementedError

    def layer_map(self, activations, grads, weights):
        raw = weighted_sum(weights, activations)
        return ops.relu(raw) if self.relu else raw

    def explain_batch(self, images, indices):
        size = self.input_size

        def run(images, indices):
            a, g, scores, resolved = activations_and_gradients(self, images, indices)
            weights = self.channel_weights(a, g)
            raw = self.layer_map(a, g, weights)
            out = dict(maps=to_input_resolution(raw, size), raw=raw, scores=scores,
                       targets=resolved)
            if weights is not None:
                out["channel_weights"] = weights
            return out

        return to_numpy(self.compiled("gradients", run)(images, indices))



class LayerGradients(Explainer):
    """Activations and gradients at a layer, without making a map."""

    method = "layer_gradients"

    def explain_batch(self, images, indices):
        def run(images, indices):
            a, g, scores, resolved = activations_and_gradients(self, images, indices)
            return dict(activations=a, gradients=g, scores=scores, targets=resolved)

        return to_numpy(self.compiled("layer_gradients", run)(images, indices))


def layer_gradients(model, inputs, layer=None, targets=None, batch_size: int = 32):
    """Activations A (N, h, w, K), gradients dS/dA (same shape) and scores (N,) at `layer`.

    The building block of the gradient CAMs, public for analyses such as gradient shattering.
    """
    out = LayerGradients(model, layer, batch_size=batch_size, progress=False).run(inputs, targets)
    return out["activations"], out["gradients"], out["scores"]
