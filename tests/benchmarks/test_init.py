"""He-normal re-initialization (benchmarks/models/init.py) for plain nets trained from scratch."""
import keras
import numpy as np
import pytest

from benchmarks.models.init import initialize
from benchmarks.models.train import config_hash


def plain_net(depth=8, width=32, size=32):
    """A plain ReLU stack (no batch norm), like VGG's convolutions; no padding, so every
    output sees a full 3x3 window (zero padding would shrink the signal at the borders)."""
    inp = keras.Input((size, size, width))
    x = inp
    for i in range(depth):
        x = keras.layers.Conv2D(width, 3, padding="valid", activation="relu", name=f"conv{i}")(x)
    return keras.Model(inp, x)


def pre_activation_second_moments(model, x):
    """E[z^2] of each convolution's output before its ReLU, in one pass up the stack."""
    moments, h = [], keras.ops.convert_to_tensor(x)
    for layer in model.layers[1:]:
        z = layer.convolution_op(h, layer.kernel) + layer.bias
        moments.append(keras.ops.mean(z ** 2))
        h = layer.activation(z)
    return keras.ops.convert_to_numpy(keras.ops.stack(moments)).astype(float)


def test_he_normal_keeps_the_signal_scale_through_relu_layers():
    # He et al. 2015: Var(w) = 2 / fan_in keeps E[z^2] the same from layer to layer behind
    # ReLUs in expectation; Glorot's 1 / fan_in (fan_in == fan_out here) halves it at each.
    # One net's scale wanders (finite width), so the per-layer drift is averaged over six
    # nets; layer 0 sees the unrectified input, so it starts at layer 1.
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 32)).astype("float32")
    he_drift, glorot_drift = [], []
    for seed in range(6):
        keras.utils.set_random_seed(seed)
        model = plain_net()
        glorot = pre_activation_second_moments(model, x)
        assert initialize(model, "he_normal", seed=seed) == 8
        he = pre_activation_second_moments(model, x)
        he_drift.append(np.log2(he[-1] / he[1]) / 6)
        glorot_drift.append(np.log2(glorot[-1] / glorot[1]) / 6)
    assert abs(np.mean(he_drift)) < 0.4, he_drift          # measured -0.02 to -0.15
    assert np.mean(glorot_drift) < -0.8, glorot_drift      # measured -1.1 (theory: -1)
    kernels = [keras.ops.convert_to_numpy(layer.kernel) for layer in model.layers[1:]]
    fan_in = 3 * 3 * 32
    assert all(abs(k.std() / np.sqrt(2 / fan_in) - 1) < 0.05 for k in kernels)
    assert not np.allclose(kernels[1], kernels[2])  # same shape, different draws
    assert all(not np.any(keras.ops.convert_to_numpy(layer.bias)) for layer in model.layers[1:])


def test_default_leaves_the_model_alone_and_unknown_names_are_refused():
    model = plain_net(depth=2)
    before = [keras.ops.convert_to_numpy(w) for w in model.weights]
    assert initialize(model, "default") == 0
    assert all(np.array_equal(a, keras.ops.convert_to_numpy(b)) for a, b in zip(before, model.weights))
    with pytest.raises(ValueError, match="he_normal"):
        initialize(model, "xavier")


def test_nested_models_are_reached():
    inner = plain_net(depth=3)
    outer = keras.Sequential([keras.Input((32, 32, 32)), inner])
    assert initialize(outer, "he_normal") == 3


def test_init_default_keeps_the_old_cache_key_and_he_normal_gets_a_new_one():
    model, data = {"name": "vgg16"}, {"image_size": 32}
    train = {"n_train": 16, "epochs": 1}
    assert config_hash(model, {**train, "init": "default"}, data) == config_hash(model, train, data)
    assert config_hash(model, {**train, "init": "he_normal"}, data) != config_hash(model, train, data)
