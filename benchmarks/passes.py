"""The plain passes speed is measured against: one compiled forward, and one compiled
forward+backward (the gradient of each image's target logit with respect to the input).

Both are compiled the way tfcam compiles its own functions (``tfcam.backend``): a
``tf.function`` on TensorFlow, a ``jax.jit`` stateless call with the weights passed in on JAX
(what ``model.stateless_call`` does), never ``model.predict``. They return numpy, so a timing
includes the wait for the device, as a user's call of an explainer does.
"""
from __future__ import annotations

import numpy as np


def compiled_forward(model):
    """``f(images) -> outputs`` (numpy)."""
    from tfcam import backend

    step = backend.compile_function(lambda x: model(x, training=False), model.variables)
    return lambda x: np.asarray(step(x))


def compiled_forward_backward(model):
    """``f(images, targets=None) -> d(sum of the target logits)/d images`` (numpy); targets
    None: each image's top output."""
    import keras

    from tfcam import backend

    def total(x, t):
        out = keras.ops.cast(model(x, training=False), "float32")
        picked = keras.ops.take_along_axis(out, t[:, None], axis=1)
        return keras.ops.sum(picked), out

    grad = backend.value_and_grad(total)
    step = backend.compile_function(lambda x, t: grad(x, t)[2], model.variables)

    def call(x, t=None):
        if t is None:
            t = np.zeros(len(x), "int32")
        return np.asarray(step(x, np.asarray(t, "int32")))

    return call
