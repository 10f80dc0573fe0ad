"""LRP rules: how one layer hands the relevance of its outputs down to its inputs.

Every rule is an object with

    relevance_in(site, inputs, outputs, relevance_out) -> [relevance of each input]

where `site` is the step of the traced graph being walked (`site.layer`, `site.path`,
`site.linear`: the layer's `LinearMap` with BatchNorm folded in when canonized, or None for
a layer without weights, `site.forward(*inputs)`: the step's own computation), `inputs` and
`outputs` the tensors recorded in the forward pass and `relevance_out` one tensor per output.
Rules are written with `keras.ops` and `tfcam.backend.vjp`, so they trace into one compiled
function on TensorFlow and JAX.

The weight rules use the gradient trick (Montavon et al., 2019): with `z = ε + ρ(layer)(a)`
and `s = R / z` held constant, `c = vjp(ρ(layer), a)(s)` and `R_in = a ⊙ c`: one
vector-Jacobian product per term.

| rule | relevance |
|---|---|
| `Zero()` (LRP-0) | ρ = identity; `1e-9·sign(z)` against division by zero |
| `Epsilon(ε)` | `ε·sign(z)` added to z |
| `Gamma(γ)` | weights and bias `w + γ w⁺` |
| `AlphaBeta(α, β)` | `α (aw)⁺/Σ(aw)⁺ − β (aw)⁻/Σ(aw)⁻` (bias parts in their sums), α − β = 1 |
| `ZPlus()` | α=1, β=0 without bias: positive contributions only |
| `ZBox(low, high)` | z^B for the input layer: `z = Wx − W⁺l − W⁻h` |
| `Flat()` / `WSquare()` | weights replaced by 1 / by `w²`, inputs ignored |
| `Pass()` | relevance unchanged (activations, BatchNorm, Dropout, preprocessing) |
| `Gradient()` | `vjp(op)(R)`: reshaping ops, slicing (Concatenate), padding, and gradients |
| `WinnerTakesAll()` | max pooling: all relevance to the maximum (the gradient of max) |
| `Proportional()` | `R_i = x_i ⊙ vjp(op)(R / z)`: average pooling, Add, any linear op |
| `AbsProportional()` | `R_i = |x_i| / Σ_j |x_j| · R`: sums whose inputs may cancel (the presets' Add) |
| `GuidedReLU()` / `DeconvReLU()` | Guided Backprop / Deconvnet backward passes through ReLU |
| `GatedProduct()` | `signal ⊙ gate` (squeeze-and-excitation, hard-swish): all to the signal, gates held constant |
| `ConstantNormalizer(ε)` | LayerNormalization, GroupNormalization: ε-LRP, σ held constant (LN-rule) |
| `ConstantAttention(ε)` | MultiHeadAttention: ε-LRP through the values, attention held constant (AH-rule) |

`Epsilon`, `Zero` and `Proportional` also work on layers without a `LinearMap` (they use the
layer's own computation, bias included), which makes them the one-line choice for a custom
layer that computes a (piecewise) linear function of its inputs.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
from keras import ops

from tfcam import backend

TINY = 1e-9  # the LRP-0 stabilizer: only guards against division by zero


def stabilize(z, epsilon):
    """`z + ε·sign(z)`, with sign(0) = +1, so the result is never 0 for ε > 0."""
    return z + epsilon * ops.where(z >= 0, 1.0, -1.0)


def _single(values, site, rule):
    if len(values) != 1:
        raise ValueError(
            f"{type(rule).__name__} handles layers with one input and one output; "
            f"'{site.path}' ({type(site.layer).__name__}) has {len(values)}."
        )
    return values[0]


def as_float32(x):
    """`x` in float32: relevance is propagated in float32 also through a mixed-precision
    model (whose layers compute, and record, bfloat16 or float16)."""
    low_precision = keras.backend.standardize_dtype(x.dtype) in ("bfloat16", "float16")
    return ops.cast(x, "float32") if low_precision else x


def _forward(site, n_outputs):
    """The step's computation as a function of its inputs (a tensor for one output), with
    float32 outputs (see `as_float32`)."""
    if n_outputs == 1:
        return lambda *xs: as_float32(site.forward(*xs)[0])
    return lambda *xs: [as_float32(y) for y in site.forward(*xs)]


def _cotangent(values):
    return values[0] if len(values) == 1 else list(values)


def _pos(x):
    return ops.maximum(x, 0.0)


def _neg(x):
    return ops.minimum(x, 0.0)


class Rule:
    """Base class: override `relevance_in` (and `check`, to refuse a site when the walk is
    planned, before anything runs)."""

    def relevance_in(self, site, inputs, outputs, relevance_out) -> list:
        raise NotImplementedError

    def check(self, site) -> None:
        """Raise a ValueError when this rule cannot handle `site` (at planning time)."""

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


# ------------------------------------------------------------------- generic rules
class Pass(Rule):
    """Relevance passes unchanged (same shape in and out): activations, BN, Dropout, ..."""

    def relevance_in(self, site, inputs, outputs, relevance_out):
        _single(inputs, site, self)
        return [_single(relevance_out, site, self)]


class GatedProduct(Rule):
    """Signal-take-all for products of a signal and gates (Arras et al., 2017, for LSTM
    gates; squeeze-and-excitation, hard-swish `x * hard_sigmoid(x)`, attention gates): the
    gates are held constant, so all relevance goes to the signal (summed over the axes it
    was broadcast along) and none to the gates. Conserves relevance.

    `site.gates` says which inputs are gates (`tfcam.lrp.walk`: an input computed from
    another input of the product, or the output of a sigmoid-like activation); exactly one
    input must be the signal. A product of one tensor and constants is linear: all
    relevance to that tensor.
    """

    def check(self, site) -> None:
        signals = [i for i, gate in enumerate(site.gates) if not gate]
        if len(signals) != 1:
            raise ValueError(
                f"LRP's gated-product rule needs one signal and gates at '{site.path}' "
                f"({type(site.layer).__name__} of {len(site.gates)} inputs), but "
                f"{len(signals)} of them are neither computed from another input of the "
                "product nor the output of a sigmoid. Register a rule for this layer with "
                "tfcam.lrp.register_rule (tfcam.lrp.rules.Epsilon() treats it as linear in "
                "each input)."
            )

    def relevance_in(self, site, inputs, outputs, relevance_out):
        r = _single(relevance_out, site, self)
        return [ops.zeros_like(x) if gate else _unbroadcast(r, x.shape)
                for x, gate in zip(inputs, site.gates)]


def _unbroadcast(r, shape):
    """`r` summed over the axes an input of `shape` was broadcast along."""
    shape = tuple(shape)
    extra = len(r.shape) - len(shape)
    if extra:
        r = ops.sum(r, axis=tuple(range(extra)))
    axes = tuple(i for i, (n, m) in enumerate(zip(shape, r.shape)) if n == 1 and m != 1)
    return ops.sum(r, axis=axes, keepdims=True) if axes else r


class ConstantNormalizer(Rule):
    """The LN-rule (Ali et al., ICML 2022): LayerNormalization and GroupNormalization with
    their standard deviation held constant are affine, `y = γ (x − mean x) / σ + β`, and
    relevance goes through that map by LRP-ε (β absorbs its share, as a bias does).
    Conserves relevance when β = 0. RMS scaling (`rms_scaling=True`) and
    UnitNormalization scale each element by a constant: relevance passes unchanged.
    """

    def __init__(self, epsilon: float = 1e-6):
        self.epsilon = float(epsilon)

    def check(self, site) -> None:
        if not isinstance(site.layer, (keras.layers.LayerNormalization,
                                       keras.layers.GroupNormalization)):
            raise ValueError(
                f"ConstantNormalizer handles LayerNormalization and GroupNormalization; "
                f"'{site.path}' is a {type(site.layer).__name__}.")

    def relevance_in(self, site, inputs, outputs, relevance_out):
        x, r = _single(inputs, site, self), _single(relevance_out, site, self)
        layer = site.layer
        if getattr(layer, "rms_scaling", False):
            return [r]
        normalize = (_group_norm if isinstance(layer, keras.layers.GroupNormalization)
                     else _layer_norm)(layer, x)
        z, pullback = backend.vjp(normalize, x)
        (c,) = pullback(r / stabilize(z, self.epsilon))
        return [x * c]


def _layer_norm(layer, x):
    """LayerNormalization of `x` as an affine function, 1/σ read from `x` now (constant)."""
    axes = [a % len(x.shape) for a in layer.axis]
    inverse = ops.rsqrt(ops.var(x, axis=axes, keepdims=True) + layer.epsilon)
    shape = [x.shape[a] if a in axes else 1 for a in range(len(x.shape))]
    gamma = None if layer.gamma is None else ops.reshape(ops.cast(layer.gamma, x.dtype), shape)
    beta = None if layer.beta is None else ops.reshape(ops.cast(layer.beta, x.dtype), shape)

    def normalize(v):
        y = (v - ops.mean(v, axis=axes, keepdims=True)) * inverse
        y = y if gamma is None else y * gamma
        return y if beta is None else y + beta
    return normalize


def _group_norm(layer, x):
    """GroupNormalization (channels last) as an affine function, 1/σ of each group read
    from `x` now (constant)."""
    channels = x.shape[-1]
    grouped = (-1, *x.shape[1:-1], layer.groups, channels // layer.groups)
    axes = [*range(1, len(x.shape) - 1), len(x.shape)]  # spatial and within-group axes
    inverse = ops.rsqrt(ops.var(ops.reshape(x, grouped), axis=axes, keepdims=True)
                        + layer.epsilon)
    gamma = None if layer.gamma is None else ops.cast(layer.gamma, x.dtype)
    beta = None if layer.beta is None else ops.cast(layer.beta, x.dtype)

    def normalize(v):
        g = ops.reshape(v, grouped)
        y = ops.reshape((g - ops.mean(g, axis=axes, keepdims=True)) * inverse, ops.shape(v))
        y = y if gamma is None else y * gamma
        return y if beta is None else y + beta
    return normalize


class ConstantAttention(Rule):
    """The AH-rule (Ali et al., ICML 2022; AttnLRP, Achtibat et al., ICML 2024, keep it):
    `MultiHeadAttention` with its softmax attention weights held constant is affine in the
    values, `out = W_o (A · (W_v v + b_v)) + b_o`; relevance goes to the value input by
    LRP-ε and none to the query and key (they only set the weights). A gated attention's
    gate (from the query) is held constant too. Conserves relevance without biases.
    """

    def __init__(self, epsilon: float = 1e-6):
        self.epsilon = float(epsilon)

    def check(self, site) -> None:
        if not isinstance(site.layer, keras.layers.MultiHeadAttention) or site.step.node is None:
            raise ValueError(
                f"ConstantAttention handles keras.layers.MultiHeadAttention (and its "
                f"subclasses); '{site.path}' is a {type(site.layer).__name__}.")

    def relevance_in(self, site, inputs, outputs, relevance_out):
        layer, node = site.layer, site.step.node
        r = _single(relevance_out, site, self)
        args, kwargs = node.arguments.fill_in(
            {id(t): v for t, v in zip(node.input_tensors, inputs)})
        named = inspect.signature(layer.call).bind(*args, **kwargs).arguments
        query, value = named["query"], named["value"]
        _, weights = layer(*args, **{**kwargs, "return_attention_scores": True,
                                     "training": False})
        gate = layer._gate_dense(query) if getattr(layer, "_use_gate", False) else None

        def through_values(v):
            mixed = ops.einsum(layer._combine_equation, weights, layer._value_dense(v))
            return as_float32(layer._output_dense(mixed if gate is None else mixed * gate))

        z, pullback = backend.vjp(through_values, value)
        (c,) = pullback(r / stabilize(z, self.epsilon))
        position = next(i for i, x in enumerate(inputs) if x is value)  # once if also query
        return [value * c if i == position else ops.zeros_like(x) for i, x in enumerate(inputs)]


class Gradient(Rule):
    """`R_in = vjp(op)(R)`: exact for reshapes, crops, pads and slices; the chain rule."""

    def relevance_in(self, site, inputs, outputs, relevance_out):
        _, pullback = backend.vjp(_forward(site, len(outputs)), *inputs)
        return pullback(_cotangent(relevance_out))


class WinnerTakesAll(Gradient):
    """Max pooling: all relevance of a window goes to its maximum (the gradient of max)."""


class Epsilon(Rule):
    """LRP-ε: `R_in = a ⊙ vjp(layer)(R / (z + ε·sign z))`, z the layer's output (bias in).

    On a layer without a `LinearMap` it uses the layer's own computation, so it applies to
    any layer that is a (piecewise) linear function of its inputs.
    """

    def __init__(self, epsilon: float = 1e-6):
        self.epsilon = float(epsilon)

    def relevance_in(self, site, inputs, outputs, relevance_out):
        linear = site.linear
        if linear is None:
            z, pullback = backend.vjp(_forward(site, len(outputs)), *inputs)
            z = z if isinstance(z, (list, tuple)) else [z]
            s = [r / stabilize(zi, self.epsilon) for r, zi in zip(relevance_out, z)]
            return [x * c for x, c in zip(inputs, pullback(_cotangent(s)))]
        a = _single(inputs, site, self)
        r = _single(relevance_out, site, self)
        z, pullback = backend.vjp(lambda x: linear.op(x, linear.kernel), a)
        z = linear.add_bias(z, linear.bias)
        (c,) = pullback(r / stabilize(z, self.epsilon))
        return [a * c]


class Zero(Epsilon):
    """LRP-0: the relevance of each output split in proportion to the contributions a·w."""

    def __init__(self):
        super().__init__(TINY)

    def __repr__(self):
        return "Zero()"


class Proportional(Epsilon):
    """`R_i = x_i ⊙ vjp(op)(R / z)`: average pooling, Add, Subtract (LRP-0 on any op)."""

    def __init__(self, epsilon: float = TINY):
        super().__init__(epsilon)


class AbsProportional(Rule):
    """`R_i = |x_i| ⊙ vjp(op)(R / op(|x|))`: a sum (Add, Average) split in proportion to the
    magnitudes of its inputs, `R_i = |x_i| / Σ_j |x_j| · R` for an Add.

    Where the inputs agree in sign this is `Proportional` (LRP-0). Where they cancel (a
    pre-activation residual stream: `s + f` with `s ≈ −f`) LRP-0's shares `x_i / Σ x_j` leave
    [0, 1] and grow without bound, so that Σ|R| explodes while Σ R stays put (×10⁵ over the
    16 blocks of ResNet50V2); here every share is in [0, 1], the shares sum to 1 (conserved)
    and no relevance changes sign. Where all inputs are 0 the relevance is lost, as with LRP-0.
    """

    def relevance_in(self, site, inputs, outputs, relevance_out):
        r = _single(relevance_out, site, self)
        magnitudes = [ops.abs(x) for x in inputs]
        z, pullback = backend.vjp(_forward(site, 1), *magnitudes)
        shares = pullback(r / stabilize(z, TINY))
        return [m * c for m, c in zip(magnitudes, shares)]


# ------------------------------------------------------------------- weight rules
class WeightRule(Rule):
    """A rule that modifies a Dense / convolution layer's weights (`linear_relevance`)."""

    epsilon = TINY

    def relevance_in(self, site, inputs, outputs, relevance_out):
        linear = site.linear
        if linear is None:
            raise ValueError(
                f"the {type(self).__name__} rule modifies weights and applies to Dense and "
                f"convolution layers; '{site.path}' is a {type(site.layer).__name__}. Use "
                "tfcam.lrp.rules.Epsilon() (any linear layer) or register another rule."
            )
        a = _single(inputs, site, self)
        r = _single(relevance_out, site, self)
        return [self.linear_relevance(linear, a, r, site.inputs_nonnegative)]

    def linear_relevance(self, linear, a, r, nonnegative: bool):
        raise NotImplementedError


