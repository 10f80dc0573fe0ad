"""Your own Keras model: ``model=saved model.path=FILE.keras`` (a file of ``model.save``).

It is loaded with ``keras.saving.load_model`` and explained as it is: nothing is trained
(``ModelInfo.source == "saved"``, no accuracy).

The benchmark's images are RGB in [0, 1]; ``model.preprocess`` says what the model expects,
one of `tfcam.preprocess`'s conventions: ``none`` (those images, or the model preprocesses
inside), ``tf`` (2x - 1), ``torch`` (ImageNet mean / std), ``caffe`` (BGR, 0-255 minus the
ImageNet mean) or a number, a scale (``255`` for 0-255 images). The step becomes the model's
first layer, in one flat graph
with copies of the model's own layers, so the metrics mask the images in image space
(black = 0) as for the zoo's models.

Its layers: those ``model.layers`` names (``shallow`` / ``mid`` / ``last``); the others are
picked among the layers tfcam can explain, those with a (batch, height, width, channels)
output (tfcam's own list, `tfcam.explainable_layers`): ``last``, tfcam's default (the last
such layer); ``shallow`` and ``mid``, the last layer at 1/4 and at 1/8 of the input's size (where
the zoo's VGG16 and ResNet50 choices sit), or at 1/3 and 2/3 of the list when the sizes do
not tell them apart (a small net).
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
from keras import layers, ops

from tfcam import preprocess

from ..models.train import ModelInfo

LAYER_CHOICES = ("shallow", "mid", "last")
SIZE_FRACTION = {"shallow": 1 / 4, "mid": 1 / 8}


class Loaded(NamedTuple):
    model: object
    info: ModelInfo
    layers: dict            # shallow / mid / last -> layer name


@keras.saving.register_keras_serializable(package="tfcam_benchmarks")
class ChannelAffine(layers.Layer):
    """x -> scale * x + offset per channel (after RGB -> BGR when ``bgr``)."""

    def __init__(self, scale=(1.0, 1.0, 1.0), offset=(0.0, 0.0, 0.0), bgr: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset, self.bgr = tuple(scale), tuple(offset), bool(bgr)

    def call(self, x):
        if self.bgr:
            x = ops.flip(x, axis=-1)
        return x * ops.convert_to_tensor(self.scale, x.dtype) + ops.convert_to_tensor(self.offset, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset, "bgr": self.bgr}


def preprocess_layer(mode) -> ChannelAffine | None:
    """The layer for ``model.preprocess`` (None for ``none``): `tfcam.preprocess`'s conventions."""
    try:
        spec = preprocess.affine(mode)
    except ValueError:
        raise ValueError(f"model.preprocess={mode}: use none, tf, torch, caffe or a scale such as 255") from None
    return None if spec is None else ChannelAffine(*spec, name="preprocess")


def model_file(model_cfg) -> Path:
    """``model.path``, checked: given and a file."""
    from omegaconf import OmegaConf
    path = OmegaConf.select(model_cfg, "path", default=None) if OmegaConf.is_config(model_cfg) \
        else getattr(model_cfg, "path", None)
    if not path:
        raise ValueError("model=saved needs model.path=FILE.keras (your model, saved with model.save)")
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"model.path={path}: no such file (give your model's .keras file)")
    return path


def with_preprocess(model, layer):
    """``model`` with ``layer`` as its first step: a copy whose layers are called once, in one
    flat graph (a layer shared with the loaded model would have two outputs, and libraries
    that read ``layer.output``, such as tf-keras-vis, would get the loaded model's); a
    subclassed model is nested instead."""
    shape = tuple(model.inputs[0].shape[1:])
    if isinstance(model, keras.Sequential):
        twin = keras.Sequential([keras.Input(shape), layer,
                                 *(type(la).from_config(la.get_config()) for la in model.layers)], name=model.name)
    else:
        fed = {}

        def call(op, *args, **kwargs):  # the layers reading the model's input read the step's output
            x = args[0] if args else None
            history = getattr(x, "_keras_history", None)
            if history is not None and isinstance(history[0], keras.layers.InputLayer):
                args = (fed.setdefault(id(x), layer(x)), *args[1:])
            return op(*args, **kwargs)

        try:
            twin = keras.models.clone_model(model, call_function=call)
        except (ValueError, TypeError, NotImplementedError):  # not a graph of layers: nest it
            inp = keras.Input(shape, name="image")
            return keras.Model(inp, model(layer(inp)), name=model.name)
    twin.set_weights(model.get_weights())
    return twin


