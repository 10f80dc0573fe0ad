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
from tfcam.inputs import feeds
from tfcam.perturbation import Pairs, PerturbationMethod
from tfcam.registry import register


@register("ablation_cam", aliases=("ablationcam",))
class AblationCAM(PerturbationMethod):
    pair_name = "ablated_scores"

    def _tail_inputs(self, spec, head_keys):
        """Keys computed before the layer that the rest of the model reads."""
        wants = targets.score_keys(self.program, spec)
        steps = self.program.plan(frozenset(head_keys), tuple(wants))
        return sorted({k for s in steps for k in s.inputs if k in head_keys})

    def forward(self, call, images, indices):
        program, key, spec = self.program, self.layer_tap.key, call.spec
        input_keys = program.input_keys
        head_steps = program.plan(frozenset(input_keys), (key,))
        head_keys = {*input_keys, *(k for s in head_steps for k in s.outputs)}
        env = program.evaluate(feeds(program, images), (key, *targets.score_keys(program, spec)))
        scores, resolved = targets.scores_and_targets(program, env, spec, indices)
        head = {k: env[k] for k in self._tail_inputs(spec, head_keys)}
        return {"head": head, "scores": scores, "targets": resolved}

    def pairs(self, call, images, forward, part):
        head = forward["head"]
        acts = head[self.layer_tap.key]
        keep = np.ones((acts.shape[0], acts.shape[-1]), dtype=bool)
        return Pairs(keep, (head,))

    def perturbed(self, call, part, head, image_idx, channel_idx, indices):
        program, key, spec = self.program, self.layer_tap.key, call.spec
        feeds = {k: ops.take(v, image_idx, axis=0) for k, v in head.items()}
        acts = feeds[key]
        keep = 1.0 - ops.one_hot(channel_idx, acts.shape[-1], dtype=acts.dtype)
        # (P, K) -> (P, 1, .., 1, K): one multiplier per channel at every position
        per_position = (-1, *[1] * (len(acts.shape) - 2), acts.shape[-1])
        feeds[key] = acts * ops.reshape(keep, per_position)
        env = program.evaluate(feeds, targets.score_keys(program, spec))
        return targets.scores_and_targets(program, env, spec, indices)[0]

    def pair_values(self, ablated, forward):
        # On the host, in numpy's float32 (a compiled division may round differently).
        scores = np.asarray(forward["scores"])
        safe = np.where(scores == 0, 1e-12, scores)[:, None]
        return ((scores[:, None] - ablated) / safe).astype("float32")

    def combine(self, call, part, weights, forward):
        tap = self.layer_tap
        signed = weighted_sum(weights, tap.spatial(forward["head"][tap.key]))
        raw = ops.relu(signed)
        return {"maps": call.to_inputs(raw), "raw": raw, "signed": signed,
                "channel_weights": weights}
