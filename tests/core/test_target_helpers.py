"""The ready-made targets (tfcam/score_targets.py) against numpy on `model.predict`, and
the maps they give on models whose gradients are known: a segmentation target on a 1×1
convolution, a regression target on y = Wx."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tfcam

RNG = np.random.default_rng(0)


def unet(size=8, classes=3):
    """A tiny U-Net: conv, downsample, conv, upsample, skip, 1×1 conv to (N, H, W, C)."""
    inp = keras.Input((size, size, 3))
    enc = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="enc")(inp)
    x = keras.layers.MaxPooling2D(name="down")(enc)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="mid")(x)
    x = keras.layers.UpSampling2D(name="up")(x)
    x = keras.layers.Concatenate(name="skip")([x, enc])
    return keras.Model(inp, keras.layers.Conv2D(classes, 1, name="seg")(x), name="unet")


def pointwise(size=6, channels=2, classes=3):
    """y[n, i, j] = x[n, i, j] @ W: d(class c summed over M)/dx[n, i, j] = M[i, j] W[:, c]."""
    inp = keras.Input((size, size, channels))
    conv = keras.layers.Conv2D(classes, 1, use_bias=False, name="seg")
    model = keras.Model(inp, conv(inp), name="pointwise")
    # kernel columns in different directions: on centred inputs every class wins somewhere
    angles = np.linspace(0, 2 * np.pi, classes, endpoint=False) + 0.3
    kernel = np.stack([np.cos(angles), np.sin(angles)])[:channels] * np.arange(1, classes + 1)
    conv.set_weights([kernel.reshape(1, 1, channels, classes).astype("float32")])
    return model


def linear(size=4, outputs=3):
    """y = W flatten(x), no bias: d y_k / dx = W[:, k] at every x."""
    inp = keras.Input((size, size, 1))
    out = keras.layers.Dense(outputs, use_bias=False, name="head")(keras.layers.Flatten()(inp))
    return keras.Model(inp, out, name="linear")


def embedder(size=6, dim=5):
    inp = keras.Input((size, size, 2))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(dim, name="embedding")(x), name="embedder")


def images(n, size, channels):
    return RNG.random((n, size, size, channels)).astype("float32")


def predict(model, x):
    return model.predict(x, verbose=0)


def cosine(a, b):
    a = a.reshape(len(a), -1)
    return a @ b.reshape(-1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b))


# --------------------------------------------------------------------------- segmentation
def test_segmentation_score_is_the_class_summed_over_the_mask():
    model, x = unet(), images(3, 8, 3)
    mask = np.zeros((8, 8), bool)
    mask[2:6, 1:4] = True
    y = predict(model, x)
    expected = (y[..., 1] * mask).sum(axis=(1, 2))
    target = tfcam.segmentation_target(1, mask=mask)
    np.testing.assert_allclose(np.asarray(target(y)), expected, rtol=1e-5)
    # batch_size=2: the last batch is padded; scores still line up with the images
    ex = tfcam.explain(model, x, method="grad_cam", layer="mid", targets=target, batch_size=2)
    np.testing.assert_allclose(ex.scores, expected, rtol=1e-4)
    assert ex.maps.shape == (3, 8, 8) and ex.maps.max() > 0


def test_segmentation_without_mask_sums_the_pixels_predicted_as_the_class():
    model, x = unet(), images(3, 8, 3)
    y = predict(model, x)
    predicted = y.argmax(-1)
    c = int(np.bincount(predicted.ravel()).argmax())  # a class some pixels are predicted as
    expected = (y[..., c] * (predicted == c)).sum(axis=(1, 2))
    assert np.abs(expected).max() > 0
    ex = tfcam.explain(model, x, method="grad_cam", layer="mid",
                       targets=tfcam.segmentation_target(c))
    np.testing.assert_allclose(ex.scores, expected, rtol=1e-4)
    # all pixels is a different score: the mask=None region is really the predicted one
    assert not np.allclose(ex.scores, y[..., c].sum(axis=(1, 2)), rtol=1e-3)


def test_segmentation_without_mask_is_the_mask_of_the_predicted_pixels():
    # the default region against the explicit one, on one image (a mask is one region)
    model, x = unet(), images(1, 8, 3)
    predicted = predict(model, x).argmax(-1)[0]
    c = int(np.bincount(predicted.ravel()).argmax())
    default = tfcam.explain(model, x, method="grad_cam", layer="mid",
                            targets=tfcam.segmentation_target(c))
    explicit = tfcam.explain(model, x, method="grad_cam", layer="mid",
                             targets=tfcam.segmentation_target(c, mask=predicted == c))
    np.testing.assert_allclose(default.scores, explicit.scores, rtol=1e-6)
    np.testing.assert_allclose(default.maps, explicit.maps, atol=1e-6)


def test_segmentation_gradient_is_zero_outside_the_region():
    model, x = pointwise(), images(2, 6, 2) - 0.5
    labels = predict(model, x).argmax(-1)
    counts = np.bincount(labels.ravel(), minlength=3)
    c = int(np.argmax(np.where(counts < labels.size, counts, -1)))  # predicted on some pixels
    w = np.asarray(model.get_layer("seg").kernel)[0, 0, :, c]
    mask = np.zeros((6, 6), bool)
    mask[1:3, 2:5] = True
    ex = tfcam.explain(model, x, method="saliency", targets=tfcam.segmentation_target(c, mask=mask))
    np.testing.assert_allclose(ex.signed, np.broadcast_to(mask * w.sum(), (2, 6, 6)), atol=1e-6)
    # mask=None: the predicted pixels of each image, a constant region (no gradient through it)
    predicted = labels == c
    assert predicted.any() and not predicted.all()
    ex = tfcam.explain(model, x, method="saliency", targets=tfcam.segmentation_target(c))
    np.testing.assert_allclose(ex.signed, predicted * w.sum(), atol=1e-6)


def test_segmentation_mask_holds_on_copies_integrated_gradients_completeness():
    # a linear model from a zero baseline: the attributions sum to the score exactly, on
    # every path point the same shared mask applies
    model, x = pointwise(), images(2, 6, 2)
    mask = np.zeros((6, 6))
    mask[:3] = 1
    ex = tfcam.explain(model, x, method="integrated_gradients",
                       targets=tfcam.segmentation_target(0, mask=mask))
    expected = (predict(model, x)[..., 0] * mask).sum(axis=(1, 2))
    np.testing.assert_allclose(ex.attributions.sum(axis=(1, 2, 3)), expected, rtol=1e-4)


@pytest.mark.parametrize("spatial", [(7,), (3, 4, 5)])
def test_segmentation_any_spatial_rank(spatial):
    y = RNG.normal(size=(2, *spatial, 3)).astype("float32")
    mask = RNG.random(spatial) > 0.5
    got = tfcam.segmentation_target(2, mask=mask)(y)
    axes = tuple(range(1, 1 + len(spatial)))
    np.testing.assert_allclose(np.asarray(got), (y[..., 2] * mask).sum(axis=axes), rtol=1e-5)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), c=st.integers(0, 2))
def test_segmentation_score_is_additive_over_disjoint_masks(seed, c):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(2, 5, 4, 3)).astype("float32")
    part = rng.integers(0, 3, size=(5, 4))  # 0: neither, 1: in A, 2: in B
    part[0, 0], part[0, 1] = 1, 2  # neither is empty
    a, b = part == 1, part == 2

    def score(mask):
        return np.asarray(tfcam.segmentation_target(c, mask=mask)(y))

    np.testing.assert_allclose(score(a | b), score(a) + score(b), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- regression
def test_regression_target_on_a_linear_model_has_the_weights_as_gradient():
    model, x, k = linear(), images(3, 4, 1), 1
    w = np.asarray(model.get_layer("head").kernel)[:, k].reshape(4, 4)
    target = tfcam.regression_target(index=k)
    saliency = tfcam.explain(model, x, method="saliency", targets=target)
    np.testing.assert_allclose(saliency.signed, np.broadcast_to(w, (3, 4, 4)), atol=1e-6)
    np.testing.assert_allclose(saliency.scores, predict(model, x)[:, k], rtol=1e-5)
    ixg = tfcam.explain(model, x, method="input_x_gradient", targets=target)
    np.testing.assert_allclose(ixg.raw, x[..., 0] * w, atol=1e-6)


def test_regression_target_picks_one_of_several_outputs():
    inp = keras.Input((4, 4, 1))
    flat = keras.layers.Flatten()(inp)
    model = keras.Model(inp, [keras.layers.Dense(1, name="age")(flat),
                              keras.layers.Dense(2, name="box")(flat)])
    x = images(2, 4, 1)
    age, box = predict(model, x)
    ex = tfcam.explain(model, x, method="saliency", targets=tfcam.regression_target(output=0))
    np.testing.assert_allclose(ex.scores, age[:, 0], rtol=1e-5)
    ex = tfcam.explain(model, x, method="saliency",
                       targets=tfcam.regression_target(index=1, output=1))
    np.testing.assert_allclose(ex.scores, box[:, 1], rtol=1e-5)
    with pytest.raises(ValueError, match=r"has 2 outputs .*pass output=i"):
        tfcam.explain(model, x, method="saliency", targets=tfcam.regression_target())


def test_regression_target_needs_an_index_for_several_values():
    model, x = linear(), images(1, 4, 1)
    with pytest.raises(ValueError, match=r"\(3,\) values per sample.*pass index="):
        tfcam.explain(model, x, method="saliency", targets=tfcam.regression_target())
    with pytest.raises(ValueError, match=r"index 3 does not pick one value"):
        tfcam.explain(model, x, method="saliency", targets=tfcam.regression_target(index=3))


# --------------------------------------------------------------------------- similarity
def test_similarity_target_is_the_cosine_to_the_reference():
    model, x = embedder(), images(3, 6, 2)
    emb = predict(model, x)
    reference = RNG.normal(size=5)
    ex = tfcam.explain(model, x, method="grad_cam", layer="conv",
                       targets=tfcam.similarity_target(reference))
    np.testing.assert_allclose(ex.scores, cosine(emb, reference), rtol=1e-4, atol=1e-6)
    # a sample along the reference's direction scores 1, the others less
    ex = tfcam.explain(model, x, method="grad_cam", layer="conv",
                       targets=tfcam.similarity_target(2.5 * emb[1]))
    assert ex.scores[1] == pytest.approx(1.0, abs=1e-5)
    assert (np.delete(ex.scores, 1) < 0.9999).all()


def test_similarity_target_flattens_extra_axes():
    y = RNG.normal(size=(3, 2, 4)).astype("float32")
    reference = RNG.normal(size=(2, 4))
    got = np.asarray(tfcam.similarity_target(reference)(y))
    np.testing.assert_allclose(got, cosine(y, reference), rtol=1e-5, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(1e-3, 1e3), ref_scale=st.floats(1e-3, 1e3))
def test_similarity_is_invariant_to_positive_scaling(seed, scale, ref_scale):
    rng = np.random.default_rng(seed)
    y, reference = rng.normal(size=(2, 6)).astype("float32"), rng.normal(size=6)
    base = np.asarray(tfcam.similarity_target(reference)(y))
    scaled = np.asarray(tfcam.similarity_target(ref_scale * reference)(scale * y))
    np.testing.assert_allclose(scaled, base, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(tfcam.similarity_target(-reference)(y)), -base,
                               rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- errors
MASK = np.ones((8, 8), bool)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    (dict(class_index=-1, mask=MASK), ValueError, r"class_index must be >= 0.*got -1"),
    (dict(class_index=1.0, mask=MASK), TypeError, r"class_index must be an int.*float"),
    (dict(class_index=True), TypeError, r"class_index must be an int"),
    (dict(class_index=0, mask=np.full((8, 8), "a")), TypeError, r"mask must be bool or 0/1.*dtype <U1"),
    (dict(class_index=0, mask=np.where(MASK, np.nan, 1.0)), ValueError, r"mask has NaN or inf"),
    (dict(class_index=0, mask=np.full((8, 8), 0.5)), ValueError, r"must be 0 or 1.*found 0.5"),
    (dict(class_index=0, mask=np.zeros((8, 8), bool)), ValueError, r"selects no pixel"),
    (dict(class_index=0, mask=np.ones((0, 8))), ValueError, r"must cover the output's spatial axes"),
    (dict(class_index=0, output="seg"), TypeError, r"output must be None or an int"),
])
def test_segmentation_target_refuses_bad_arguments_when_made(kwargs, error, message):
    with pytest.raises(error, match=message):
        tfcam.segmentation_target(**kwargs)


@pytest.mark.parametrize(("reference", "error", "message"), [
    (np.zeros(5), ValueError, r"all zeros"),
    (np.array([1.0, np.nan]), ValueError, r"NaN or inf"),
    (np.array([]), ValueError, r"non-empty"),
    (np.array(["a", "b"]), TypeError, r"numeric embedding"),
])
def test_similarity_target_refuses_bad_references(reference, error, message):
    with pytest.raises(error, match=message):
        tfcam.similarity_target(reference)


@pytest.fixture(scope="module")
def seg_model():
    return unet()


@pytest.mark.parametrize(("target", "message"), [
    (tfcam.segmentation_target(0, mask=np.ones((4, 4))),
     r"mask has shape \(4, 4\) but the output's spatial axes are \(8, 8\)"),
    (tfcam.segmentation_target(0, mask=np.ones((3, 8, 8))),
     r"one \(8, 8\) mask per sample.*one image per call"),
    (tfcam.segmentation_target(0, mask=np.ones((1, 8, 8))), r"one \(8, 8\) mask per sample"),
    (tfcam.segmentation_target(3), r"class_index 3 is out of range.*3 classes \(0\.\.2\)"),
    (tfcam.similarity_target(np.ones(5)), r"reference has 5 values but each sample's output has 192"),
], ids=["mask-shape", "per-sample-mask", "leading-1-mask", "class-range", "reference-size"])
def test_mismatch_with_the_model_output_is_a_clear_error(seg_model, target, message):
    with pytest.raises(ValueError, match=message):
        tfcam.explain(seg_model, images(3, 8, 3), method="grad_cam", layer="mid", targets=target)


def test_reprs_say_what_is_explained():
    mask = np.zeros((8, 8), bool)
    mask[:3, :4] = True
    assert repr(tfcam.segmentation_target(2, mask=mask)) == \
        "segmentation_target(class_index=2, mask=(8, 8) with 12 pixels)"
    assert repr(tfcam.segmentation_target(1, output=0)) == \
        "segmentation_target(class_index=1, mask=None (the pixels predicted as 1), output=0)"
    assert repr(tfcam.regression_target(index=(1, 2), output=1)) == \
        "regression_target(index=(1, 2), output=1)"
    assert repr(tfcam.regression_target()) == "regression_target()"
    assert repr(tfcam.similarity_target(np.ones((2, 3)))) == "similarity_target(reference=(6,))"
