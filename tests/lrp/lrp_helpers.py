"""Tiny models, a numpy LRP reference and walk helpers for the LRP tests only."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfcam import graph
from tfcam.lrp import composites
from tfcam.lrp.start import start_vector
from tfcam.lrp.walk import Walk

L = keras.layers


@keras.saving.register_keras_serializable(package="tfcam_lrp_tests")
class NumpyInit(keras.initializers.Initializer):
    """Glorot-uniform weights drawn with numpy: on JAX, Keras' own random initializers
    compile an XLA program per shape (seconds each on a small CPU)."""

    def __init__(self, seed=0):
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def get_config(self):
        return {"seed": self.seed}

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in = receptive * (shape[-2] if len(shape) > 1 else shape[-1])
        fan_out = receptive * shape[-1]
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        values = self.rng.uniform(-limit, limit, shape).astype(dtype or "float32")
        return ops.convert_to_tensor(values)


def init(seed=0) -> dict:
    """Layer keyword arguments for numpy-initialized kernels: `L.Dense(4, **init(seed))`."""
    return {"kernel_initializer": NumpyInit(seed)}


# ------------------------------------------------------------------ models
def vgg_style(size=16, classes=4, use_bias=True, seed=0, softmax=True, name="vgg"):
    """conv-relu-conv-relu-pool-conv(relu inside)-pool-flatten-dense-relu-dropout-dense."""
    k = dict(init(seed), use_bias=use_bias)
    inp = keras.Input((size, size, 3))
    x = L.Conv2D(6, 3, padding="same", name="conv1", **k)(inp)
    x = L.ReLU(name="relu1")(x)
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv2", **k)(x)
    x = L.MaxPooling2D(name="pool1")(x)
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv3", **k)(x)
    x = L.MaxPooling2D(name="pool2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(16, activation="relu", name="fc1", **k)(x)
    x = L.Dropout(0.5, name="drop")(x)
    out = L.Dense(classes, activation="softmax" if softmax else None, name="fc2", **k)(x)
    model = keras.Model(inp, out, name=name)
    if use_bias:
        randomize_biases(model, seed)
    return model


def randomize_biases(model, seed=0, scale=0.1):
    """Non-zero biases (Keras starts them at zero), so that rules' bias handling matters."""
    rng = np.random.default_rng(seed + 1000)
    for layer in _all_layers(model):
        bias = getattr(layer, "bias", None)
        if bias is not None and not isinstance(layer, L.BatchNormalization):
            bias.assign(rng.normal(0, scale, bias.shape).astype("float32"))


def randomize_batchnorm(model, seed=0):
    """Non-trivial BatchNorm statistics, so that folding matters."""
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                rng.normal(0, 0.1, beta.shape).astype("float32"),
                rng.normal(0, 0.1, mean.shape).astype("float32"),
                rng.uniform(0.5, 2.0, var.shape).astype("float32"),
            ])


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def resnet_style(size=16, classes=4, use_bias=True, batchnorm=True, seed=0, name="resnet"):
    """conv stem, two residual blocks (identity and projection shortcut), GAP, dense."""
    k = dict(init(seed), use_bias=use_bias)

    def conv_bn(x, filters, kernel, stride, name, relu=True):
        x = L.Conv2D(filters, kernel, strides=stride, padding="same", name=name + "_conv",
                     **k)(x)
        if batchnorm:
            x = L.BatchNormalization(name=name + "_bn")(x)
        return L.Activation("relu", name=name + "_relu")(x) if relu else x

    inp = keras.Input((size, size, 3))
    x = conv_bn(inp, 8, 3, 1, "stem")
    y = conv_bn(x, 8, 3, 1, "b1_1")
    y = conv_bn(y, 8, 3, 1, "b1_2", relu=False)
    x = L.Activation("relu", name="b1_out")(L.Add(name="b1_add")([x, y]))
    y = conv_bn(x, 12, 3, 2, "b2_1")
    y = conv_bn(y, 12, 3, 1, "b2_2", relu=False)
    s = conv_bn(x, 12, 1, 2, "b2_short", relu=False)
    x = L.Activation("relu", name="b2_out")(L.Add(name="b2_add")([s, y]))
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(classes, name="fc", **k)(x)
    model = keras.Model(inp, out, name=name)
    if batchnorm:
        randomize_batchnorm(model, seed)
    if use_bias:
        randomize_biases(model, seed)
    return model


def gap_net(seed=0):
    """conv (5 channels, ReLU) -> GAP -> Dense(3): the net of the closed-form oracles.
    Returns the model and its Dense layer."""
    inp = keras.Input((8, 8, 3))
    conv = L.Conv2D(5, 3, padding="same", activation="relu", name="conv", **init(seed))
    dense = L.Dense(3, name="dense", **init(seed + 1))
    model = keras.Model(inp, dense(L.GlobalAveragePooling2D()(conv(inp))))
    randomize_biases(model, seed)
    return model, dense


