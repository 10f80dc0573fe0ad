"""The input conventions of common image models: what turns RGB images in [0, 1] into what a
model expects. The command line applies them to the images it reads (`tfcam explain
--preprocess`); the benchmark builds them into a saved model's first layer.

Each convention is per channel ``x' = scale * x + offset``, after RGB -> BGR for ``caffe``:

* ``none``: the images as they are, in [0, 1] (or a model that preprocesses inside);
* ``tf``: [-1, 1] (``2x - 1``; Keras' MobileNet, Inception, EfficientNet-V2 with
  ``include_preprocessing=False``);
* ``torch``: the ImageNet mean and std (torchvision models, Keras' DenseNet);
* ``caffe``: BGR, 0-255 minus the ImageNet mean (Keras' VGG16/19, ResNet50);
* a number: a scale alone, ``255`` for models that take 0-255 images (Keras' EfficientNet,
  ConvNeXt, or a model with its own ``Rescaling`` layer).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


class Affine(NamedTuple):
    """Per-channel ``scale * x + offset``, after reversing the channels when ``bgr``."""

    scale: tuple
    offset: tuple
    bgr: bool = False


MODES = {
    "none": None,
    "tf": Affine((2.0,) * 3, (-1.0,) * 3),
    "torch": Affine(tuple(1 / s for s in IMAGENET_STD_RGB),
                    tuple(-m / s for m, s in zip(IMAGENET_MEAN_RGB, IMAGENET_STD_RGB))),
    "caffe": Affine((255.0,) * 3, tuple(-m for m in CAFFE_MEAN_BGR), True),
}


def affine(mode) -> Affine | None:
    """The convention named `mode` (a name of `MODES` or a number, the scale); None for
    ``none``; a clear error otherwise."""
    text = "none" if mode is None else str(mode).strip().lower()
    if text in MODES:
        return MODES[text]
    try:
        scale = float(text)
    except ValueError:
        raise ValueError(f"unknown preprocessing '{mode}': use none, tf, torch, caffe or a "
                         "scale such as 255") from None
    return Affine((scale,) * 3, (0.0,) * 3)


def apply(images, mode) -> np.ndarray:
    """`images` (N, H, W, C) in [0, 1] as the model of convention `mode` expects them
    (float32, a new array). The colour conventions need 3 channels; a scale takes any."""
    images = np.asarray(images, dtype="float32")
    spec = affine(mode)
    if spec is None:
        return images.copy()
    if len(set(spec.scale)) == 1 and len(set(spec.offset)) == 1 and not spec.bgr:
        return images * spec.scale[0] + spec.offset[0]
    if images.shape[-1] != 3:
        raise ValueError(f"preprocessing '{mode}' is for RGB images (3 channels), not "
                         f"{images.shape[-1]}: use none or a scale")
    if spec.bgr:
        images = images[..., ::-1]
    return images * np.asarray(spec.scale, "float32") + np.asarray(spec.offset, "float32")
