"""Subclassed models and layers made of layers: traced into graphs of their inner layers.

Each subclassed model here calls the same layer objects as a Functional model built beside
it, so both have the same weights and every method must give the same maps on both.
"""

import keras
import numpy as np
import pytest
from keras import layers, ops

import tfcam
from tests.core import nets
from tfcam.api import method_class

# Every registered method but CAM (its GAP -> Dense head is not these models'): a new
# method is tested here without being listed.
CAM_METHODS = [m for m in tfcam.methods() if method_class(m).needs_layer and m != "cam"]
INPUT_METHODS = [m for m in tfcam.methods() if not method_class(m).needs_layer]
OPTIONS = {"smooth_grad": {"samples": 2}, "integrated_gradients": {"steps": 4}}


class Residual(layers.Layer):
    """A block made of layers (the keras-hub pattern): conv -> BN, added to its input."""

    def __init__(self, channels, name):
        super().__init__(name=name)
        # Unique names: the flat Functional reference holds the layers of both blocks.
        self.conv = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv")
        self.bn = layers.BatchNormalization(name=f"{name}_bn")
        self.add = layers.Add(name=f"{name}_add")

    def call(self, x, training=None):
        return ops.relu(self.add([x, self.bn(self.conv(x), training=training)]))


class Stage(layers.Layer):
    """A block of blocks: two residual blocks and a pooling."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.first = Residual(channels, name="first")
        self.second = Residual(channels, name="second")
        self.pool = layers.MaxPooling2D(name="pool")

    def call(self, x):
        return self.pool(self.second(self.first(x)))


class Net(keras.Model):
    """Subclassed: a stem, a nested stage of custom blocks, a residual keras.ops addition."""

    def __init__(self, parts, **kwargs):
        super().__init__(**kwargs)
        self.stem, self.stage, self.conv, self.gap, self.head = parts

    def call(self, x):
        x = self.stage(self.stem(x))
        x = self.conv(x) + x  # a residual keras.ops addition, no Add layer
        return self.head(self.gap(x))


def _parts():
    return (layers.Conv2D(4, 3, padding="same", activation="relu", name="stem"),
            Stage(4, name="stage"),
            layers.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(3, activation="softmax", name="head"))


def _functional(parts, size=8):
    """The same layers wired with the Functional API, blocks written out inline."""
    stem, stage, conv, gap, head = parts
    inp = keras.Input((size, size, 3))
    x = stem(inp)
    for block in (stage.first, stage.second):
        x = layers.ReLU(name=f"{block.name}_relu")(block.add([x, block.bn(block.conv(x))]))
    x = stage.pool(x)
    x = layers.Add()([conv(x), x])
    return keras.Model(inp, head(gap(x)))


@pytest.fixture(scope="module")
def twins():
    keras.utils.set_random_seed(3)
    parts = _parts()
    net = Net(parts, name="net")
    x = nets.images(n=3, size=8)
    net(x)  # built, as a trained model is
    # BatchNorm statistics that are not the identity, so that folding BN matters.
    for block in (parts[1].first, parts[1].second):
        block.bn.moving_mean.assign(np.full(4, 0.1, "float32"))
        block.bn.moving_variance.assign(np.full(4, 2.0, "float32"))
    return net, _functional(parts), x


# Every CAM method at a block's output (two custom blocks deep); two of them also at a
# layer inside a block (the suite's time matters: each case compiles on JAX).
@pytest.mark.parametrize("method, layer", [
    *[(method, "stage/second") for method in CAM_METHODS],
    ("grad_cam", "stage/first/first_conv"), ("relevance_cam", "stage/first/first_conv"),
])
def test_cam_methods_equal_functional(twins, method, layer):
    net, functional, x = twins
    inner = layer.rsplit("/", 1)[-1]
    flat_layer = {"stage/second": "second_relu"}.get(layer, inner)  # the block's output
    sub = tfcam.explain(net, x, method, layer=layer, targets=[0, 1, 2])
    ref = tfcam.explain(functional, x, method, layer=flat_layer, targets=[0, 1, 2])
    np.testing.assert_allclose(sub.maps, ref.maps, atol=2e-5)
    np.testing.assert_allclose(sub.scores, ref.scores, rtol=1e-5, atol=1e-6)
    assert sub.layer == layer


@pytest.mark.parametrize("method", INPUT_METHODS)
def test_input_methods_equal_functional(twins, method):
    net, functional, x = twins
    options = OPTIONS.get(method, {})
    sub = tfcam.explain(net, x, method, targets=[2, 0, 1], **options)
    ref = tfcam.explain(functional, x, method, targets=[2, 0, 1], **options)
    np.testing.assert_allclose(sub.maps, ref.maps, atol=2e-5)
    np.testing.assert_allclose(sub.raw, ref.raw, rtol=1e-4, atol=1e-6)


def test_layer_by_object_names_the_block(twins):
    net, _, x = twins
    by_object = tfcam.explain(net, x, "grad_cam", layer=net.stage.second)
    by_path = tfcam.explain(net, x, "grad_cam", layer="stage/second")
    inner = tfcam.explain(net, x, "grad_cam", layer=net.stage.second.conv)
    assert by_object.layer == "stage/second" and inner.layer == "stage/second/second_conv"
    np.testing.assert_array_equal(by_object.maps, by_path.maps)
    assert tfcam.explain(net, x, "grad_cam", layer="second").layer == "stage/second"


def test_model_is_not_modified(twins):
    net, _, x = twins
    weights = [np.array(w) for w in net.get_weights()]
    before = np.asarray(net(x))
    tfcam.explain(net, x, "relevance_cam", layer="stage/first")
    tfcam.explain(net, x, "lrp")
    assert all(np.array_equal(a, b) for a, b in zip(weights, net.get_weights()))
    np.testing.assert_array_equal(before, np.asarray(net(x)))
    assert tfcam.graph.trace(net) is tfcam.graph.trace(net)  # traced once per model


def test_custom_block_in_a_functional_model_is_walked_by_lrp():
    """Before: one opaque step that LRP refused ("no rule for layer ... Residual")."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", name="stem")(inp)
    block = Residual(4, name="block")
    x = block(x)
    out = layers.Dense(2)(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, out)
    x = nets.images(n=2)
    lrp = tfcam.explain(model, x, "lrp", composite="epsilon_plus")
    assert np.isfinite(lrp.raw).all() and lrp.raw.any()
    ex = tfcam.explain(model, x, "relevance_cam", layer="block/block_conv")
    assert ex.layer == "block/block_conv"
    assert tfcam.explain(model, x, "grad_cam").layer == "block"


