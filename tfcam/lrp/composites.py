"""Composites: which rule each layer gets, by layer type and position.

A `Composite` names rules for the *first* linear layer (the one reading the input), the
*conv* body (Conv/Depthwise/Separable layers), the *dense* head, activations, and any
layer class; every other layer gets its built-in rule (below). Presets:

| preset | first layer | conv | dense |
|---|---|---|---|
| `epsilon_plus()` | z⁺ | z⁺ | ε |
| `epsilon_gamma_box(low, high)` | z^B | γ | ε |
| `epsilon_alpha2_beta1()` | α2β1 | α2β1 | ε |
| `epsilon_plus_flat()` | flat | z⁺ | ε |
| `relevance_cam()` | z⁺ | z⁺ | z⁺ (max pooling winner-take-all, Add proportional) |

Presets fold BatchNorm into the preceding linear layer (`canonize=True`). A sum (Add and
Average layers, `x + y` of two tensors) is split as zennit splits it, LRP-0's `x_i / Σ x_j`,
unless `sums=` names another rule. Where a pre-activation residual stream cancels (`s ≈ −f`,
ResNet V2) those shares are unbounded and Σ|R| explodes while Σ R is kept (random-weight
ResNet50V2: Σ|R| ≈ 10⁴ for Σ R = 1, relevance kept −475); `sums=rules.AbsProportional()`
splits by magnitude instead (0.37 there; 0.89 with BatchNorm statistics from images). It is
not the default: it is not a published rule, and it changes the maps of every residual
network whose added inputs differ in sign.

Built-in rules: activations (GELU, swish, ReLU6 ... : the identity rule, as AttnLRP),
BatchNorm, Dropout/noise, Rescaling/Normalization, UnitNormalization, RMS normalization,
Identity, ConvNeXt's LayerScale pass relevance through; LayerNormalization and
GroupNormalization hold their standard deviation constant (the LN-rule), MultiHeadAttention
its attention weights (the AH-rule, relevance to the values); KerasHub's ViT and DeiT patch
embeddings (a convolution plus class and position tokens) are LRP-ε; Flatten, Reshape,
Permute, padding, cropping, up-sampling, Concatenate and indexing (`x[:, 0]`, a class
token) use the gradient (an exact reshape / crop / slice); max pooling is winner-take-all; average
pooling, Add, Subtract, Average and InceptionResNetV2's scaled residual (`CustomScaleLayer`)
split relevance in proportion to their inputs; Multiply of a signal and gates
(squeeze-and-excitation, hard-swish) gives it all to the signal (`GatedProduct`).

For a layer class of your own, one line: `tfcam.lrp.register_rule(MyLayer, rules.Epsilon())`.
Registered rules apply to that class and its subclasses in every composite (and override
the composite's dense/conv rules for them).
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from tfcam import twin
from tfcam.lrp import rules
from tfcam.lrp.linear import CONVOLUTIONS, DENSE

# ---------------------------------------------------------------- layer kinds
_RELU_FUNCTIONS = {keras.activations.relu, keras.activations.relu6}
_NONNEGATIVE_FUNCTIONS = _RELU_FUNCTIONS | {
    keras.activations.sigmoid, keras.activations.softplus, keras.activations.softmax,
    keras.activations.hard_sigmoid, keras.activations.exponential,
}
_ACTIVATION_LAYERS = (
    keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.PReLU,
    keras.layers.ELU, keras.layers.Softmax,
)


def _optional_layers(*names) -> tuple:
    """keras.layers classes that only newer Keras versions have."""
    return tuple(getattr(keras.layers, n) for n in names if hasattr(keras.layers, n))


def _op_classes(module_name: str, names) -> tuple:
    """keras.ops operation classes (nodes of `x + y`, `keras.ops.relu(x)`, ...), if present."""
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError:  # pragma: no cover - keras internals moved
        return ()
    return tuple(getattr(module, n) for n in names if hasattr(module, n))


_RELU_OPS = _op_classes("keras.src.ops.nn", ("Relu", "Relu6"))


def is_relu(step) -> bool:
    """True for every ReLU: ReLU layers, Activation("relu"), a layer's own activation="relu",
    and keras.ops.relu nodes."""
    activation = step.activation
    if activation is not None:
        return activation in _RELU_FUNCTIONS
    if step.part != "call":
        return False
    return isinstance(step.layer, keras.layers.ReLU) or isinstance(step.operation, _RELU_OPS)


def is_activation(step) -> bool:
    return step.activation is not None or (
        step.part == "call" and isinstance(step.layer, _ACTIVATION_LAYERS + _RELU_OPS)
    )


def has_nonnegative_output(step) -> bool:
    """Outputs known to be ≥ 0 whatever the inputs (ReLU, sigmoid, softmax, ...)."""
    if is_relu(step):
        layer = step.layer
        if isinstance(layer, keras.layers.ReLU) and step.part == "call":
            return float(layer.negative_slope) == 0.0 and float(layer.threshold) >= 0.0
        return True
    return step.activation in _NONNEGATIVE_FUNCTIONS if step.activation is not None else False


_SIGN_PRESERVING = (
    keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D,
    keras.layers.AveragePooling1D, keras.layers.AveragePooling2D, keras.layers.AveragePooling3D,
    keras.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalMaxPooling3D, keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D, keras.layers.GlobalAveragePooling3D,
    keras.layers.Flatten, keras.layers.Reshape, keras.layers.Permute, keras.layers.ZeroPadding1D,
    keras.layers.ZeroPadding2D, keras.layers.ZeroPadding3D, keras.layers.Cropping1D,
    keras.layers.Cropping2D, keras.layers.Cropping3D, keras.layers.UpSampling1D,
    keras.layers.UpSampling2D, keras.layers.UpSampling3D, keras.layers.Dropout,
    keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D, keras.layers.SpatialDropout3D,
    keras.layers.Identity, keras.layers.Concatenate, keras.layers.Add, keras.layers.Average,
    keras.layers.RepeatVector,
)

_SUM_LAYERS = (keras.layers.Add, keras.layers.Average)
_ADD_OPS = _op_classes("keras.src.ops.numpy", ("Add",))


def is_sum(step) -> bool:
    """Add and Average layers, and `x + y` of two tensors (not `x + constant`)."""
    if step.part != "call":
        return False
    return isinstance(step.layer, _SUM_LAYERS) or (
        isinstance(step.operation, _ADD_OPS) and len(step.inputs) > 1)


def keeps_nonnegative(step) -> bool:
    """Outputs are ≥ 0 whenever all inputs are (pooling, reshaping, Add, Concatenate, ...)."""
    return step.part == "call" and isinstance(step.layer, _SIGN_PRESERVING)


# ---------------------------------------------------------------- built-in rules
_PASS = rules.Pass()
_GRADIENT = rules.Gradient()
_WTA = rules.WinnerTakesAll()
_PROPORTIONAL = rules.Proportional()
_ZERO = rules.Zero()
_GATED = rules.GatedProduct()
_EPSILON = rules.Epsilon()
_NORMALIZER = rules.ConstantNormalizer()
_ATTENTION = rules.ConstantAttention()

_L = keras.layers
BUILTIN: list[tuple[tuple, rules.Rule]] = [
    (DENSE + CONVOLUTIONS, _ZERO),
    (_ACTIVATION_LAYERS + _RELU_OPS, _PASS),
    ((_L.BatchNormalization, _L.Dropout, _L.SpatialDropout1D, _L.SpatialDropout2D,
      _L.SpatialDropout3D, _L.GaussianDropout, _L.GaussianNoise, _L.AlphaDropout,
      _L.ActivityRegularization, _L.Identity, _L.Rescaling, _L.Normalization,
      _L.UnitNormalization) + _optional_layers("RMSNormalization"), _PASS),
    ((_L.LayerNormalization, _L.GroupNormalization), _NORMALIZER),
    ((_L.MultiHeadAttention,), _ATTENTION),
    ((_L.Flatten, _L.Reshape, _L.Permute, _L.ZeroPadding1D, _L.ZeroPadding2D,
      _L.ZeroPadding3D, _L.Cropping1D, _L.Cropping2D, _L.Cropping3D, _L.UpSampling1D,
      _L.UpSampling2D, _L.UpSampling3D, _L.Concatenate, _L.RepeatVector), _GRADIENT),
    # ops that move values (copies: their relevances summed, as the gradient does)
    (_op_classes("keras.src.ops.numpy", (
        "Reshape", "Concatenate", "Transpose", "ExpandDims", "Squeeze", "Pad", "GetItem",
        "Split", "Stack", "Flip", "Roll", "Moveaxis", "Swapaxes", "Ravel", "Tile", "Repeat",
        "BroadcastTo", "Take")) + _op_classes("keras.src.ops.core", ("Slice",)), _GRADIENT),
    ((_L.MaxPooling1D, _L.MaxPooling2D, _L.MaxPooling3D, _L.GlobalMaxPooling1D,
      _L.GlobalMaxPooling2D, _L.GlobalMaxPooling3D), _WTA),
    ((_L.AveragePooling1D, _L.AveragePooling2D, _L.AveragePooling3D,
      _L.GlobalAveragePooling1D, _L.GlobalAveragePooling2D, _L.GlobalAveragePooling3D,
      _L.Add, _L.Subtract, _L.Average), _PROPORTIONAL),
    (_op_classes("keras.src.ops.numpy", ("Add", "Subtract", "Mean")), _PROPORTIONAL),
    # x * gate (squeeze-and-excitation, hard-swish) and x * constant
    ((_L.Multiply,) + _op_classes("keras.src.ops.numpy", ("Multiply",)), _GATED),
    # InceptionResNetV2's residual `x + scale * branch`: linear in its inputs
    (_op_classes("keras.src.applications.inception_resnet_v2", ("CustomScaleLayer",)),
     _PROPORTIONAL),
]

# Layers of packages tfcam does not import (KerasHub), by module and class name.
BUILTIN_BY_NAME: dict[str, rules.Rule] = {
    # patches (a convolution) + class token + position embeddings: affine in the image
    "keras_hub.src.models.vit.vit_layers.ViTPatchingAndEmbedding": _EPSILON,
    "keras_hub.src.models.deit.deit_layers.DeiTEmbeddings": _EPSILON,
    # ConvNeXt's per-channel scale and (at inference) identity stochastic depth
    "keras.src.applications.convnext.LayerScale": _PASS,
    "keras.src.applications.convnext.StochasticDepth": _PASS,
}

# Rules the user registered for layer classes: {class: rule}
_REGISTRY: dict[type, rules.Rule] = {}


def register_rule(layer_class: type, rule: rules.Rule) -> rules.Rule:
    """Use `rule` for `layer_class` (and its subclasses) in every composite.

    `tfcam.lrp.register_rule(MyLayer, tfcam.lrp.rules.Epsilon())`. Returns the rule.
    """
    if not isinstance(layer_class, type):
        raise TypeError(f"register_rule takes a layer class, not {layer_class!r}")
    if not isinstance(rule, rules.Rule):
        raise TypeError(
            f"register_rule takes a tfcam.lrp.rules.Rule instance, not {rule!r} (an object "
            "with relevance_in(site, inputs, outputs, relevance_out))"
        )
    _REGISTRY[layer_class] = rule
    return rule


def unregister_rule(layer_class: type) -> None:
    _REGISTRY.pop(layer_class, None)


def _by_mro(table: dict, layer) -> rules.Rule | None:
    for cls in type(layer).__mro__:
        if cls in table:
            return table[cls]
    return None


def _builtin(step) -> rules.Rule | None:
    if step.activation is not None:
        return _PASS
    for classes, rule in BUILTIN:
        if classes and isinstance(step.layer, classes):
            return rule
    for cls in type(step.layer).__mro__:
        named = BUILTIN_BY_NAME.get(f"{cls.__module__}.{cls.__qualname__}")
        if named is not None:
            return named
    return None


def unsupported_layer_error(step) -> ValueError:
    cls = type(step.layer).__name__
    opaque = (
        f" '{step.path}' is made of layers, but its `call` does not trace on symbolic "
        "inputs (an inner layer returns None, as KerasHub's DeiT blocks do, or Python control "
        "flow on values), so LRP sees it as one layer."
        if twin.is_composite_layer(step.layer) else "")
    return ValueError(
        f"LRP has no rule for layer '{step.path}' of class {cls}.{opaque} Register one with "
        f"tfcam.lrp.register_rule({cls}, tfcam.lrp.rules.Epsilon()) for a layer that is a "
        "(piecewise) linear function of its inputs, tfcam.lrp.rules.Pass() for one that "
        "keeps its input's shape and should pass relevance unchanged, or "
        "tfcam.lrp.rules.Gradient() for one that only moves values around (reshape, crop)."
    )


# ---------------------------------------------------------------- composites
class Composite:
    """Rules by position and layer type; built-in rules for everything else.

    first: the first Dense/conv layer(s) from the input; conv: other convolutions;
    dense: other Dense layers; sums: Add and Average layers and `x + y` of two tensors
    (`is_sum`); activation: activations (layers, and a layer's own
    `activation=`); relu: ReLUs only (takes precedence over `activation`); layers:
    {layer class: rule}, checked before the position rules; default: a rule for every
    step not matched by `relu`/`layers` (e.g. `Gradient()` for gradient walks), which
    also bypasses registered and built-in rules; canonize: fold BatchNorm into the
    preceding linear layer.
    """

    def __init__(self, *, first=None, conv=None, dense=None, sums=None, activation=None,
                 relu=None, layers: dict | None = None, default=None, canonize: bool = False,
                 name: str = "custom"):
        self.first, self.conv, self.dense, self.sums = first, conv, dense, sums
        self.activation, self.relu, self.default = activation, relu, default
        self.layers = dict(layers or {})
        self.canonize = canonize
        self.name = name

    def __repr__(self):
        return f"Composite({self.name})"

    def rule_for(self, step, *, first: bool = False) -> rules.Rule:
        """The rule of `step` (a graph Step); `first`: it is a first linear layer.

        Precedence: `relu`, `layers`, `default`, activations (`activation`, else pass),
        registered rules, `first`, `dense`, `conv`, `sums`, built-in rules; else a ValueError that
        names the layer and how to register a rule.
        """
        if self.relu is not None and is_relu(step):
            return self.relu
        layer = step.layer if step.part != "activation" else None
        if layer is not None:
            rule = _by_mro(self.layers, layer)
            if rule is not None:
                return rule
        if self.default is not None:
            return self.default
        if is_activation(step):
            return self.activation or _builtin(step) or _PASS
        rule = _by_mro(_REGISTRY, layer)
        if rule is not None:
            return rule
        if first and self.first is not None and isinstance(layer, DENSE + CONVOLUTIONS):
            return self.first
        if self.dense is not None and isinstance(layer, DENSE):
            return self.dense
        if self.conv is not None and isinstance(layer, CONVOLUTIONS):
            return self.conv
        if self.sums is not None and is_sum(step):
            return self.sums
        rule = _builtin(step)
        if rule is None:
            raise unsupported_layer_error(step)
        return rule


def epsilon_plus(epsilon: float = 1e-6, canonize: bool = True, sums=None) -> Composite:
    """z⁺ on convolutions (first layer included), ε on Dense layers (zennit's EpsilonPlus);
    `sums`: the rule of Add/Average/`x + y` (None: LRP-0's split; see the module docstring)."""
    return Composite(conv=rules.ZPlus(), dense=rules.Epsilon(epsilon), sums=sums,
                     canonize=canonize, name="epsilon_plus")


def epsilon_gamma_box(low=None, high=None, gamma: float = 0.25, epsilon: float = 1e-6,
                      canonize: bool = True, sums=None) -> Composite:
    """z^B on the first layer (bounds `low`, `high`), γ on convolutions, ε on Dense."""
    return Composite(first=rules.ZBox(low, high), conv=rules.Gamma(gamma),
                     dense=rules.Epsilon(epsilon), sums=sums, canonize=canonize,
                     name="epsilon_gamma_box")


def epsilon_alpha2_beta1(epsilon: float = 1e-6, canonize: bool = True, sums=None) -> Composite:
    """α2β1 on convolutions, ε on Dense layers."""
    return Composite(conv=rules.AlphaBeta(2.0, 1.0), dense=rules.Epsilon(epsilon),
                     sums=sums, canonize=canonize, name="epsilon_alpha2_beta1")


def epsilon_plus_flat(epsilon: float = 1e-6, canonize: bool = True, sums=None) -> Composite:
    """Flat on the first layer, z⁺ on convolutions, ε on Dense layers."""
    return Composite(first=rules.Flat(), conv=rules.ZPlus(), dense=rules.Epsilon(epsilon),
                     sums=sums, canonize=canonize, name="epsilon_plus_flat")


def relevance_cam(canonize: bool = True) -> Composite:
    """Relevance-CAM's propagation: z⁺ on every linear layer, max pooling winner-take-all,
    residual Add split in proportion to each branch."""
    return Composite(
        conv=rules.ZPlus(), dense=rules.ZPlus(),
        layers={keras.layers.Add: rules.Proportional(),
                keras.layers.MaxPooling2D: rules.WinnerTakesAll()},
        canonize=canonize, name="relevance_cam",
    )


def lrp_zero() -> Composite:
    """LRP-0 everywhere, nothing folded: the textbook rule (conservation tests)."""
    return Composite(name="lrp_zero")


PRESETS: dict[str, Callable[[], Composite]] = {
    "epsilon_plus": epsilon_plus,
    "epsilon_gamma_box": epsilon_gamma_box,
    "epsilon_alpha2_beta1": epsilon_alpha2_beta1,
    "epsilon_plus_flat": epsilon_plus_flat,
    "relevance_cam": relevance_cam,
    "lrp_zero": lrp_zero,
}


def get(composite) -> Composite:
    """A Composite from a preset name or a Composite (returned as is)."""
    if isinstance(composite, Composite):
        return composite
    if isinstance(composite, str) and composite in PRESETS:
        return PRESETS[composite]()
    raise ValueError(
        f"unknown composite {composite!r}; pass a tfcam.lrp.Composite or one of "
        f"{sorted(PRESETS)}."
    )
