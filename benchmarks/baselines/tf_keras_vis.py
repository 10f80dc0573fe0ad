"""tf-keras-vis 0.8.7 as a baseline, returning maps in tfcam's form: (N, H, W) float32 in
[0, 1] at the input resolution.

tf-keras-vis builds a sub-model from the model's inputs to the chosen layer's output; on a
model nested inside another (the transfer-learning pattern) that sub-model is disconnected
and the call fails, and a layer of the inner model cannot be named at all. Those failures
are raised as :class:`BaselineError` with tf-keras-vis's own message, and the runners write
them into the results table instead of dropping the row.
"""
from __future__ import annotations

import contextlib

import numpy as np

METHODS = ("grad_cam", "grad_cam_pp", "score_cam", "layer_cam", "saliency")


class BaselineError(RuntimeError):
    """tf-keras-vis could not explain this model/layer (the message says why)."""


def _visualizer(name: str, model):
    import keras
    if keras.backend.backend() != "tensorflow":
        raise BaselineError(f"tf-keras-vis runs on TensorFlow only; this run uses the "
                            f"{keras.backend.backend()} backend (KERAS_BACKEND=tensorflow for it)")
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
        from tf_keras_vis.layercam import Layercam
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.scorecam import Scorecam
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    except Exception as e:  # not installed, or broken on this TensorFlow
        raise BaselineError(f"tf-keras-vis unavailable: {type(e).__name__}: {e}") from e
    # Every method gets the logits (the softmax replaced by a linear activation on
    # tf-keras-vis' own clone): the gradient methods differentiate the logit, and Score-CAM
    # applies the softmax itself (`score(K.softmax(preds))` in scorecam.py), so it scores
    # probabilities as the paper and tfcam do. Left with the model's softmax, it scored the
    # softmax of probabilities, whose maps barely depend on the class (class sensitivity
    # 0.000 on every layer of the layers run).
    classes = {"grad_cam": Gradcam, "grad_cam_pp": GradcamPlusPlus, "layer_cam": Layercam,
               "saliency": Saliency, "score_cam": Scorecam}
    if name not in classes:
        raise ValueError(f"no tf-keras-vis baseline {name!r}; known: {sorted(classes)}")
    try:
        return classes[name](model, model_modifier=ReplaceToLinear(), clone=True)
    except Exception as e:
        raise BaselineError(f"{type(e).__name__}: {e}") from e


@contextlib.contextmanager
def _quiet_keras():
    """tf-keras-vis' Score-CAM calls ``model.predict`` with Keras' progress bar on (one bar
    per call on the console); off for the call, restored after."""
    import keras
    was = keras.utils.is_interactive_logging_enabled()
    keras.utils.disable_interactive_logging()
    try:
        yield
    finally:
        if was:
            keras.utils.enable_interactive_logging()


class TfKerasVisExplainer:
    """``explainer(images, targets) -> maps`` for one tf-keras-vis method on one model/layer."""

    library = "tf-keras-vis"

    def __init__(self, name: str, model, layer: str | None, options: dict | None = None):
        self.name, self.model, self.layer = name, model, layer
        self.options = dict(options or {})
        self._viz = _visualizer(name, model)

    def __call__(self, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
        images = np.asarray(images, np.float32)
        targets = np.asarray(targets).reshape(-1)
        with _quiet_keras():
            if self.name == "score_cam" and "max_N" in self.options:
                # tf-keras-vis 0.8.7 keeps, for every image of a call, the union over the batch
                # of each image's top max_N channels (tf.unique of the batch's top-k): up to
                # batch × max_N channels. One image per call is Faster Score-CAM as published.
                return np.concatenate([self._maps(images[i:i + 1], targets[i:i + 1])
                                       for i in range(len(images))])
            return self._maps(images, targets)

    def _maps(self, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
        from tf_keras_vis.utils.scores import CategoricalScore
        score = CategoricalScore([int(t) for t in targets])
        try:
            if self.name == "saliency":
                maps = self._viz(score, images, keepdims=False, **self.options)
            else:
                maps = self._viz(score, images, penultimate_layer=self.layer,
                                 seek_penultimate_conv_layer=False, **self.options)
        except Exception as e:
            raise BaselineError(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]) from e
        maps = np.asarray(maps, np.float32).reshape(len(images), *images.shape[1:3])
        return _unit(maps)


def _unit(maps: np.ndarray) -> np.ndarray:
    """Per-map min-max to [0, 1]; NaN/inf and constant maps become 0."""
    maps = np.nan_to_num(maps, nan=0.0, posinf=0.0, neginf=0.0)
    lo = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - lo
    return np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1), 0).astype(np.float32)