def _z_terms(linear, terms, bias, r, epsilon):
    """The gradient trick for `z = Σ_t σ_t op(x_t, K_t) + bias`, terms (x_t, K_t, σ_t).

    `s = R / (z + ε·sign z)`; returns `Σ_t σ_t x_t ⊙ vjp(op(·, K_t))(s)`.
    """
    z, pullbacks = None, []
    for x, kernel, sign in terms:
        z_t, pullback = backend.vjp(lambda v, k=kernel: linear.op(v, k), x)
        pullbacks.append(pullback)
        z_t = z_t if sign == 1.0 else sign * z_t
        z = z_t if z is None else z + z_t
    s = r / stabilize(linear.add_bias(z, bias), epsilon)
    total = None
    for (x, _, sign), pullback in zip(terms, pullbacks):
        (c,) = pullback(s)
        part = x * c if sign == 1.0 else sign * x * c
        total = part if total is None else total + part
    return total


class Gamma(WeightRule):
    """LRP-γ: weights and bias `w + γ w⁺`, favouring positive contributions."""

    def __init__(self, gamma: float = 0.25, epsilon: float = 1e-6):
        self.gamma, self.epsilon = float(gamma), float(epsilon)

    def linear_relevance(self, linear, a, r, nonnegative):
        kernel = linear.kernel + self.gamma * _pos(linear.kernel)
        bias = None if linear.bias is None else linear.bias + self.gamma * _pos(linear.bias)
        return _z_terms(linear, [(a, kernel, 1.0)], bias, r, self.epsilon)


