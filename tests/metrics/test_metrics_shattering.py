"""Shattered-gradient statistics on hand-made gradient fields and a tiny Functional model."""

import keras
import numpy as np
import pytest
from metrics_helpers import ablation_importance, layer_gradients, small_cnn
from scipy.stats import spearmanr

from tfcam import metrics

RAMP = np.add.outer(np.arange(4.0), np.arange(4.0))  # g[i, j] = i + j
CHECKER = np.where(np.add.outer(np.arange(4), np.arange(4)) % 2 == 0, 1.0, -1.0)


def field(*channels):
    return np.stack(channels, axis=-1)[None]  # (1, 4, 4, K)


def test_hand_computed_fields():
    assert metrics.lag1_autocorrelation(field(RAMP))[0] == pytest.approx(1.0)  # neighbour = value + 1
    assert metrics.lag1_autocorrelation(field(CHECKER))[0] == pytest.approx(-1.0)
    assert metrics.sign_coherence(field(RAMP))[0] == pytest.approx(1.0)
    assert metrics.sign_coherence(field(CHECKER))[0] == pytest.approx(0.0)
    g = field(RAMP, CHECKER, -RAMP)
    assert metrics.lag1_autocorrelation(g)[0] == pytest.approx((1 - 1 + 1) / 3)
    assert metrics.sign_coherence(g)[0] == pytest.approx(2 / 3)
    np.testing.assert_allclose(metrics.gradcam_weights(g), [[3.0, 0.0, -3.0]])
    assert metrics.sign_coherence_noise_floor(4, 4) == pytest.approx(np.sqrt(2 / (np.pi * 16)))


def test_degenerate_fields_are_zero_not_nan():
    zero = np.zeros((2, 4, 4, 3))
    assert np.array_equal(metrics.lag1_autocorrelation(zero), [0, 0])
    assert np.array_equal(metrics.sign_coherence(zero), [0, 0])
    one_by_one = np.ones((2, 1, 1, 3))
    assert np.array_equal(metrics.lag1_autocorrelation(one_by_one), [0, 0])
    const = np.full((1, 4, 4, 1), 2.0)  # constant: no correlation defined -> 0
    assert metrics.lag1_autocorrelation(const)[0] == 0.0
    assert metrics.sign_coherence(const)[0] == 1.0


def test_white_noise_sits_at_the_floor():
    rng = np.random.default_rng(0)
    signs = rng.choice([-1.0, 1.0], size=(1, 8, 8, 2000))
    assert metrics.sign_coherence(signs)[0] == pytest.approx(metrics.sign_coherence_noise_floor(8, 8), rel=0.05)
    assert abs(metrics.lag1_autocorrelation(rng.normal(size=(1, 8, 8, 500)))[0]) < 0.02


@pytest.fixture(scope="module")
def cnn():
    return small_cnn(size=8, seed=3)


def test_shattering_table(cnn):
    x = np.random.default_rng(1).normal(size=(5, 8, 8, 1)).astype(np.float32)
    calls = []

    def grads(model, images, layer, targets):
        calls.append(len(images))
        return layer_gradients(model, images, layer, targets)

    def weights(model, images, method, layer, targets):
        assert method in ("ablation_cam", "relevance_cam")
        return ablation_importance(model, images, layer, targets)  # "relevance" = ablation here

    result = metrics.shattering(cnn, x, ["conv1", "conv2"], layer_gradients=grads, channel_weights=weights,
                                batch_size=2)
    df = result.to_frame()
    assert list(df.columns) == ["image", "layer", "metric", "value", "higher_is_better"]
    assert len(df) == 5 * 2 * 6
    assert calls == [2, 2, 1, 2, 2, 1]  # chunks of batch_size per layer
    assert not df["value"].isna().any()
    stats = df.pivot_table(index=["image", "layer"], columns="metric", values="value")
    np.testing.assert_allclose(stats["spearman_relevancecam_ablation"], 1.0)
    np.testing.assert_allclose(stats["sign_coherence_noise_floor"], np.sqrt(2 / (np.pi * 64)))

    targets = np.argmax(keras.ops.convert_to_numpy(cnn(x)), axis=1)  # None -> top-1
    _, g, _ = layer_gradients(cnn, x, "conv2", targets)
    wg = g.mean(axis=(1, 2))
    abl = ablation_importance(cnn, x, "conv2", targets)
    for i in range(5):
        row = stats.loc[(i, "conv2")]
        rho = spearmanr(wg[i], abl[i]).statistic
        assert row["spearman_gradcam_ablation"] == pytest.approx(rho, abs=1e-6)
        assert row["negative_weight_share"] == pytest.approx((wg[i] < 0).mean())
        assert row["autocorrelation"] == pytest.approx(metrics.lag1_autocorrelation(g[i : i + 1])[0], abs=1e-6)
    # the headline: autocorrelation per layer (the curve) and its mean over the layers
    assert result.name == "shattering" and result.higher_is_better is True
    auto = stats["autocorrelation"].unstack("layer")[["conv1", "conv2"]].to_numpy()
    np.testing.assert_allclose(result.curves, auto)
    np.testing.assert_allclose(result.values, auto.mean(axis=1))
    np.testing.assert_allclose(result.select("autocorrelation", layer="conv2").values, auto[:, 1])
    directions = df.drop_duplicates("metric").set_index("metric")["higher_is_better"].to_dict()
    assert directions["sign_coherence"] is True and directions["sign_coherence_noise_floor"] is None


def test_shattering_without_weights(cnn):
    x = np.random.default_rng(2).normal(size=(2, 8, 8, 1)).astype(np.float32)
    df = metrics.shattering(cnn, x, ["conv1"], targets=[0, 1], layer_gradients=layer_gradients,
                            ablation_method=None).to_frame()
    assert set(df["metric"]) == {"autocorrelation", "sign_coherence", "sign_coherence_noise_floor",
                                 "negative_weight_share"}


def test_bad_callable_shapes(cnn):
    x = np.zeros((2, 8, 8, 1), np.float32)
    with pytest.raises(ValueError, match="gradients of shape"):
        metrics.shattering(cnn, x, ["conv1"], layer_gradients=lambda *a: (None, np.zeros((2, 8)), None))
    with pytest.raises(ValueError, match=r"\(2, 6\)"):
        metrics.shattering(
            cnn, x, ["conv1"], layer_gradients=layer_gradients,
            channel_weights=lambda *a: np.zeros((2, 5)),
        )


def test_defaults_use_tfcam_core(cnn):
    """The default callables (tfcam.layer_gradients, tfcam.explain with ablation_cam and
    relevance_cam) agree with the test helpers."""
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 1)).astype(np.float32)
    ours = metrics.shattering(
        cnn, x, ["conv2"], layer_gradients=layer_gradients, relevance_method=None,
        channel_weights=lambda m, im, method, layer, t: ablation_importance(m, im, layer, t),
    ).to_frame()
    core = metrics.shattering(cnn, x, ["conv2"], relevance_method="relevance_cam").to_frame()
    merged = core.merge(ours, on=["image", "layer", "metric"], suffixes=("_core", "_ours"))
    assert len(merged) == len(ours)
    np.testing.assert_allclose(merged["value_core"], merged["value_ours"], atol=1e-4)
    assert "spearman_relevancecam_ablation" in set(core["metric"])
