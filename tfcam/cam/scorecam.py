"""Score-CAM (Wang et al., 2020).

m_k = Up(A^k); s_k = softmax(f(X * minmax(m_k)))_c; map ReLU(sum_k s_k m_k), then minmax.
Constant channels are skipped; `max_channels=N` keeps the N channels of highest mean
activation (Faster Score-CAM). Masked inputs are evaluated `chunk_size` at a time.

On a model with several inputs one input is masked, the others go in unchanged: the input
chosen with `input=`, by default the first input with the layer's spatial rank.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from tfcam import targets
from tfcam._maps import minmax, spatial_axes, upsample
from tfcam.cam.base import weighted_sum
from tfcam.inputs import each, feeds
from tfcam.pairs import select_channels
from tfcam.perturbation import Pairs, PerturbationMethod
from tfcam.registry import register


@register("score_cam", aliases=("scorecam",))
class ScoreCAM(PerturbationMethod):
    pair_name = "masked_scores"

    def __init__(self, model, layer=None, *, max_channels: int | None = None,
                 chunk_size: int | None = None, **kwargs):
        super().__init__(model, layer, chunk_size=chunk_size, **kwargs)
        if max_channels is not None and max_channels < 1:
            raise ValueError(f"max_channels must be a positive int or None, got {max_channels}")
        self.max_channels = max_channels

    def forward(self, images, indices):
        program, spec = self.program, self.spec
        env = program.evaluate(feeds(program, images),
                               (self.tap.key, *targets.score_keys(program, spec)))
        scores, resolved = targets.scores_and_targets(program, env, spec, indices)
        acts = ops.cast(env[self.tap.key], "float32")
        axes = spatial_axes(acts)
        spans = ops.max(acts, axis=axes) - ops.min(acts, axis=axes)
        return {"acts": acts, "spans": spans, "means": ops.mean(acts, axis=axes),
                "scores": scores, "targets": resolved}

    def pairs(self, images, forward, part):
        keep = select_channels(np.asarray(forward["spans"]), np.asarray(forward["means"]),
                               self.max_channels)
        channel_maps = ops.moveaxis(forward["acts"], -1, 1)  # (N, K, *spatial): a map each
        # Images go to the device once, not once per chunk.
        return Pairs(keep, (each(ops.convert_to_tensor, images), channel_maps))

    def perturbed(self, part, images, channel_maps, image_idx, channel_idx, indices):
        program, spec = self.program, self.spec
        several = isinstance(images, tuple)
        masked_input = self.map_inputs[0]  # input=, or the first of the layer's rank
        size = self.input_size[masked_input] if several else self.input_size
        num_channels = channel_maps.shape[1]
        flat = ops.reshape(channel_maps, (-1, *channel_maps.shape[2:]))
        maps = ops.take(flat, image_idx * num_channels + channel_idx, axis=0)
        masks = minmax(upsample(maps, size))
        if several:
            masked = tuple(ops.take(x, image_idx, axis=0) for x in images)
            masked = (*masked[:masked_input], masked[masked_input] * masks[..., None],
                      *masked[masked_input + 1:])
        else:
            masked = ops.take(images, image_idx, axis=0) * masks[..., None]
        env = program.evaluate(feeds(program, masked), targets.score_keys(program, spec))
        return targets.class_probabilities(program, env, spec, indices)

    def combine(self, part, weights, forward):
        raw = weighted_sum(weights, forward["acts"])
        return {"maps": self.to_inputs(raw, relu_after_upsample=True), "raw": ops.relu(raw),
                "channel_weights": weights}