class AlphaBeta(WeightRule):
    """LRP-αβ: positive and negative contributions `a·w` (bias parts included) apart.

    `R_i = α Σ_j (a_i w_ij)⁺ / z⁺_j R_j − β Σ_j (a_i w_ij)⁻ / z⁻_j R_j`; needs α − β = 1.
    """

    def __init__(self, alpha: float = 2.0, beta: float = 1.0, use_bias: bool = True):
        if not np.isclose(alpha - beta, 1.0):
            raise ValueError(f"AlphaBeta needs alpha - beta = 1; got alpha={alpha}, beta={beta}")
        self.alpha, self.beta, self.use_bias = float(alpha), float(beta), use_bias

    def linear_relevance(self, linear, a, r, nonnegative):
        w_pos, w_neg = _pos(linear.kernel), _neg(linear.kernel)
        bias = linear.bias if self.use_bias else None
        a_pos = a if nonnegative else _pos(a)
        positive = [(a_pos, w_pos, 1.0)]
        negative = [(a_pos, w_neg, 1.0)]
        if not nonnegative:  # negative inputs through negative weights contribute positively
            a_neg = _neg(a)
            positive.append((a_neg, w_neg, 1.0))
            negative.append((a_neg, w_pos, 1.0))
        result = self.alpha * _z_terms(
            linear, positive, None if bias is None else _pos(bias), r, TINY)
        if self.beta:
            result = result - self.beta * _z_terms(
                linear, negative, None if bias is None else _neg(bias), r, TINY)
        return result


