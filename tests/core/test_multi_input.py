"""Models with several inputs: a list (input order) or a dict by input name; one map per input.

Input-space methods give a list with one map per input; CAMs a list with the layer map
resized to each input of the layer's spatial rank (None for the others); `input=` gives one.
"""

import keras
import numpy as np
import pytest

import tfcam
from tests.core import nets
from tfcam.registry import lookup

L = keras.layers
# Every registered method (a new one is tested here without being listed): the CAMs make a
# layer map; the others (Guided Grad-CAM too: guided backprop times a CAM) a map per input.
CAMS = [m for m in tfcam.methods() if lookup(m).needs_layer and m != "guided_grad_cam"]
INPUT_SPACE = [m for m in tfcam.methods() if m not in CAMS]
FAST = {"smooth_grad": dict(samples=3), "integrated_gradients": dict(steps=4)}


def _rng(seed=0):
    return np.random.default_rng(seed)


def two_images(classes=3):
    """Two image inputs of different sizes, a conv branch each, joined after pooling."""
    a, b = keras.Input((8, 8, 3), name="left"), keras.Input((6, 6, 2), name="right")
    x = L.GlobalAveragePooling2D()(L.Conv2D(4, 3, padding="same", activation="relu",
                                            name="conv_a")(a))
    y = L.GlobalAveragePooling2D()(L.Conv2D(3, 3, padding="same", activation="relu",
                                            name="conv_b")(b))
    return keras.Model([a, b], L.Dense(classes, name="head")(L.Concatenate()([x, y])))


def two_images_inputs(n=3, seed=0):
    rng = _rng(seed)
    return [rng.random((n, 8, 8, 3), dtype="float32"), rng.random((n, 6, 6, 2), dtype="float32")]


def image_and_vector(classes=3):
    """An image (conv branch) and a feature vector (Dense branch)."""
    a, b = keras.Input((8, 8, 3), name="image"), keras.Input((5,), name="meta")
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(a)
    x = L.GlobalAveragePooling2D()(L.MaxPooling2D()(x))
    y = L.Dense(3, activation="relu", name="meta_dense")(b)
    return keras.Model([a, b], L.Dense(classes, name="head")(L.Concatenate()([x, y])))


def image_and_vector_inputs(n=3, seed=0):
    rng = _rng(seed)
    return [rng.random((n, 8, 8, 3), dtype="float32"), rng.random((n, 5), dtype="float32")]


def linear_two(classes=3):
    """Flatten each input -> Concatenate -> Dense: S_c = x_a·W_a + x_b·W_b + b_c."""
    a, b = keras.Input((4, 4, 2), name="a"), keras.Input((3, 3, 1), name="b")
    c = keras.Input((4,), name="c")
    joined = L.Concatenate()([L.Flatten()(a), L.Flatten()(b), c])
    head = L.Dense(classes, name="head")
    model = keras.Model([a, b, c], head(joined))
    rng = _rng(5)
    head.set_weights([rng.normal(size=(45, classes)).astype("float32"),
                      rng.normal(size=classes).astype("float32")])
    return model, head


def linear_inputs(n=2, seed=1):
    rng = _rng(seed)
    return [rng.normal(size=(n, 4, 4, 2)).astype("float32"),
            rng.normal(size=(n, 3, 3, 1)).astype("float32"),
            rng.normal(size=(n, 4)).astype("float32")]


def kernel_rows(head, target):
    """The Dense kernel column of `target`, cut and reshaped per input."""
    w = np.asarray(head.kernel)[:, target]
    return [w[:32].reshape(4, 4, 2), w[32:41].reshape(3, 3, 1), w[41:]]


# ------------------------------------------------------------------ closed forms
@pytest.mark.parametrize("method", ["saliency", "input_x_gradient", "integrated_gradients",
                                    "guided_backprop", "deconvnet"])
