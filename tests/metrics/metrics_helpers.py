"""Tiny models and backend-specific gradient helpers for the metrics tests only."""

from __future__ import annotations

import keras
import numpy as np


def mean_model(weights, bias, channels=1, size=4, softmax=False):
    """Output = Dense(mean of the pixels per channel) with fixed weights (C, K)."""
    inp = keras.Input((size, size, channels))
    x = keras.layers.GlobalAveragePooling2D()(inp)
    dense = keras.layers.Dense(len(bias), activation="softmax" if softmax else None)
    out = dense(x)
    model = keras.Model(inp, out)
    dense.set_weights([np.asarray(weights, np.float32).reshape(channels, len(bias)), np.asarray(bias, np.float32)])
    return model


def linear_model(weights, bias, size=4, channels=1, softmax=False):
    """Output = Dense(flattened image) with fixed weights (H*W*C, K)."""
    inp = keras.Input((size, size, channels))
    x = keras.layers.Flatten()(inp)
    dense = keras.layers.Dense(len(bias), activation="softmax" if softmax else None)
    model = keras.Model(inp, dense(x))
    dense.set_weights([np.asarray(weights, np.float32), np.asarray(bias, np.float32)])
    return model


def np_softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def small_cnn(size=16, channels=1, classes=2, seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(classes, name="logits")(x)
    return keras.Model(inp, out)


def square_data(n=64, size=16, seed=0):
    """Two classes: a bright (0) or dark (1) 4x4 square somewhere on faint noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.1, (n, size, size, 1)).astype(np.float32)
    y = rng.integers(0, 2, n)
    for i in range(n):
        r = rng.integers(0, size - 4)
        c = rng.integers(0, size - 4)
        x[i, r : r + 4, c : c + 4, 0] += -1.0 if y[i] else 1.0
    return x, y


def trained_cnn(seed=0):
    model = small_cnn(seed=seed)
    x, y = square_data(96, seed=seed)
    model.compile(
        optimizer=keras.optimizers.Adam(0.03),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, epochs=30, batch_size=96, verbose=0)  # full batch: one compiled step
    return model


def split_model(model, layer):
    layer = model.get_layer(layer) if isinstance(layer, str) else layer
    body = keras.Model(model.inputs[0], layer.output)
    head = keras.Model(layer.output, model.outputs[0])
    return body, head


def logit_gradients(head, a, targets):
    """Gradient of head(a)[i, targets[i]] with respect to a, and the logits."""
    t = np.asarray(targets).reshape(-1)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        a = tf.convert_to_tensor(a)
        with tf.GradientTape() as tape:
            tape.watch(a)
            out = head(a)
            s = tf.gather(out, t, batch_dims=1)
            total = tf.reduce_sum(s)
        g = tape.gradient(total, a)
        return np.asarray(g), np.asarray(s)
    import jax
    import jax.numpy as jnp

    def f(a):
        s = head(a)[jnp.arange(t.size), t]
        return jnp.sum(s), s

    (_, s), g = jax.value_and_grad(f, has_aux=True)(jnp.asarray(a))
    return np.asarray(g), np.asarray(s)


def layer_gradients(model, images, layer, targets):
    """(activations, dS/dA, logits S) at a layer of a chain-like Functional model."""
    body, head = split_model(model, layer)
    a = keras.ops.convert_to_numpy(body(images))
    n = a.shape[0]
    t = np.broadcast_to(np.asarray(targets), (n,))
    g, s = logit_gradients(head, a, t)
    return a, g, s


def ablation_importance(model, images, layer, targets):
    """(N, K) (S - S_{A^k=0}) / S on the logits."""
    body, head = split_model(model, layer)
    a = keras.ops.convert_to_numpy(body(images))
    n, h, w, k = a.shape
    t = np.broadcast_to(np.asarray(targets), (n,))
    s = keras.ops.convert_to_numpy(head(a))[np.arange(n), t]
    ablated = np.repeat(a[:, None], k, axis=1)  # (n, k, h, w, k)
    ablated[:, np.arange(k), :, :, np.arange(k)] = 0.0
    sk = keras.ops.convert_to_numpy(head(ablated.reshape(n * k, h, w, k))).reshape(n, k, -1)
    sk = sk[np.arange(n), :, t]
    return (s[:, None] - sk) / s[:, None]


def gradcam_maps(model, images, targets, layer="conv2"):
    """Grad-CAM at `layer`, ReLU, min-max normalized, (N, H, W) (same size layer)."""
    a, g, _ = layer_gradients(model, images, layer, targets)
    cam = np.maximum((a * g.mean(axis=(1, 2), keepdims=True)).sum(-1), 0)
    lo = cam.min(axis=(1, 2), keepdims=True)
    span = cam.max(axis=(1, 2), keepdims=True) - lo
    return np.where(span > 0, (cam - lo) / np.where(span > 0, span, 1), 0)


def sobel_maps(model, images, targets):
    """Model-independent 'edge detector' explanation."""
    from skimage.filters import sobel

    return np.stack([sobel(im[..., 0]) for im in np.asarray(images)])


def smooth_cnn(size=8, channels=1, classes=3, seed=0):
    """A smooth but clearly nonlinear (tanh, large weights) convolutional model: Integrated
    Gradients' integral is well behaved, and far from its first-order approximation."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, channels))
    init = keras.initializers.RandomNormal(stddev=1.5, seed=seed)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="tanh", kernel_initializer=init,
                            bias_initializer=init, name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(classes, name="logits")(x)
    return keras.Model(inp, out)


def relu_mlp_without_bias(size=4, channels=1, classes=3, seed=0):
    """Flatten -> Dense(8, relu) -> Dense(classes), no biases: f(0) = 0 and LRP-0 conserves
    the logit exactly."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, channels))
    x = keras.layers.Flatten()(inp)
    x = keras.layers.Dense(8, activation="relu", use_bias=False)(x)
    out = keras.layers.Dense(classes, use_bias=False)(x)
    return keras.Model(inp, out)