class ZPlus(AlphaBeta):
    """z⁺: positive contributions only (positive weights on non-negative inputs), no bias.

    With inputs of either sign, negative inputs through negative weights count as positive
    contributions too (α1β0 without bias), so relevance is conserved on any input.
    """

    def __init__(self):
        super().__init__(1.0, 0.0, use_bias=False)

    def __repr__(self):
        return "ZPlus()"


class ZBox(WeightRule):
    """z^B for the first layer, with inputs bounded per channel: `low ≤ x ≤ high`.

    `z = W x − W⁺ l − W⁻ h`; `R = x ⊙ c − l ⊙ c⁺ − h ⊙ c⁻`. `low` and `high` are scalars or
    per-channel vectors at the layer's input; None takes each sample's per-channel min / max
    (a data-dependent fallback: pass the real input range where it is known).
    """

    def __init__(self, low=None, high=None, epsilon: float = 1e-6):
        self.low, self.high, self.epsilon = low, high, float(epsilon)

    def _bound(self, value, a, reduce):
        if value is None:
            axes = tuple(range(1, len(a.shape) - 1))
            return ops.ones_like(a) * reduce(a, axis=axes, keepdims=True)
        return ops.ones_like(a) * ops.cast(ops.convert_to_tensor(np.asarray(value)), a.dtype)

    def linear_relevance(self, linear, a, r, nonnegative):
        low, high = self._bound(self.low, a, ops.min), self._bound(self.high, a, ops.max)
        terms = [(a, linear.kernel, 1.0), (low, _pos(linear.kernel), -1.0),
                 (high, _neg(linear.kernel), -1.0)]
        return _z_terms(linear, terms, None, r, self.epsilon)


