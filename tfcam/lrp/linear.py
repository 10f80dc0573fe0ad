"""The linear map of a Dense or convolution layer, with weights that a rule may replace.

LRP rules modify a layer's weights (`w⁺`, `w + γw⁺`, `w²`, ...) without touching the user's
layer: they call the layer's linear operation explicitly with the modified kernel. A
`LinearMap` is that operation, `y = op(x, kernel) + bias`, for:

* `Dense` (`ops.matmul` on the last axis),
* `Conv1D/2D/3D` (`ops.conv` with the layer's strides, padding incl. "causal", dilation and
  groups),
* `DepthwiseConv1D/2D` (`ops.depthwise_conv`),
* `SeparableConv1D/2D`, as one convolution with the *effective* kernel
  `K[..., i, o] = Σ_m depthwise[..., i, m] · pointwise[i·M + m, o]`, so that a rule acts on the
  weights that actually connect inputs to outputs (ρ of the two factors is not ρ of the
  product).

Kernels are read when `linear_map` is called; call it inside the compiled function so that
the current weights are used (on JAX the compiled function maps variables to values).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
from keras import ops

DENSE = (keras.layers.Dense,)
CONVOLUTIONS = (
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
    keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
)
LINEAR_LAYERS = DENSE + CONVOLUTIONS


@dataclasses.dataclass
class LinearMap:
    """`y = op(x, kernel) + bias`; `bias` is None for layers without one.

    `channel_axis` is the output axis the bias (and a folded BatchNorm) broadcasts along.
    `kernel_channels` maps a per-output-channel vector (C_out,) to the kernel's shape, for
    scaling the kernel by output channel.
    """

    op: Callable
    kernel: object
    bias: object
    channel_axis: int
    kernel_channels: Callable

    def __call__(self, x, kernel=None, bias=None):
        """The map with `kernel` and `bias` (the layer's own where None is passed)."""
        y = self.op(x, self.kernel if kernel is None else kernel)
        return self.add_bias(y, self.bias if bias is None else bias)

    def add_bias(self, y, bias):
        if bias is None:
            return y
        shape = [1] * len(y.shape)
        shape[self.channel_axis] = -1
        return y + ops.reshape(bias, shape)

    def scaled(self, scale, shift):
        """The map followed by `y * scale + shift` per output channel (BatchNorm folding)."""
        kernel = self.kernel * self.kernel_channels(scale)
        bias = shift if self.bias is None else self.bias * scale + shift
        return dataclasses.replace(self, kernel=kernel, bias=bias)


def is_linear_layer(layer) -> bool:
    return isinstance(layer, LINEAR_LAYERS)


def linear_map(layer) -> LinearMap | None:
    """The `LinearMap` of a Dense or convolution layer (current weights), else None."""
    if isinstance(layer, keras.layers.Dense):
        return LinearMap(ops.matmul, _value(layer.kernel), _bias(layer), -1, lambda v: v)
    if not isinstance(layer, CONVOLUTIONS):
        return None
    channel_axis = -1 if layer.data_format == "channels_last" else 1
    if isinstance(layer, (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)):
        kernel = _effective_separable_kernel(_value(layer.depthwise_kernel),
                                             _value(layer.pointwise_kernel))
        return LinearMap(_conv_op(layer), kernel, _bias(layer), channel_axis, lambda v: v)
    if isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
        kernel = _value(layer.kernel)  # (*k, C_in, M); output channel i*M + m

        def channels(v):
            return ops.reshape(v, tuple(kernel.shape[-2:]))

        return LinearMap(_depthwise_op(layer), kernel, _bias(layer), channel_axis, channels)
    return LinearMap(_conv_op(layer), _value(layer.kernel), _bias(layer), channel_axis,
                     lambda v: v)


def _value(variable):
    """A variable's current value as a tensor (on JAX: the compiled function's value)."""
    return ops.convert_to_tensor(variable)


def _bias(layer):
    if not getattr(layer, "use_bias", True) or layer.bias is None:
        return None
    return _value(layer.bias)


def _causal(layer, x):
    """Conv1D's "causal" padding: pad the start of the time axis, then a valid conv."""
    left = layer.dilation_rate[0] * (layer.kernel_size[0] - 1)
    pad = [[0, 0], [left, 0], [0, 0]] if layer.data_format == "channels_last" else [
        [0, 0], [0, 0], [left, 0]]
    return ops.pad(x, pad)


def _conv_op(layer):
    def op(x, kernel):
        padding = layer.padding
        if padding == "causal":
            x, padding = _causal(layer, x), "valid"
        return ops.conv(x, kernel, strides=list(layer.strides), padding=padding,
                        dilation_rate=layer.dilation_rate, data_format=layer.data_format)

    return op


def _depthwise_op(layer):
    def op(x, kernel):
        padding = layer.padding
        if padding == "causal":
            x, padding = _causal(layer, x), "valid"
        return ops.depthwise_conv(x, kernel, strides=layer.strides, padding=padding,
                                  dilation_rate=layer.dilation_rate,
                                  data_format=layer.data_format)

    return op


def _effective_separable_kernel(depthwise, pointwise):
    """(*k, C_in, M) and (1.., C_in*M, C_out) -> the (*k, C_in, C_out) kernel of the pair."""
    *spatial, c_in, m = depthwise.shape
    c_out = pointwise.shape[-1]
    pointwise = ops.reshape(pointwise, (c_in, m, c_out))
    return ops.einsum("...im,imo->...io", depthwise, pointwise)
