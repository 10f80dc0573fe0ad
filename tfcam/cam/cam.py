"""CAM (Zhou et al., 2016): w_k = W[k, c] of the Dense layer after global average pooling.

Only defined for a conv -> GlobalAveragePooling2D -> Dense head (Dropout and activations in
between are allowed). The map is ReLU(sum_k w_k A^k), as in the Grad-CAM family, so that
Grad-CAM and CAM agree exactly on such networks after normalization.
"""

from __future__ import annotations

import keras
from keras import ops

from tfcam import targets
from tfcam._maps import to_input_resolution
from tfcam.cam.base import weighted_sum
from tfcam.explainer import Explainer, to_numpy

_PASS_THROUGH = (keras.layers.Dropout, keras.layers.Activation, keras.layers.Identity)


def find_dense_head(program, tap):
    """The Dense layer that scores `tap` through global average pooling, or a clear error."""
    problem = (
        f"CAM needs the explained layer to feed GlobalAveragePooling2D -> Dense -> output; "
        f"'{tap.path}' does not"
    )
    consumers = program.consumers(tap.key)
    if len(consumers) != 1 or not isinstance(
        consumers[0].layer, keras.layers.GlobalAveragePooling2D
    ):
        names = [type(s.layer).__name__ for s in consumers]
        raise ValueError(
            f"{problem} (it feeds {names}). Use method='gradcam', which equals CAM on such "
            "heads and works on any model."
        )
    step = consumers[0]
    while True:
        nexts = program.consumers(step.outputs[0])
        if len(nexts) != 1:
            break
        step = nexts[0]
        if isinstance(step.layer, keras.layers.Dense):
            if step.outputs[0] == program.logit_key:
                return step.layer
            break
        if not isinstance(step.layer, _PASS_THROUGH) and step.part != "activation":
            break
    raise ValueError(
        f"{problem}: the pooled features do not go straight into a final Dense layer. "
        "Use method='gradcam' instead."
    )


class CAM(Explainer):
    method = "cam"

    def __init__(self, model, layer=None, **kwargs):
        super().__init__(model, layer, **kwargs)
        self.dense = find_dense_head(self.program, self.tap)

    def explain_batch(self, images, indices):
        if self.spec.is_callable:
            raise ValueError("CAM explains a class index; a callable target needs 'gradcam'.")
        program, key, size = self.program, self.tap.key, self.input_size

        def run(images, indices):
            env = program.evaluate({program.input_keys[0]: images}, [key, program.logit_key])
            scores, resolved = targets.scores_and_targets(program, env, self.spec, indices)
            weights = ops.transpose(ops.take(self.dense.kernel, resolved, axis=1))
            raw = ops.relu(weighted_sum(weights, env[key]))
            return dict(maps=to_input_resolution(raw, size), raw=raw, scores=scores,
                        targets=resolved, channel_weights=weights)

        return to_numpy(self.compiled("cam", run)(images, indices))
