"""Every architecture family a Keras user has, small and with random weights: the
keras.applications zoo, KerasHub's image classifiers (built from configs, nothing
downloaded) and a hand-written vision transformer. What ``experiment=zoo`` and the
architecture tests explain.

``FAMILIES`` maps a name to ``(source, build)``; ``build(size, classes)`` returns a model
taking (N, size, size, 3) images in [0, 1], its BatchNormalization statistics set from
random images (`calibrate_batch_norm`). KerasHub is optional: ``build`` raises ImportError
without it (the zoo reports that row as not run).
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import keras
from keras import layers, ops


def calibrate_batch_norm(model, size: int, seed: int = 0):
    """Set every BatchNormalization's moving statistics to those of images like the explained
    ones (8 of the built-in data set's training split, at ``size`` px).

    A fresh network's statistics (mean 0, variance 1) do not match its activations: through
    the 14 blocks of a random MobileNet they shrink to logits of 1e-21, where LRP's
    stabilizer takes all relevance and every map is 0. One training-mode call with
    momentum 0 gives each layer the statistics of its inputs, as a trained network has.
    Statistics of uniform noise instead (variance 0.003 after DenseNet121's stem) switch off
    whole pixels on the explained images: 45 % of DenseNet121's pixels after its first
    BatchNorm→ReLU were 0 in every channel, and LRP's relevance went to the biases
    (relevance kept −2.9; 1.01 calibrated on such images).
    """
    norms = [la for la in model._flatten_layers() if isinstance(la, layers.BatchNormalization)]
    if not norms:
        return model
    momenta = [la.momentum for la in norms]
    from ..data.synthetic import generate  # the explained images' kind, never their own
    images = generate(n_images=8, image_size=size, split="train", seed=seed).images.astype("float32")
    try:
        for la in norms:
            la.momentum = 0.0
        model(images, training=True)
    finally:
        for la, momentum in zip(norms, momenta):
            la.momentum = momentum
    return model


def _calibrated(build: Callable) -> Callable:
    @functools.wraps(build)
    def calibrated(size: int, classes: int, **kwargs):
        return calibrate_batch_norm(build(size, classes, **kwargs), size)
    return calibrated

# keras.applications families (the class and the smallest input it accepts)
APPLICATIONS = {
    "VGG16": 32, "ResNet50": 32, "ResNet50V2": 32, "DenseNet121": 32, "MobileNet": 32,
    "MobileNetV2": 32, "MobileNetV3Small": 32, "Xception": 71, "NASNetMobile": 32,
    "InceptionV3": 75, "InceptionResNetV2": 75, "EfficientNetB0": 32,
    "EfficientNetV2B0": 32, "ConvNeXtTiny": 32,
}


def application(name: str) -> Callable:
    @_calibrated
    def build(size: int, classes: int):
        return getattr(keras.applications, name)(
            weights=None, input_shape=(size, size, 3), classes=classes)
    return build


# ------------------------------------------------------------------ KerasHub
def _hub():
    import keras_hub  # optional: a test dependency, heavy to import

    return keras_hub.models


@_calibrated
def hub_vit(size: int, classes: int):
    hub = _hub()
    backbone = hub.ViTBackbone(image_shape=(size, size, 3), patch_size=size // 4,
                               num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64)
    return hub.ViTImageClassifier(backbone=backbone, num_classes=classes)


@_calibrated
def hub_deit(size: int, classes: int):
    hub = _hub()
    backbone = hub.DeiTBackbone(image_shape=(size, size, 3), patch_size=size // 4,
                                num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64)
    return hub.DeiTImageClassifier(backbone=backbone, num_classes=classes)


@_calibrated
def hub_resnet(size: int, classes: int):
    hub = _hub()
    backbone = hub.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
        image_shape=(size, size, 3))
    return hub.ResNetImageClassifier(backbone=backbone, num_classes=classes)


@_calibrated
def hub_efficientnet(size: int, classes: int):
    hub = _hub()
    backbone = hub.EfficientNetBackbone(
        stackwise_kernel_sizes=[3, 3], stackwise_num_repeats=[1, 1],
        stackwise_input_filters=[16, 16], stackwise_output_filters=[16, 24],
        stackwise_expansion_ratios=[1, 4], stackwise_squeeze_and_excite_ratios=[0.25, 0.25],
        stackwise_strides=[2, 2], stackwise_block_types=["unfused", "unfused"],
        stackwise_width_coefficients=[1.0, 1.0], stackwise_depth_coefficients=[1.0, 1.0],
        input_shape=(size, size, 3), num_features=64)
    return hub.EfficientNetImageClassifier(backbone=backbone, num_classes=classes)


@_calibrated
def hub_mobilenetv3(size: int, classes: int):
    hub = _hub()
    backbone = hub.MobileNetBackbone(
        stackwise_expansion=[[40], [64]], stackwise_num_blocks=[1, 1],
        stackwise_num_filters=[[16], [24]], stackwise_kernel_size=[[3], [5]],
        stackwise_num_strides=[[2], [2]], stackwise_se_ratio=[[None], [0.25]],
        stackwise_activation=[["relu"], ["hard_swish"]], stackwise_padding=[[1], [2]],
        output_num_filters=48, depthwise_filters=8, depthwise_stride=2,
        depthwise_residual=False, last_layer_filter=48, squeeze_and_excite=0.5,
        image_shape=(size, size, 3))
    return hub.MobileNetImageClassifier(backbone=backbone, num_classes=classes)


@_calibrated
def hub_cspnet(size: int, classes: int):
    hub = _hub()
    backbone = hub.CSPNetBackbone(
        stem_filters=16, stem_kernel_size=3, stem_strides=2, stackwise_depth=[1, 1],
        stackwise_strides=[2, 2], stackwise_num_filters=[32, 64], block_type="dark_block",
        stage_type="csp", bottle_ratio=[0.5], block_ratio=[1.0], expand_ratio=[2.0],
        image_shape=(size, size, 3))
    return hub.CSPNetImageClassifier(backbone=backbone, num_classes=classes)


@_calibrated
def hub_densenet(size: int, classes: int):
    hub = _hub()
    backbone = hub.DenseNetBackbone(stackwise_num_repeats=[1, 1], image_shape=(size, size, 3),
                                    growth_rate=8)
    return hub.DenseNetImageClassifier(backbone=backbone, num_classes=classes)


# ------------------------------------------------------------------ a hand-written ViT
@keras.saving.register_keras_serializable(package="tfcam_benchmarks")
class ClassToken(layers.Layer):
    """A learned class token put before the patch tokens."""

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="zeros",
                                     name="token")

    def call(self, tokens):
        token = ops.broadcast_to(self.token, (ops.shape(tokens)[0], 1, tokens.shape[-1]))
        return ops.concatenate([ops.cast(token, tokens.dtype), tokens], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] + 1, input_shape[2])


@keras.saving.register_keras_serializable(package="tfcam_benchmarks")
class AddPositionEmbedding(layers.Layer):
    """Learned position embeddings added to the tokens."""

    def build(self, input_shape):
        self.position = self.add_weight(shape=(1, *input_shape[1:]), initializer="random_normal",
                                        name="position")

    def call(self, tokens):
        return tokens + ops.cast(self.position, tokens.dtype)


def vit(size: int, classes: int, patch: int | None = None, depth: int = 2, width: int = 32):
    """Patchify convolution -> tokens (N, T, C) -> class token and positions -> pre-norm
    transformer blocks (LayerNormalization, MultiHeadAttention, GELU MLP) -> class token head.

    Its own token layers need one line each for LRP (tfcam cannot know them):
    ``register_rule(ClassToken, rules.Gradient())`` (a concatenation) and
    ``register_rule(AddPositionEmbedding, rules.Epsilon())`` (an addition of a constant);
    :func:`register_vit_rules` does both.
    """
    patch = patch or size // 4
    grid = size // patch
    inputs = keras.Input((size, size, 3))
    x = layers.Conv2D(width, patch, strides=patch, name="patchify")(inputs)
    x = layers.Reshape((grid * grid, width), name="tokens")(x)
    x = AddPositionEmbedding(name="positions")(ClassToken(name="class_token")(x))
    for i in range(depth):
        h = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_norm1")(x)
        h = layers.MultiHeadAttention(2, width // 2, name=f"block{i}_attention")(h, h)
        x = layers.Add(name=f"block{i}_add1")([x, h])
        h = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_norm2")(x)
        h = layers.Dense(2 * width, activation="gelu", name=f"block{i}_mlp1")(h)
        h = layers.Dense(width, name=f"block{i}_mlp2")(h)
        x = layers.Add(name=f"block{i}_add2")([x, h])
    x = layers.LayerNormalization(epsilon=1e-6, name="norm")(x)
    outputs = layers.Dense(classes, name="head")(x[:, 0])
    return keras.Model(inputs, outputs, name="vit")


def register_vit_rules() -> None:
    """LRP rules for `vit`'s own token layers."""
    from tfcam.lrp import register_rule, rules

    register_rule(ClassToken, rules.Gradient())
    register_rule(AddPositionEmbedding, rules.Epsilon())


FAMILIES: dict[str, tuple[str, Callable]] = {
    **{name: ("keras.applications", application(name)) for name in APPLICATIONS},
    "ViT (hand-written)": ("Functional", vit),
    "ViT": ("KerasHub", hub_vit),
    "DeiT": ("KerasHub", hub_deit),
    "ResNet": ("KerasHub", hub_resnet),
    "EfficientNet": ("KerasHub", hub_efficientnet),
    "MobileNetV3": ("KerasHub", hub_mobilenetv3),
    "CSPNet": ("KerasHub", hub_cspnet),
    "DenseNet": ("KerasHub", hub_densenet),
}


def min_size(name: str) -> int:
    """The smallest input `name` accepts (keras.applications' minimums; 32 otherwise)."""
    return APPLICATIONS.get(name, 32)
