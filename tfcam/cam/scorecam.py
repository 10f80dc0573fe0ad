"""Score-CAM (Wang et al., 2020).

m_k = Up(A^k); s_k = softmax(f(X * minmax(m_k)))_c; map ReLU(sum_k s_k m_k), then minmax.
Constant channels are skipped; `max_channels=N` keeps the N channels of highest mean
activation (Faster Score-CAM). Masked inputs are evaluated `chunk_size` at a time.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from tfcam import targets
from tfcam._maps import minmax, to_input_resolution, upsample
from tfcam.cam.base import weighted_sum
from tfcam.explainer import Explainer
from tfcam.pairs import select_channels


class ScoreCAM(Explainer):
    method = "scorecam"

    def __init__(self, model, layer=None, *, max_channels: int | None = None,
                 chunk_size: int | None = None, **kwargs):
        super().__init__(model, layer, **kwargs)
        if max_channels is not None and max_channels < 1:
            raise ValueError(f"max_channels must be a positive int or None, got {max_channels}")
        self.max_channels = max_channels
        self.chunk_size = chunk_size

    def explain_batch(self, images, indices):
        program, key, size = self.program, self.tap.key, self.input_size
        spec, input_key = self.spec, self.program.input_keys[0]

        def forward(images, indices):
            env = program.evaluate({input_key: images}, (key, *targets.score_keys(program, spec)))
            scores, resolved = targets.scores_and_targets(program, env, spec, indices)
            acts = ops.cast(env[key], "float32")
            spans = ops.max(acts, axis=(1, 2)) - ops.min(acts, axis=(1, 2))
            return acts, spans, ops.mean(acts, axis=(1, 2)), scores, resolved

        def masked_scores(images, channel_maps, image_idx, channel_idx, indices):
            num_channels = channel_maps.shape[1]
            flat = ops.reshape(channel_maps, (-1, *channel_maps.shape[2:]))
            maps = ops.take(flat, image_idx * num_channels + channel_idx, axis=0)
            masks = minmax(upsample(maps, size))
            masked = ops.take(images, image_idx, axis=0) * masks[..., None]
            env = program.evaluate({input_key: masked}, targets.score_keys(program, spec))
            return targets.class_probabilities(program, env, spec, indices)

        def combine(weights, acts):
            raw = weighted_sum(weights, acts)
            return to_input_resolution(raw, size, relu_after_upsample=True), ops.relu(raw)

        acts, spans, means, scores, resolved = self.compiled("forward", forward)(images, indices)
        resolved = np.asarray(resolved)
        keep = select_channels(np.asarray(spans), np.asarray(means), self.max_channels)
        channel_maps = ops.transpose(acts, (0, 3, 1, 2))
        # Images go to the device once, not once per chunk.
        weights = self.evaluate_pairs("masked_scores", masked_scores, keep, resolved,
                                      images.shape, ops.convert_to_tensor(images), channel_maps)
        maps, raw = self.compiled("combine", combine)(weights, acts)
        return dict(maps=np.asarray(maps), raw=np.asarray(raw), scores=np.asarray(scores),
                    targets=resolved, channel_weights=weights, perturbed_inputs=keep.sum(axis=1))
