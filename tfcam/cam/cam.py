"""CAM (Zhou et al., 2016): w_k = W[k, c] of the Dense layer after global average pooling.

Only defined for a conv -> GlobalAveragePooling2D -> Dense head (Dropout and activations in
between are allowed); GlobalAveragePooling1D/3D for sequence and volume models. The map is
ReLU(sum_k w_k A^k), as in the Grad-CAM family, so that Grad-CAM and CAM agree exactly on
such networks after normalization.

The pooled features may be concatenated with others before the Dense layer (a model with
several inputs, one branch each): w_k is then the kernel row of channel k's place in the
concatenation.
"""

from __future__ import annotations

import keras
from keras import ops

from tfcam import targets
from tfcam.cam.base import weighted_sum
from tfcam.inputs import feeds
from tfcam.method_base import Explainer
from tfcam.registry import register

_PASS_THROUGH = (keras.layers.Dropout, keras.layers.Activation, keras.layers.Identity)
_GLOBAL_AVERAGE_POOLING = {1: keras.layers.GlobalAveragePooling1D,
                           2: keras.layers.GlobalAveragePooling2D,
                           3: keras.layers.GlobalAveragePooling3D}


def find_dense_rows(program, tap):
    """(Dense layer, offset): the Dense layer that scores `tap` through global average
    pooling, and where the pooled channels start among its input features when they are
    concatenated with other features on the way (None when they are not)."""
    pooling = _GLOBAL_AVERAGE_POOLING[len(tap.shape) - 2]  # of the layer's spatial rank
    problem = (
        f"CAM needs the explained layer to feed {pooling.__name__} -> Dense -> output "
        f"(a Concatenate may join the pooled features to others); '{tap.path}' does not"
    )
    consumers = program.consumers(tap.key)
    if len(consumers) != 1 or not isinstance(consumers[0].layer, pooling):
        names = [type(s.layer).__name__ for s in consumers]
        raise ValueError(
            f"{problem} (it feeds {names}). Use method='grad_cam', which equals CAM on such "
            "heads and works on any model."
        )
    step, offset = consumers[0], None
    while True:
        nexts = program.consumers(step.outputs[0])
        if len(nexts) != 1:
            break
        key, step = step.outputs[0], nexts[0]
        if isinstance(step.layer, keras.layers.Concatenate):
            before = _features_before(program, step, key)
            if before is None:
                break
            offset = (offset or 0) + before
            continue
        if isinstance(step.layer, keras.layers.Dense):
            if step.outputs[0] == program.logit_key:
                return step.layer, offset
            break
        if not isinstance(step.layer, _PASS_THROUGH) and step.part != "activation":
            break
    raise ValueError(
        f"{problem}: the pooled features do not go straight into a final Dense layer. "
        "Use method='grad_cam' instead."
    )


def _features_before(program, step, key) -> int | None:
    """How many features come before `key` in a Concatenate of (N, F) features on the last
    axis; None for another concatenation."""
    shapes = [program.shape_of(k) for k in step.inputs]
    axis = step.layer.axis
    if step.inputs.count(key) != 1 or any(len(s) != 2 or s[-1] is None for s in shapes):
        return None
    if axis not in (-1, 1):
        return None
    return sum(s[-1] for s in shapes[: step.inputs.index(key)])


@register("cam")
class CAM(Explainer):

    def __init__(self, model, layer=None, **kwargs):
        super().__init__(model, layer, **kwargs)
        self.dense, self.offset = find_dense_rows(self.program, self.layer_tap)

    def explain_batch(self, call, images, indices):
        if call.spec.is_callable:
            raise ValueError("CAM explains a class index; a callable target needs 'grad_cam'.")
        return super().explain_batch(call, images, indices)

    def traced(self, call, images, indices):
        program, key = self.program, self.layer_tap.key
        offset, channels = self.offset, self.layer_tap.shape[-1]
        env = program.evaluate(feeds(program, images), [key, program.logit_key])
        scores, resolved = targets.scores_and_targets(program, env, call.spec, indices)
        columns = ops.take(self.dense.kernel, resolved, axis=1)
        if offset is not None:  # the layer's rows among the concatenated features
            columns = columns[offset : offset + channels]
        weights = ops.transpose(columns)
        signed = weighted_sum(weights, self.layer_tap.spatial(env[key]))
        raw = ops.relu(signed)
        return dict(maps=call.to_inputs(raw), raw=raw, signed=signed, scores=scores,
                    targets=resolved, channel_weights=weights)