def nested_model(size=16, classes=3, seed=0):
    """The transfer-learning pattern: Sequential([base, GAP, Dense(softmax)])."""
    k = init(seed)
    base_in = keras.Input((size, size, 3))
    x = L.Conv2D(6, 3, padding="same", activation="relu", name="inner_conv1", **k)(base_in)
    x = L.MaxPooling2D(name="inner_pool")(x)
    x = L.Conv2D(8, 3, padding="same", name="inner_conv2", **k)(x)
    x = L.ReLU(name="inner_relu")(x)
    base = keras.Model(base_in, x, name="base")
    model = keras.Sequential([keras.Input((size, size, 3)), base, L.GlobalAveragePooling2D(),
                              L.Dense(classes, activation="softmax", **k)], name="outer")
    randomize_biases(model, seed)
    return model


def images(n=2, size=16, channels=3, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, channels)).astype("float32")


# ------------------------------------------------------------------ walking
def relevances(model, x, composite, start="one_hot", target=0, stop=None):
    """Every relevance the walk computes: ({key: numpy}, walk, env) for class `target`.

    Runs eagerly (for these tiny models cheaper than compiling, on both backends).
    """
    program = graph.trace(model)
    walk = Walk(program, composites.get(composite), stop)

    def run(x, indices):
        env = walk.forward(x)
        seed = start_vector(start, env[program.logit_key], indices)
        return env, walk.backward(env, {program.logit_key: seed})

    indices = np.full(len(x), target, "int32")
    env, rel = run(ops.convert_to_tensor(x), ops.convert_to_tensor(indices))
    return {k: np.asarray(v) for k, v in rel.items()}, walk, env


def cut_keys(program):
    """Keys every path from the input to the logits goes through (where relevance of the
    whole network must sum to the output relevance)."""
    inp, out = program.input_keys[0], program.logit_key
    steps = program.plan(frozenset(program.input_keys), (out,))
    keys = {inp} | {k for s in steps for k in s.outputs}
    cuts = []
    for key in keys:
        reached = {inp} - {key}
        for step in steps:
            if any(k in reached for k in step.inputs):
                reached.update(k for k in step.outputs if k != key)
        if out not in reached or key == out:
            cuts.append(key)
    return cuts


# ------------------------------------------------------------------ numpy reference
def linear_jacobian(layer, in_shape):
    """(J, b) with layer_linear(x).ravel() = J @ x.ravel() + b, for one sample, by probing a
    copy of the layer with a linear activation (independent of tfcam's LinearMap)."""
    config = dict(layer.get_config(), activation="linear")
    for key in ("kernel_initializer", "depthwise_initializer", "pointwise_initializer"):
        if key in config:
            config[key] = "zeros"  # the weights are copied over below
    clone = type(layer).from_config(config)
    clone.build((1, *in_shape))
    clone.set_weights(layer.get_weights())
    n = int(np.prod(in_shape))
    probes = np.concatenate([np.zeros((1, n)), np.eye(n)]).reshape(n + 1, *in_shape)
    out = np.asarray(clone(probes.astype("float32")), dtype="float64").reshape(n + 1, -1)
    b = out[0]
    return (out[1:] - b).T, b


def _stab(z, eps):
    return z + eps * np.where(z >= 0, 1.0, -1.0)


def np_rule(name, J, b, a, R, **kw):
    """Relevance of the inputs a (in,) of z = J a + b given the outputs' relevance R (out,)."""
    Jp, Jn = np.maximum(J, 0), np.minimum(J, 0)
    if name in ("zero", "epsilon"):
        eps = kw.get("epsilon", 1e-9)
        return a * (J.T @ (R / _stab(J @ a + b, eps)))
    if name == "gamma":
        g, eps = kw.get("gamma", 0.25), kw.get("epsilon", 1e-6)
        Jg, bg = J + g * Jp, b + g * np.maximum(b, 0)
        return a * (Jg.T @ (R / _stab(Jg @ a + bg, eps)))
    if name in ("alphabeta", "zplus"):
        alpha, beta = (1.0, 0.0) if name == "zplus" else (kw.get("alpha", 2.0), kw.get("beta", 1.0))
        use_bias = name != "zplus"
        C = J * a[None, :]
        Cp, Cn = np.maximum(C, 0), np.minimum(C, 0)
        zp = Cp.sum(1) + (np.maximum(b, 0) if use_bias else 0)
        zn = Cn.sum(1) + (np.minimum(b, 0) if use_bias else 0)
        out = alpha * (Cp.T @ (R / _stab(zp, 1e-9)))
        if beta:
            out = out - beta * (Cn.T @ (R / _stab(zn, 1e-9)))
        return out
    if name == "zbox":
        lo, hi = kw["low"], kw["high"]
        z = J @ a - Jp @ lo - Jn @ hi
        s = R / _stab(z, kw.get("epsilon", 1e-6))
        return a * (J.T @ s) - lo * (Jp.T @ s) - hi * (Jn.T @ s)
    if name == "flat":
        M = (J != 0).astype("float64")
        return M.T @ (R / _stab(M.sum(1), 1e-9))
    if name == "wsquare":
        W2 = J ** 2
        return W2.T @ (R / _stab(W2.sum(1), 1e-9))
    raise ValueError(name)
