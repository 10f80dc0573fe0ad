"""Canonizers: rewrite the computation (not the model) into a form LRP rules handle well.

`BatchNormFolding` merges each BatchNormalization that directly follows a Dense or
convolution layer into that layer: with `m = γ / sqrt(σ² + ε)`,
`W' = W · m` (per output channel) and `b' = (b − μ) · m + β`. The folded weights are
*values* computed from the layers' variables inside the compiled function: the user's
layers and variables are never modified. In the LRP walk the folded BatchNorm passes
relevance unchanged and the linear layer's rule sees the folded weights; a BatchNorm that
cannot be folded (not right after a linear layer, or the linear layer's output also used
elsewhere, or an activation in between) simply passes relevance through.

`canonized(model)` runs the model with the folded weights, which must give the model's own
outputs (tested to 1e-5).
"""

from __future__ import annotations

import keras
from keras import ops

from tfcam import graph
from tfcam.lrp.linear import is_linear_layer, linear_map


def _batchnorm_scale_shift(bn):
    """(m, shift) with `BN(y) = y · m + shift` at inference."""
    value = ops.convert_to_tensor
    m = ops.rsqrt(value(bn.moving_variance) + bn.epsilon)
    if bn.scale:
        m = m * value(bn.gamma)
    shift = -value(bn.moving_mean) * m
    if bn.center:
        shift = shift + value(bn.beta)
    return m, shift


def _channel_axis_ok(bn, linear_step) -> bool:
    rank = len(linear_step.output_shapes[0])
    axis = bn.axis if isinstance(bn.axis, int) else (bn.axis[0] if len(bn.axis) == 1 else None)
    if axis is None:
        return False
    axis = axis % rank
    layer = linear_step.layer
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
    return axis == (1 if channels_first and rank > 2 else rank - 1)


class BatchNormFolding:
    """Finds (linear step, BatchNorm step) pairs of a program that can be merged."""

    def pairs(self, program: graph.Program) -> dict:
        """{linear step: BatchNorm step} for every foldable pair."""
        found = {}
        for step in program.steps:
            if not isinstance(step.layer, keras.layers.BatchNormalization) or len(step.inputs) != 1:
                continue
            producer = program.producer(step.inputs[0])
            if producer is None or producer.part != "call" or not is_linear_layer(producer.layer):
                continue
            if len(program.consumers(step.inputs[0])) != 1:
                continue
            if step.inputs[0] in program.output_keys or not _channel_axis_ok(step.layer, producer):
                continue
            found[producer] = step
        return found

    @staticmethod
    def folded_map(linear_step, bn_step):
        """The linear step's `LinearMap` with the BatchNorm folded in (current weights)."""
        scale, shift = _batchnorm_scale_shift(bn_step.layer)
        linear = linear_map(linear_step.layer)
        if linear is None:  # `pairs` pairs Dense and convolution layers only
            raise TypeError(f"cannot fold a BatchNormalization into '{linear_step.path}', "
                            "which is no Dense or convolution layer")
        return linear.scaled(scale, shift)


class CanonizedProgram:
    """A program run with BatchNorm folded into the preceding linear layers."""

    def __init__(self, program: graph.Program, canonizer=None):
        self.program = program
        self.canonizer = canonizer or BatchNormFolding()
        self.pairs = self.canonizer.pairs(program)
        self._folded_bn = {bn for bn in self.pairs.values()}

    def evaluate(self, feeds: dict, wants) -> dict:
        env = dict(feeds)
        for step in self.program.plan(frozenset(feeds), tuple(wants)):
            values = [env[k] for k in step.inputs]
            if step in self._folded_bn:
                outputs = values  # already applied by the folded linear layer
            elif step in self.pairs:
                outputs = [self.canonizer.folded_map(step, self.pairs[step])(values[0])]
            else:
                outputs = step(*values)
            env.update(zip(step.outputs, outputs))
        return env

    def __call__(self, inputs):
        program = self.program
        env = self.evaluate(dict(zip(program.input_keys, keras.tree.flatten(inputs))),
                            program.output_keys)
        outputs = [env[k] for k in program.output_keys]
        return outputs[0] if len(outputs) == 1 else outputs


def canonized(model, canonizer=None) -> CanonizedProgram:
    """`model`'s computation with BatchNorm folded: call it like the model (inference mode).

    The model itself is untouched; the folded weights are computed at each call.
    """
    return CanonizedProgram(graph.trace(model), canonizer)
