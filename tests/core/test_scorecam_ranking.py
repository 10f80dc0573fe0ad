"""Faster Score-CAM's channel ranking: `max_channels=N` keeps the N channels of highest mean
activation ("mean", the default) or of highest standard deviation ("std", tf-keras-vis'
`Scorecam(max_N=N)`: population std over the layer's spatial axes, before upsampling)."""

import keras
import numpy as np
import pytest

import tfcam
from tests.core import nets
from tfcam.cam.scorecam import ScoreCAM

L = keras.layers


def _net():
    """1x1 conv with known channels, then 2x2 average pooling (the explained layer, 4x4):

    A0 = x0 + 5, A1 = x1 + 5, A2 = 2 x0, A3 = 2 x1. Means rank A0, A1 first on any image
    in [0, 1); stds rank the channels of the input channel that varies most.
    """
    inp = keras.Input((8, 8, 2))
    conv = L.Conv2D(4, 1, name="conv")
    pooled = L.AveragePooling2D(2, name="pool")(conv(inp))
    head = L.Dense(3, name="head")
    model = keras.Model(inp, head(L.GlobalAveragePooling2D()(pooled)))
    kernel = np.array([[1.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, 2.0]], "float32")[None, None]
    conv.set_weights([kernel, np.array([5.0, 5.0, 0.0, 0.0], "float32")])
    head.set_weights([np.random.default_rng(1).normal(size=(4, 3)).astype("float32"),
                      np.zeros(3, "float32")])
    return model


def _images():
    """Image 0 varies in input channel 0, image 1 in input channel 1."""
    rng = np.random.default_rng(0)
    x = rng.random((2, 8, 8, 2)).astype("float32")
    x[0, ..., 1] *= 0.1
    x[1, ..., 0] *= 0.1
    return x


def _top(values, k):
    return [sorted(np.argsort(-v, kind="stable")[:k].tolist()) for v in values]


def _probabilities(model, x, target):
    logits = np.asarray(model(x), dtype="float64")
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return (probs / probs.sum(1, keepdims=True))[:, target]


@pytest.mark.parametrize("ranking, expected", [("mean", [[0, 1], [0, 1]]),
                                               ("std", [[0, 2], [1, 3]])])
def test_kept_channels_follow_the_ranking(ranking, expected):
    model, x = _net(), _images()
    a = nets.activations(model, "pool", x).astype("float64")  # (N, 4, 4, K), before upsampling
    stat = a.std(axis=(1, 2)) if ranking == "std" else a.mean(axis=(1, 2))  # population std
    assert _top(stat, 2) == expected  # the net does what its docstring says

    ex = tfcam.explain(model, x, "score_cam", layer="pool", targets=2, max_channels=2,
                       channel_ranking=ranking, chunk_size=3)
    kept = [sorted(np.flatnonzero(w).tolist()) for w in ex.channel_weights]
    assert kept == expected
    assert ex.perturbed_inputs.tolist() == [2, 2]
    up = nets.upsample(np.moveaxis(a, -1, 1).reshape(-1, 4, 4), (8, 8)).reshape(2, 4, 8, 8)
    for i in range(2):
        weights = np.zeros(4)
        for k in expected[i]:
            mask = nets.minmax(up[i, k][None])[0]
            weights[k] = _probabilities(model, (x[i] * mask[..., None])[None], 2)[0]
        np.testing.assert_allclose(ex.channel_weights[i], weights, rtol=1e-4, atol=1e-6)


def test_std_ranking_is_tf_keras_vis_ranking():
    """tf-keras-vis 0.8.7 Scorecam: `tf.math.reduce_std(penultimate_output, axis=spatial)`,
    then `tf.math.top_k(·, max_N)`; on a batch of one image, the channels it keeps."""
    tf = pytest.importorskip("tensorflow")
    model, x = _net(), _images()
    a = nets.activations(model, "pool", x)
    ex = tfcam.explain(model, x, "score_cam", layer="pool", targets=0, max_channels=2,
                       channel_ranking="std")
    for i in range(2):
        std = tf.math.reduce_std(a[i:i + 1], axis=(1, 2), keepdims=True)
        _, top = tf.math.top_k(std, 2)
        assert sorted(np.asarray(top).ravel().tolist()) == np.flatnonzero(
            ex.channel_weights[i]).tolist()


def test_ranking_only_matters_with_max_channels():
    model, x = _net(), _images()
    by_mean = tfcam.explain(model, x, "score_cam", layer="pool", targets=1)
    by_std = tfcam.explain(model, x, "score_cam", layer="pool", targets=1, channel_ranking="std")
    np.testing.assert_array_equal(by_mean.channel_weights, by_std.channel_weights)
    np.testing.assert_array_equal(by_mean.maps, by_std.maps)
    assert (by_mean.channel_weights != 0).all()


def test_default_ranking_is_mean():
    model, x = _net(), _images()
    default = tfcam.explain(model, x, "score_cam", layer="pool", targets=1, max_channels=2)
    mean = tfcam.explain(model, x, "score_cam", layer="pool", targets=1, max_channels=2,
                         channel_ranking="mean")
    np.testing.assert_array_equal(default.channel_weights, mean.channel_weights)
    assert ScoreCAM(model, "pool").channel_ranking == "mean"


def test_unknown_ranking_is_a_clear_error():
    model = _net()
    with pytest.raises(ValueError, match=r"channel_ranking must be one of \['mean', 'std'\]"):
        tfcam.explain(model, _images(), "score_cam", layer="pool", channel_ranking="variance")
    with pytest.raises(ValueError, match="'max'"):
        ScoreCAM(model, "pool", channel_ranking="max")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf-keras-vis needs TF")
def test_std_ranking_reproduces_tf_keras_vis_on_one_image():
    """At a layer of the input's resolution (no resampling on either side), tf-keras-vis'
    Faster-ScoreCAM map on a batch of one image is the "std" map; the "mean" map is not.
    On a batch of several images tf-keras-vis keeps the union of their top-N channels."""
    scorecam = pytest.importorskip("tf_keras_vis.scorecam")
    scores = pytest.importorskip("tf_keras_vis.utils.scores")
    model, x = _net(), _images()
    viz = scorecam.Scorecam(model, clone=True)

    def tkv(batch):
        return np.asarray(viz(scores.CategoricalScore([2] * len(batch)), batch,
                              penultimate_layer="conv", seek_penultimate_conv_layer=False,
                              max_N=2)).reshape(len(batch), 8, 8)

    def ours(batch, **options):
        return tfcam.explain(model, batch, "score_cam", layer="conv", targets=2,
                             **options).maps

    for i in range(2):
        theirs = tkv(x[i:i + 1])
        np.testing.assert_allclose(ours(x[i:i + 1], max_channels=2, channel_ranking="std"),
                                   theirs, atol=1e-5)
        assert np.abs(ours(x[i:i + 1], max_channels=2) - theirs).max() > 1e-2
    # two images: their top 2 are {0, 2} and {1, 3}; the union is every channel
    np.testing.assert_allclose(ours(x), tkv(x), atol=1e-5)
