"""Ablation-CAM (Desai & Ramaswamy, 2020): w_k = (S^c - S^c_{A^k=0}) / S^c.

The rest of the model after the layer is run once per (image, channel) with that channel
zeroed, `chunk_size` ablations at a time; the part before the layer runs once per image.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from tfcam import targets
from tfcam._maps import to_input_resolution
from tfcam.cam.base import weighted_sum
from tfcam.explainer import Explainer


class AblationCAM(Explainer):
    method = "ablationcam"

    def __init__(self, model, layer=None, *, chunk_size: int | None = None, **kwargs):
        super().__init__(model, layer, **kwargs)
        self.chunk_size = chunk_size

    def _tail_inputs(self, head_keys):
        """Keys computed before the layer that the rest of the model reads."""
        wants = targets.score_keys(self.program, self.spec)
        steps = self.program.plan(frozenset(head_keys), tuple(wants))
        return sorted({k for s in steps for k in s.inputs if k in head_keys})

    def explain_batch(self, images, indices):
        program, key, size, spec = self.program, self.tap.key, self.input_size, self.spec
        input_key = program.input_keys[0]
        head_steps = program.plan(frozenset([input_key]), (key,))
        head_keys = {input_key, *(k for s in head_steps for k in s.outputs)}
        tail_inputs = self._tail_inputs(head_keys)

        def forward(images, indices):
            env = program.evaluate({input_key: images}, (key, *targets.score_keys(program, spec)))
            scores, resolved = targets.scores_and_targets(program, env, spec, indices)
            return {k: env[k] for k in tail_inputs}, scores, resolved

        def ablated_scores(head, image_idx, channel_idx, indices):
            feeds = {k: ops.take(v, image_idx, axis=0) for k, v in head.items()}
            keep = 1.0 - ops.one_hot(channel_idx, feeds[key].shape[-1], dtype=feeds[key].dtype)
            feeds[key] = feeds[key] * keep[:, None, None, :]
            env = program.evaluate(feeds, targets.score_keys(program, spec))
            return targets.scores_and_targets(program, env, spec, indices)[0]

        def combine(weights, acts):
            raw = ops.relu(weighted_sum(weights, acts))
            return to_input_resolution(raw, size), raw

        head, scores, resolved = self.compiled("forward", forward)(images, indices)
        resolved, scores = np.asarray(resolved), np.asarray(scores)
        keep = np.ones((len(images), head[key].shape[-1]), dtype=bool)
        ablated = self.evaluate_pairs("ablated_scores", ablated_scores, keep, resolved,
                                      images.shape, head)
        safe = np.where(scores == 0, 1e-12, scores)[:, None]
        weights = ((scores[:, None] - ablated) / safe).astype("float32")
        maps, raw = self.compiled("combine", combine)(weights, head[key])
        return dict(maps=np.asarray(maps), raw=np.asarray(raw), scores=scores,
                    targets=resolved, channel_weights=weights, perturbed_inputs=keep.sum(axis=1))