class _ValueBranch(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(2, 3, name="conv")
        self.head = layers.Dense(2)

    def call(self, x):
        if ops.mean(x) > 0.5:  # Python control flow on a tensor value
            x = x * 2.0
        return self.head(ops.mean(self.conv(x), axis=(1, 2)))


class _TrainingBranch(_ValueBranch):
    def call(self, x, training=False):
        if not training:  # the symbolic call takes this branch, a real call does not
            x = x * 2.0
        return self.head(ops.mean(self.conv(x), axis=(1, 2)))

    def __call__(self, x, training=True, **kwargs):  # inference runs the training branch
        return super().__call__(x, training=True, **kwargs)


def test_untraceable_model_names_reason_and_fix():
    net = _ValueBranch()
    net(nets.images(n=1, size=6))
    with pytest.raises(ValueError, match=r"cannot trace.*keras\.ops"):
        tfcam.explain(net, nets.images(n=1, size=6), "grad_cam")


def test_twin_that_does_not_reproduce_the_model_is_refused():
    net = _TrainingBranch()
    x = nets.images(n=2, size=6)
    net(x)
    with pytest.raises(ValueError, match="does not reproduce model"):
        tfcam.explain(net, x, "grad_cam")


@pytest.mark.parametrize("method", ["grad_cam", "score_cam", "integrated_gradients", "lrp"])
def test_callable_targets_never_reuse_another_callables_trace(method):
    """Regression: compiled functions were keyed on id(callable); CPython reuses the id of a
    freed lambda, so a new lambda hit an old trace and explained another class."""
    model = nets.gap_dense(channels=4, classes=3)  # linear head: y[:, c] is the logit
    x = nets.images(n=2)
    options = OPTIONS.get(method, {})
    # The loop, run twice: it failed this way on both backends before the fix (the
    # freed lambdas' ids are reused within a few calls, but not at a fixed call).
    for c in [0, 2, 1, 0, 2, 1]:
        score = lambda y: y[:, c]  # noqa: E731, B023 - a new function object each time, used at once
        cached = tfcam.explain(model, x, method, targets=score, **options)
        fresh = method_class(method)(model, **options).attribute(x, score)
        by_index = tfcam.explain(model, x, method, targets=c, **options)
        np.testing.assert_allclose(cached.scores, by_index.scores, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(cached.maps, fresh.maps, atol=1e-6)


class _ImageAndVector(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(3, 3, padding="same", name="conv")
        self.head = layers.Dense(2, name="head")

    def call(self, inputs):
        image, vector = inputs
        pooled = ops.mean(self.conv(image), axis=(1, 2))
        return self.head(ops.concatenate([pooled, vector], axis=-1))


class _TwoArguments(_ImageAndVector):
    def call(self, vector, image):  # noqa: D102 - inputs as two arguments
        return super().call([image, vector])


def test_subclassed_model_with_a_list_of_inputs_is_traced():
    net = _ImageAndVector()
    image, vector = nets.images(n=2, size=6), np.ones((2, 4), "float32")
    net([image, vector])
    program = tfcam.graph.trace(net)
    assert program.input_shapes == ((None, 6, 6, 3), (None, 4))
    assert program.input_names == ("input_0", "input_1")
    tfcam.twin.check_reproduces(program, [image, vector])
    np.testing.assert_allclose(np.asarray(program([image, vector])),
                               np.asarray(net([image, vector])), rtol=1e-6)


def test_subclassed_model_with_inputs_as_arguments_names_the_fix():
    net = _TwoArguments()
    net(np.ones((2, 4), "float32"), nets.images(n=2, size=6))
    with pytest.raises(ValueError, match=r"2 arguments \['vector', 'image'\].*one list or dict"):
        tfcam.graph.trace(net)


class _GapDense(keras.Model):
    """conv -> GlobalAveragePooling2D -> Dense, subclassed: the head CAM needs."""

    def __init__(self, functional):
        super().__init__()
        self.conv, self.gap, self.head = functional.layers[1:]

    def call(self, x):
        return self.head(self.gap(self.conv(x)))


def test_cam_on_a_subclassed_model_equals_functional():
    functional = nets.gap_dense(softmax=True)
    net = _GapDense(functional)
    x = nets.images(n=2)
    net(x)
    sub = tfcam.explain(net, x, "cam", layer=net.conv)
    ref = tfcam.explain(functional, x, "cam", layer="conv")
    np.testing.assert_allclose(sub.maps, ref.maps, atol=1e-6)
    np.testing.assert_allclose(sub.channel_weights, ref.channel_weights, atol=1e-6)


def test_subclassed_model_with_a_list_of_inputs_is_explained():
    net = _ImageAndVector()
    image, vector = nets.images(n=2, size=6), np.random.default_rng(1).random((2, 4))
    net([image, vector.astype("float32")])
    ex = tfcam.explain(net, [image, vector], "grad_cam", layer=net.conv, targets=[0, 1])
    assert ex.maps[0].shape == (2, 6, 6) and ex.maps[1] is None
    by_name = tfcam.explain(net, {"input_0": image, "input_1": vector}, "saliency")
    assert by_name.maps[0].shape == (2, 6, 6) and by_name.maps[1].shape == (2, 4)
