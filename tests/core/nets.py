"""Tiny networks whose answers are known in closed form."""

import keras
import numpy as np


def gap_dense(size=8, channels=4, classes=3, softmax=False, name="gap_dense"):
    """conv -> GAP -> Dense: CAM, Grad-CAM and XGrad-CAM agree after normalization."""
    inp = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(classes, activation="softmax" if softmax else None, name="head")(x)
    return keras.Model(inp, out, name=name)


def flatten_dense(size=6, channels=3, classes=3):
    """conv -> Flatten -> Dense: dS/dA is the Dense kernel column, reshaped to (h, w, K)."""
    inp = keras.Input((size, size, 2))
    x = keras.layers.Conv2D(channels, 3, padding="valid", activation="relu", name="conv")(inp)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(classes, name="head")(x)
    return keras.Model(inp, out)


def linear(size=5, channels=2, classes=3):
    """Flatten -> Dense: S_c(x) = sum x * W_c + b_c, so every input-space method is exact."""
    inp = keras.Input((size, size, channels))
    out = keras.layers.Dense(classes, name="head")(keras.layers.Flatten()(inp))
    return keras.Model(inp, out)


def activations(model, layer, images):
    """The layer's output through a plain Keras sub-model (an independent reference)."""
    return np.asarray(keras.Model(model.inputs[0], model.get_layer(layer).output)(images))


def images(n=3, size=8, channels=3, seed=0):
    return np.random.default_rng(seed).random((n, size, size, channels)).astype("float32")


def minmax(m):
    m = np.asarray(m, dtype="float64")
    low = m.min(axis=tuple(range(1, m.ndim)), keepdims=True)
    span = m.max(axis=tuple(range(1, m.ndim)), keepdims=True) - low
    return np.where(span > 0, (m - low) / np.where(span > 0, span, 1), 0)


def upsample(maps, size):
    return np.asarray(keras.ops.image.resize(np.asarray(maps)[..., None], size))[..., 0]
