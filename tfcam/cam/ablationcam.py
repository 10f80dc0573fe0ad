"""Ablation-CAM (Desai & Ramaswamy, 2020): w_k = (S^c - S^c_{A^k=0}) / S^c.

The rest of the model after the layer is run once per (image, channel) with that channel
zeroed, `chunk_size` ablations at a time; the part before the layer runs once per image.
On a model with several inputs, the other inputs' branches are fed to the rest of the model
with each ablation (recomputed from those inputs where the rest of the model reads them).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from tfcam import targets
from tfcam.cam.base import weighted_sum
from tfcam.explainer import Explainer, as_numpy
from tfcam.inputs import batch_shape, feeds


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
        program, key, spec = self.program, self.tap.key, self.spec
        input_keys = program.input_keys
        head_steps = program.plan(frozenset(input_keys), (key,))
        head_keys = {*input_keys, *(k for s in head_steps for k in s.outputs)}
        tail_inputs = self._tail_inputs(head_keys)

        def forward(images, indices):
            wants = (key, *targets.score_keys(program, spec))
            env = program.evaluate(feeds(program, images), wants)
            scores, resolved = targets.scores_and_targets(program, env, spec, indices)
            return {k: env[k] for k in tail_inputs}, scores, resolved

        def ablated_scores(head, image_idx, channel_idx, indices):
            feeds = {k: ops.take(v, image_idx, axis=0) for k, v in head.items()}
            acts = feeds[key]
            keep = 1.0 - ops.one_hot(channel_idx, acts.shape[-1], dtype=acts.dtype)
            # (P, K) -> (P, 1, .., 1, K): one multiplier per channel at every position
            per_position = (-1, *[1] * (len(acts.shape) - 2), acts.shape[-1])
            feeds[key] = acts * ops.reshape(keep, per_position)
            env = program.evaluate(feeds, targets.score_keys(program, spec))
            return targets.scores_and_targets(program, env, spec, indices)[0]

        def combine(weights, acts):
            raw = ops.relu(weighted_sum(weights, acts))
            return self.to_inputs(raw), raw

        head, scores, resolved = self.compiled("forward", forward)(images, indices)
        resolved, scores = np.asarray(resolved), np.asarray(scores)
        keep = np.ones((len(resolved), head[key].shape[-1]), dtype=bool)
        ablated = self.evaluate_pairs("ablated_scores", ablated_scores, keep, resolved,
                                      batch_shape(images), head)
        safe = np.where(scores == 0, 1e-12, scores)[:, None]
        weights = ((scores[:, None] - ablated) / safe).astype("float32")
        maps, raw = self.compiled("combine", combine)(weights, head[key])
        return dict(maps=as_numpy(maps), raw=np.asarray(raw), scores=scores,
                    targets=resolved, channel_weights=weights, perturbed_inputs=keep.sum(axis=1))