def _size(shape):
    return None if shape[1] is None or shape[2] is None else int(shape[1]) * int(shape[2])


def pick_layers(model) -> dict:
    """shallow / mid / last -> the layer picked as the module docstring says; {} for a model
    with no (batch, height, width, channels) layer."""
    import tfcam

    explainable = tfcam.explainable_layers(model)  # in execution order, one per path
    in_shape = tuple(model.inputs[0].shape)
    # preprocessing steps keep the input's shape: they are not the model's layers
    found = [e for e in explainable if tuple(e.shape[1:]) != in_shape[1:]]
    if not found:
        return {}
    paths = [e.path for e in found]
    last = next((e.path for e in explainable if e.default), None)
    paths = paths[:paths.index(last) + 1] if last in paths else paths
    size_of = {e.path: _size(e.shape) for e in found}
    picked = {"last": len(paths) - 1}
    full = _size(in_shape)
    for choice, fraction in SIZE_FRACTION.items():
        sizes = [size_of[p] for p in paths]
        if full is None or None in sizes:
            break
        target = full * fraction ** 2
        # the last layer of the size closest to the target (log scale)
        gaps = [abs(np.log(s / target)) for s in sizes]
        best = min(gaps)
        picked[choice] = max(i for i, g in enumerate(gaps) if g == best)
    if not picked.get("shallow", -1) < picked.get("mid", -1) < picked["last"]:
        n = picked["last"]
        picked.update(shallow=n // 3, mid=(2 * n) // 3)
    return {c: paths[picked[c]] for c in LAYER_CHOICES}


def check_named_layers(model, named: dict) -> None:
    """Each ``model.layers`` name is a layer of the model (tfcam's lookup and its message)."""
    from tfcam import graph
    from tfcam.layer_lookup import find_layer
    program = graph.trace(model)
    for choice, name in named.items():
        try:
            find_layer(program, str(name))
        except ValueError as e:
            raise ValueError(f"model.layers.{choice}={name}: {e}") from None


def load(model_cfg, log=print) -> Loaded:
    """The model of ``model.path`` (its preprocessing in front), its info and its layers."""
    path = model_file(model_cfg)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)  # no Lambda code runs
    except Exception as e:  # noqa: BLE001 - one line: which file, and Keras' reason
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"Keras cannot load model.path={path}: {reason} (save it with model.save('model.keras'); "
                         f"custom layers need keras.saving.register_keras_serializable)") from None
    name = str(model_cfg.get("name") or path.stem)
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        raise ValueError(f"model {name} ({path}) takes inputs {[tuple(x.shape) for x in model.inputs]}: "
                         f"the benchmark explains models of one image input (batch, height, width, 3)")
    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
        raise ValueError(f"model {name} ({path}) outputs {[tuple(x.shape) for x in model.outputs]}: "
                         f"the benchmark explains class scores (batch, classes)")
    pre = preprocess_layer(model_cfg.get("preprocess"))
    if pre is not None:
        model = with_preprocess(model, pre)
    named = {str(k): str(v) for k, v in (model_cfg.get("layers") or {}).items()}
    check_named_layers(model, named)
    picked = {**pick_layers(model), **named}
    log(f"[tfcam-bench] {name}: your model {path} (preprocess {model_cfg.get('preprocess') or 'none'}; "
        f"layers {picked or 'none with a (batch, height, width, channels) output'})")
    info = ModelInfo(name, "saved", None, str(path), True, 0.0)
    return Loaded(model, info, picked)


def input_size(model) -> tuple:
    """(height, width) the model takes, None where it takes any."""
    shape = model.inputs[0].shape
    return shape[1], shape[2]


def num_classes(model) -> int:
    return int(model.outputs[0].shape[-1])