def test_linear_model_gradients_are_the_kernel_rows(method):
    model, head = linear_two()
    x = linear_inputs()
    ex = tfcam.explain(model, x, method, targets=1, **FAST.get(method, {}))
    rows = kernel_rows(head, 1)
    assert ex.input_names == ("a", "b", "c")
    assert isinstance(ex.maps, list) and len(ex.maps) == 3
    for xi, w, got in zip(x, rows, ex.attributions):
        expected = np.broadcast_to(w, xi.shape)
        if method in ("input_x_gradient", "integrated_gradients"):
            expected = xi * w  # exact for a linear score (IG from a zero baseline)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # Saliency's raw map: max over channels of |W| (the vector input keeps its features).
    if method == "saliency":
        for w, raw in zip(rows, ex.raw):
            expected = np.abs(w).max(axis=-1) if w.ndim == 3 else np.abs(w)
            np.testing.assert_allclose(raw, np.broadcast_to(expected, raw.shape), rtol=1e-5)
    scores = sum((xi * w).reshape(len(xi), -1).sum(1) for xi, w in zip(x, rows))
    np.testing.assert_allclose(ex.scores, scores + np.asarray(head.bias)[1], rtol=1e-4,
                               atol=1e-5)


def test_linear_model_occlusion_of_features_is_exact():
    model, head = linear_two()
    x = linear_inputs()
    ex = tfcam.explain(model, x, "occlusion", targets=2, patch=1, stride=1)
    rows = kernel_rows(head, 2)
    for xi, w, raw in zip(x, rows, ex.raw):  # one pixel / feature at a time, baseline 0
        expected = xi * w
        expected = expected.sum(-1) if xi.ndim == 4 else expected
        np.testing.assert_allclose(raw, expected, rtol=1e-4, atol=1e-5)
    assert ex.raw[2].shape == (2, 4)
    assert list(ex.perturbed_inputs) == [16 + 9 + 4] * 2


def test_integrated_gradients_baselines_per_input_and_completeness():
    model, head = linear_two()
    x = linear_inputs()
    baselines = [0.5, np.full((3, 3, 1), -1.0, "float32"), 0.0]
    ex = tfcam.explain(model, x, "integrated_gradients", targets=0, baseline=baselines, steps=4)
    rows = kernel_rows(head, 0)
    for xi, b, w, got in zip(x, baselines, rows, ex.attributions):
        np.testing.assert_allclose(got, (xi - b) * w, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"baseline is a list of 2, but model .* has 3 inputs "
                                         r"\['a', 'b', 'c'\]"):
        tfcam.explain(model, x, "integrated_gradients", baseline=[0.0, 0.0], steps=2)


def _single_and_two_branch():
    """A single-input conv -> GAP -> Dense model, and a two-input model whose branch for
    'image' is the same layers and whose other branch has zero weight in the head."""
    conv = L.Conv2D(4, 3, padding="same", activation="relu", name="conv")
    pool, head = L.GlobalAveragePooling2D(), L.Dense(3, name="head")
    inp = keras.Input((8, 8, 3), name="image")
    single = keras.Model(inp, head(pool(conv(inp))))
    a, b = keras.Input((8, 8, 3), name="image"), keras.Input((6, 6, 2), name="other")
    y = L.GlobalAveragePooling2D()(L.Conv2D(5, 3, activation="relu", name="conv_other")(b))
    joint = L.Dense(3, name="joint_head")
    double = keras.Model([a, b], joint(L.Concatenate()([pool(conv(a)), y])))
    kernel, bias = head.get_weights()
    joint.set_weights([np.concatenate([kernel, np.zeros((5, 3), "float32")]), bias])
    return single, double


@pytest.mark.parametrize("method", ["grad_cam", "cam", "score_cam", "ablation_cam", "layer_cam",
                                    "relevance_cam"])
