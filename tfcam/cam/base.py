"""CAM methods: channel weights of a layer's activations, combined into a map.

A gradient CAM needs the layer's activations `A` (N, h, w, K) (or (N, T, K) for sequences,
(N, d, h, w, K) for volumes) and the gradient `g` of the score with respect to them, both
from one forward and one backward pass: the program is run up to the layer, then the rest
of it is differentiated with respect to the layer's output.

On a model with several inputs all of them are fed (a tuple of arrays); `maps` is then a
tuple with the layer map resized to each input of the layer's spatial rank (None for the
others, see `Explainer.to_inputs`), `raw` stays the layer's map.
"""

from __future__ import annotations

from keras import ops

from tfcam import backend, targets
from tfcam._maps import spatial_letters
from tfcam.inputs import feeds
from tfcam.method_base import Explainer


def weighted_sum(weights, activations):
    """sum_k w_k A^k: weights (N, K), activations (N, *spatial, K) -> (N, *spatial), in
    float32 (spatial: (T,), (h, w) or (d, h, w))."""
    axes = spatial_letters(len(activations.shape) - 2)
    return ops.einsum(f"nk,n{axes}k->n{axes}", ops.cast(weights, "float32"),
                      ops.cast(activations, "float32"))


def activations_and_gradients(explainer: Explainer, spec, images, indices, forward=None):
    """A, dS/dA, scores and resolved targets for the targets `spec` (traced inside a
    compiled function).

    A and dS/dA come back in float32 whatever the model computes in (mixed precision), so
    channel weights are not summed in bfloat16.

    `forward`: an environment from a forward pass already made on `images` (the values up
    to the layer are reused from it; the rest is recomputed to be differentiated).
    """
    program, key = explainer.program, explainer.layer_tap.key
    input_keys = program.input_keys
    if forward is None:
        env = program.evaluate(feeds(program, images), [key])
    else:
        before = program.plan(frozenset(input_keys), (key,))
        env = {k: forward[k] for k in (*input_keys, *(k for s in before for k in s.outputs))}

    def total_score(activations):
        tail = program.evaluate({**env, key: activations}, targets.score_keys(program, spec))
        scores, resolved = targets.scores_and_targets(program, tail, spec, indices)
        return ops.sum(scores), (scores, resolved)

    _, (scores, resolved), grads = backend.value_and_grad(total_score)(env[key])
    tap = explainer.layer_tap  # a token layer: both on its grid
    return (ops.cast(tap.spatial(env[key]), "float32"), ops.cast(tap.spatial(grads), "float32"),
            scores, resolved)


def layer_activations(explainer: Explainer, spec, images, indices):
    """A (float32), scores and resolved targets from the forward pass alone (traced)."""
    program, key = explainer.program, explainer.layer_tap.key
    env = program.evaluate(feeds(program, images), (key, *targets.score_keys(program, spec)))
    scores, resolved = targets.scores_and_targets(program, env, spec, indices)
    return ops.cast(explainer.layer_tap.spatial(env[key]), "float32"), scores, resolved


class GradientCAM(Explainer):
    """Base for Grad-CAM and its relatives: subclasses give `channel_weights` or `layer_map`.

    `uses_gradients = False`: only the forward pass to the layer (and the score) runs, no
    backward pass; the hooks then get `grads=None`.
    """

    relu = True
    uses_gradients = True

    def channel_weights(self, activations, grads):
        """(N, K) weights; return None for methods without per-channel weights."""
        raise NotImplementedError

    def layer_map(self, activations, grads, weights):
        """The signed map (N, *spatial), before the ReLU: sum_k w_k A^k by default."""
        return weighted_sum(weights, activations)

    def traced(self, call, images, indices):
        if self.uses_gradients:
            a, g, scores, resolved = activations_and_gradients(self, call.spec, images, indices)
        else:
            (a, scores, resolved), g = layer_activations(self, call.spec, images, indices), None
        weights = self.channel_weights(a, g)
        signed = self.layer_map(a, g, weights)
        raw = ops.relu(signed) if self.relu else signed
        out = dict(maps=call.to_inputs(raw), raw=raw, signed=signed, scores=scores,
                   targets=resolved)
        if weights is not None:
            out["channel_weights"] = weights
        return out


class LayerGradients(Explainer):
    """Activations and gradients at a layer, without making a map."""

    method = "layer_gradients"

    def traced(self, call, images, indices):
        a, g, scores, resolved = activations_and_gradients(self, call.spec, images, indices)
        return dict(activations=a, gradients=g, scores=scores, targets=resolved)


def layer_gradients(model, inputs, layer=None, targets=None, batch_size: int = 32):
    """Activations A (N, h, w, K), gradients dS/dA (same shape) and scores (N,) at `layer`
    ((N, T, K) for sequences, (N, d, h, w, K) for volumes).

    The building block of the gradient CAMs, public for analyses such as gradient shattering.
    """
    out = LayerGradients(model, layer, batch_size=batch_size, progress=False).run(inputs, targets)
    return out["activations"], out["gradients"], out["scores"]
