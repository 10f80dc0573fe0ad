"""LRP as an explainer: relevance to the input (`LRP`) or at any layer (`relevance_at`).

`LRP(model, composite="epsilon_plus", start="one_hot")`:
    relevance / attributions: (N, H, W, C) input relevance ((N, T, C) for sequences,
    (N, D, H, W, C) for volumes);
    raw: (N, H, W) relevance summed over channels (signed);
    maps: minmax of the positive part of raw (positive evidence in [0, 1]; the negative
    evidence is in raw and relevance).
One forward pass and one backward walk per batch, compiled together.

A model with several inputs: the walk reaches every input; relevance, attributions, raw and
maps are tuples (lists in the Explanation), one per input; an input without spatial axes,
(N, F), keeps its features: raw (N, F).
"""

from __future__ import annotations

from keras import ops

from tfcam._maps import channel_sum, minmax
from tfcam.graph import Program
from tfcam.inputs import each
from tfcam.lrp import composites
from tfcam.lrp.start import check_start, seeds
from tfcam.lrp.walk import Walk
from tfcam.method_base import Explainer, InputSpaceMethod
from tfcam.registry import register


def make_walk(explainer: RelevanceWalker, composite, stop=None, callable_target=False) -> Walk:
    program = explainer.program
    seed_keys = program.output_keys if callable_target else (program.logit_key,)
    return Walk(program, composite, stop, seed_keys)


class RelevanceWalker:
    """Mixin: a Walk per target kind (class targets start at the logits, callables at the
    outputs), built on first use."""

    program: Program  # the explainer's this mixin is combined with (`Explainer`)
    composite: composites.Composite | None = None
    start = "one_hot"
    gradient_walk = False

    def plan_walk(self, composite, start: str, stop=None) -> None:
        """Set the composite and start, and plan the walk now, so that an unsupported
        layer fails when the explainer is made, not on the first batch."""
        self.composite = composites.get(composite)
        self.start = check_start(start)
        self._walks = {(stop, False): make_walk(self, self.composite, stop)}

    def _walk(self, stop, callable_target: bool) -> Walk:
        key = (stop, callable_target)
        if key not in self._walks:
            self._walks[key] = make_walk(self, self.composite, stop, callable_target)
        return self._walks[key]

    def relevance_pass(self, spec, images, indices, stop=None):
        """(env, relevance at `stop`, scores, resolved targets) for the targets `spec`,
        traced in a compiled fn.

        Without `stop` the relevance is at the input, a tuple with one per input for a model
        with several."""
        walk = self._walk(stop, spec.is_callable)
        env = walk.forward(images)
        start_at, scores, resolved = seeds(
            self.program, env, spec, indices, self.start, gradient=self.gradient_walk)
        if len(walk.stops) > 1:
            found = walk.backward(env, start_at)
            return env, tuple(found[k] for k in walk.stops), scores, resolved
        return env, walk.relevance(env, start_at), scores, resolved


@register("lrp")
class LRP(RelevanceWalker, InputSpaceMethod):
    """Layer-wise Relevance Propagation to the input."""

    def __init__(self, model, layer=None, *, composite="epsilon_plus", start: str = "one_hot",
                 **kwargs):
        super().__init__(model, None, **kwargs)
        self.plan_walk(composite, start)

    def traced(self, call, images, indices):
        _, relevance, scores, resolved = self.relevance_pass(call.spec, images, indices)
        raw = each(channel_sum, relevance)
        return dict(maps=each(lambda r: minmax(ops.relu(r)), raw), raw=raw, signed=raw,
                    scores=scores, targets=resolved, attributions=relevance,
                    relevance=relevance)


class LayerRelevance(RelevanceWalker, Explainer):
    """Activations and LRP relevance at a layer, without making a map."""

    method = "layer_relevance"

    def __init__(self, model, layer=None, *, composite="relevance_cam", start: str = "clrp",
                 **kwargs):
        super().__init__(model, layer, **kwargs)
        self.plan_walk(composite, start, self.layer_tap.key)

    def traced(self, call, images, indices):
        env, relevance, scores, resolved = self.relevance_pass(call.spec, images, indices,
                                                               self.layer_tap.key)
        spatial = self.layer_tap.spatial  # a token layer: on its grid, as layer_gradients gives
        return dict(activations=spatial(env[self.layer_tap.key]), relevance=spatial(relevance),
                    scores=scores, targets=resolved)


def relevance_at(model, inputs, layer=None, targets=None, composite="relevance_cam",
                 start: str = "clrp", batch_size: int = 32):
    """Activations A (N, h, w, K), LRP relevance R at `layer` (same shape) and scores (N,)
    ((N, t, K) for sequences, (N, d, h, w, K) for volumes).

    The counterpart of `tfcam.layer_gradients` for relevance (e.g. gradient shattering
    analyses): Relevance-CAM's channel weights are `R.sum(axis=(1, 2))` (all spatial axes).
    """
    explainer = LayerRelevance(model, layer, composite=composite, start=start,
                               batch_size=batch_size, progress=False)
    out = explainer.run(inputs, targets)
    return out["activations"], out["relevance"], out["scores"]