def test_branch_with_zero_weight_gives_the_single_input_map(method):
    single, double = _single_and_two_branch()
    x = nets.images(n=3, size=8)
    other = _rng(3).random((3, 6, 6, 2), dtype="float32")
    alone = tfcam.explain(single, x, method, layer="conv", targets=[0, 2, 1])
    joint = tfcam.explain(double, [x, other], method, layer="conv", targets=[0, 2, 1])
    assert joint.maps[1].shape == (3, 6, 6)  # 'other' is an image too: the map, resized
    np.testing.assert_allclose(joint.maps[0], alone.maps, atol=1e-5)
    np.testing.assert_allclose(joint.raw, alone.raw, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(joint.scores, alone.scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(joint.for_input("image"), alone.maps, atol=1e-5)


# ------------------------------------------------------------------ image + vector
@pytest.mark.parametrize("method", CAMS + INPUT_SPACE)
def test_image_and_vector_model(method):
    model = image_and_vector()
    x = image_and_vector_inputs()
    ex = tfcam.explain(model, x, method, batch_size=2, **FAST.get(method, {}))
    assert ex.input_names == ("image", "meta") and len(ex) == 3
    assert isinstance(ex.maps, list) and len(ex.maps) == 2
    assert ex.maps[0].shape == (3, 8, 8)
    if method in CAMS or method == "guided_grad_cam":
        assert ex.maps[1] is None  # no 2-D map for a feature vector
    else:
        assert ex.maps[1].shape == (3, 5)
        assert ex.raw[1].shape == (3, 5)
    for m in ex.maps:
        if m is not None:
            assert m.dtype == np.float32 and np.isfinite(m).all()
            assert m.min() >= 0 and m.max() <= 1
    if isinstance(ex.attributions, list):
        assert [None if a is None else a.shape for a in ex.attributions] == [
            (3, 8, 8, 3), None if method == "guided_grad_cam" else (3, 5)]
    if method == "lrp":
        assert [r.shape for r in ex.relevance] == [(3, 8, 8, 3), (3, 5)]
    if method != "smooth_grad":  # (its score is the mean over the noisy copies)
        np.testing.assert_allclose(ex.scores, _logits(model, x)[np.arange(3), ex.targets],
                                   rtol=1e-4, atol=1e-5)


def _logits(model, x):
    return np.asarray(model(x))


def test_input_option_gives_one_array():
    model = image_and_vector()
    x = image_and_vector_inputs()
    every = tfcam.explain(model, x, "grad_cam")
    one = tfcam.explain(model, x, "grad_cam", input="image")
    assert one.input_name == "image" and one.maps.shape == (3, 8, 8)
    np.testing.assert_array_equal(one.maps, every.maps[0])
    np.testing.assert_array_equal(one.for_input(0), every.for_input("image"))
    grads = tfcam.explain(model, x, "saliency", input=1)
    assert grads.maps.shape == (3, 5) and grads.attributions.shape == (3, 5)
    np.testing.assert_allclose(grads.maps, tfcam.explain(model, x, "saliency").maps[1])
    occluded = tfcam.explain(model, x, "occlusion", input="meta")
    assert occluded.maps.shape == (3, 5) and list(occluded.perturbed_inputs) == [5] * 3
    with pytest.raises(ValueError, match=r"input='meta' has shape \(None, 5\).*cannot be laid"):
        tfcam.explain(model, x, "grad_cam", input="meta")
    with pytest.raises(ValueError, match=r"no input named 'imag'. Did you mean \['image'\]"):
        tfcam.explain(model, x, "grad_cam", input="imag")


def test_overlay_on_one_input():
    model = image_and_vector()
    x = image_and_vector_inputs()
    ex = tfcam.explain(model, x, "grad_cam")
    rgb = ex.overlay(x, input="image")
    assert rgb.shape == (3, 8, 8, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, ex.overlay(x[0], input=0))
    np.testing.assert_array_equal(rgb, ex.overlay({"image": x[0], "meta": x[1]}, input="image"))
    with pytest.raises(ValueError, match=r"several inputs \['image', 'meta'\]: pass input="):
        ex.overlay(x)
    with pytest.raises(ValueError, match="made no map for input 'meta'"):
        ex.overlay(x, input="meta")


def test_scorecam_masks_the_chosen_input():
    model = two_images()
    x = two_images_inputs()
    first = tfcam.explain(model, x, "score_cam", layer="conv_a")
    assert [m.shape for m in first.maps] == [(3, 8, 8), (3, 6, 6)]
    second = tfcam.explain(model, x, "score_cam", layer="conv_a", input="right")
    assert second.maps.shape == (3, 6, 6)
    assert not np.allclose(first.channel_weights, second.channel_weights)


# ------------------------------------------------------------------ list vs dict, errors
@pytest.mark.parametrize("method", ["grad_cam", "integrated_gradients", "occlusion", "lrp"])
def test_list_and_dict_inputs_agree(method):
    model = two_images()
    x = two_images_inputs()
    as_list = tfcam.explain(model, x, method, **FAST.get(method, {}))
    as_dict = tfcam.explain(model, {"right": x[1], "left": x[0]}, method,
                            **FAST.get(method, {}))
    as_tuple = tfcam.explain(model, tuple(x), method, **FAST.get(method, {}))
    for other in (as_dict, as_tuple):
        for got, want in zip(other.maps, as_list.maps):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(other.scores, as_list.scores)


def test_unnamed_inputs_are_known_by_their_input_layer_names_too():
    a, b = keras.Input((4,)), keras.Input((3,))
    model = keras.Model([a, b], L.Dense(2)(L.Concatenate()([a, b])))
    x = [np.ones((2, 4), "float32"), np.ones((2, 3), "float32")]
    by_layer = {a._keras_history.operation.name: x[0], b._keras_history.operation.name: x[1]}
    by_tensor = {a.name: x[0], b.name: x[1]}
    want = tfcam.explain(model, x, "saliency").maps
    for given in (by_layer, by_tensor):
        for got, expected in zip(tfcam.explain(model, given, "saliency").maps, want):
            np.testing.assert_array_equal(got, expected)


@pytest.fixture(scope="module")
def model():
    return two_images()


def test_dict_with_a_wrong_name(model):
    x = two_images_inputs()
    with pytest.raises(ValueError, match=r"model '.*' has no input named 'rigth' \(did you mean "
                                         r"\['right'\]\?\); its inputs are \['left', 'right'\]"):
        tfcam.explain(model, {"left": x[0], "rigth": x[1]}, "grad_cam")


def test_dict_with_a_missing_name(model):
    x = two_images_inputs()
    with pytest.raises(ValueError, match=r"inputs lack \['right'\]: model .* takes 2 inputs "
                                         r"\['left', 'right'\]"):
        tfcam.explain(model, {"left": x[0]}, "saliency")


@pytest.mark.parametrize("count", [1, 3])
def test_wrong_number_of_inputs(model, count):
    x = two_images_inputs() + two_images_inputs()
    with pytest.raises(ValueError, match=rf"takes 2 inputs \['left', 'right'\]; got a list of "
                                         rf"{count} arrays"):
        tfcam.explain(model, x[:count], "grad_cam")


def test_one_array_for_a_two_input_model(model):
    with pytest.raises(ValueError, match=r"takes 2 inputs \['left', 'right'\]; got one array of "
                                         r"shape \(3, 8, 8, 3\)\. Pass a list"):
        tfcam.explain(model, two_images_inputs()[0], "grad_cam")


def test_different_batch_sizes(model):
    x = two_images_inputs()
    with pytest.raises(ValueError, match=r"different batch sizes \('left' 3, 'right' 2\)"):
        tfcam.explain(model, [x[0], x[1][:2]], "grad_cam")


def test_wrong_shape_names_the_input(model):
    x = two_images_inputs()
    with pytest.raises(ValueError, match=r"input 'right' of model .* expects shape "
                                         r"\(None, 6, 6, 2\); got \(3, 5, 6, 2\)"):
        tfcam.explain(model, [x[0], np.zeros((3, 5, 6, 2), "float32")], "grad_cam")
    with pytest.raises(ValueError, match=r"input 'right' of model .* expects 2 channels "
                                         r"\(shape \(None, 6, 6, 2\)\); got 3"):
        tfcam.explain(model, [x[0], np.zeros((3, 6, 6, 3), "float32")], "grad_cam")
    with pytest.raises(ValueError, match=r"input 'left' .* got one sample of shape \(8, 8, 3\)"):
        tfcam.explain(model, [x[0][0], x[1]], "grad_cam")


def test_nan_in_the_second_input(model):
    x = two_images_inputs(n=4)
    x[1][2, 0, 0, 1] = np.nan
    with pytest.raises(ValueError, match=r"input 'right': 1 of 4 samples contain NaN or inf "
                                         r"values \(indices 2\)"):
        tfcam.explain(model, x, "grad_cam")


def test_single_input_model_takes_a_dict_by_name():
    single, _ = _single_and_two_branch()
    x = nets.images(n=2, size=8)
    ex = tfcam.explain(single, {"image": x}, "grad_cam")
    assert ex.input_names is None and ex.maps.shape == (2, 8, 8)
    np.testing.assert_array_equal(ex.maps, tfcam.explain(single, x, "grad_cam").maps)


# ------------------------------------------------------------------ all 17 methods
@pytest.mark.parametrize("method", tfcam.methods())
def test_every_method_on_two_image_inputs(method):
    model = two_images()
    x = two_images_inputs()
    ex = tfcam.explain(model, x, method, layer="conv_b", batch_size=2, **FAST.get(method, {}))
    assert ex.input_names == ("left", "right") and ex.targets.shape == (3,)
    assert [m.shape for m in ex.maps] == [(3, 8, 8), (3, 6, 6)]
    for m in ex.maps:
        assert np.isfinite(m).all() and m.min() >= 0 and m.max() <= 1
    if method in CAMS:
        assert ex.layer == "conv_b" and ex.raw.shape == (3, 6, 6)
    else:
        assert [r.shape for r in ex.raw] == [(3, 8, 8), (3, 6, 6)]
    if method in ("saliency", "lrp", "guided_backprop", "input_x_gradient"):
        assert np.abs(ex.attributions[0]).sum() > 0 and np.abs(ex.attributions[1]).sum() > 0


class _Residual(L.Layer):
    """A custom layer made of layers: traced into its inner layers, checked once."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = L.Conv2D(3, 3, padding="same")
        self.relu = L.ReLU()

    def call(self, x):
        return self.relu(self.conv(x) + x)


def test_vector_first_custom_block_and_explicit_layer():
    """The image comes second and goes through a traced custom block (its graph is checked
    against the model with all inputs)."""
    meta, image = keras.Input((5,), name="meta"), keras.Input((8, 8, 3), name="image")
    x = L.GlobalAveragePooling2D()(_Residual(name="block")(image))
    model = keras.Model([meta, image], L.Dense(3)(L.Concatenate()([L.Dense(2)(meta), x])))
    rng = _rng(2)
    x_in = [rng.random((3, 5), dtype="float32"), rng.random((3, 8, 8, 3), dtype="float32")]
    ex = tfcam.explain(model, x_in, "grad_cam", layer="block", batch_size=2)
    assert ex.maps[0] is None and ex.maps[1].shape == (3, 8, 8)
    lrp = tfcam.explain(model, x_in, "lrp")
    assert [r.shape for r in lrp.relevance] == [(3, 5), (3, 8, 8, 3)]
    with pytest.raises(ValueError, match=r"needs a layer with 1 to 3 spatial axes.*'dense"):
        tfcam.explain(model, x_in, "grad_cam", layer=model.layers[-1])