class Flat(WeightRule):
    """Weights and inputs replaced by 1: relevance spread evenly over the receptive field."""

    def kernel(self, kernel):
        return ops.ones_like(kernel)

    def linear_relevance(self, linear, a, r, nonnegative):
        ones = ops.ones_like(a)
        return _z_terms(linear, [(ones, self.kernel(linear.kernel), 1.0)], None, r, TINY)


class WSquare(Flat):
    """Weights replaced by `w²`, inputs by 1: relevance spread by squared weight."""

    def kernel(self, kernel):
        return ops.square(kernel)


# ------------------------------------------------------------------- ReLU rules
class GuidedReLU(Rule):
    """Guided Backprop: `upstream · 1[x > 0] · 1[upstream > 0]` (ReLU's vjp of ReLU(upstream))."""

    def relevance_in(self, site, inputs, outputs, relevance_out):
        _, pullback = backend.vjp(_forward(site, 1), _single(inputs, site, self))
        return pullback(ops.relu(_single(relevance_out, site, self)))


class DeconvReLU(Rule):
    """Deconvnet: `ReLU(upstream)`, whatever the forward input was."""

    def relevance_in(self, site, inputs, outputs, relevance_out):
        _single(inputs, site, self)
        return [ops.relu(_single(relevance_out, site, self))]


__all__ = [
    "Rule", "Pass", "Gradient", "WinnerTakesAll", "Epsilon", "Zero", "Proportional", "AbsProportional",
    "WeightRule", "Gamma", "AlphaBeta", "ZPlus", "ZBox", "Flat", "WSquare", "GuidedReLU",
    "DeconvReLU", "GatedProduct", "ConstantNormalizer", "ConstantAttention", "stabilize",
]
