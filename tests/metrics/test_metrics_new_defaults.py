"""The new metrics' defaults against the explicit choice they stand for: `targets=None` is the
top-1 class; infidelity and completeness score the logit (before a softmax head, read from
the graph), ROAD the probability; max-sensitivity compares the [0, 1] maps."""

import keras
import numpy as np
import pytest
from metrics_helpers import smooth_cnn

from tfcam import metrics


@pytest.fixture(scope="module")
def models():
    """The same weights without and with a softmax head."""
    logits = smooth_cnn(size=8, classes=3, seed=2)
    probs = keras.Model(logits.input, keras.layers.Softmax()(logits.output))
    return logits, probs


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(3).random((3, 8, 8, 1)).astype(np.float32)


def _top1(model, x):
    return np.asarray(model(x)).argmax(axis=1)


def _attributions(x):
    return np.random.default_rng(4).normal(size=x.shape).astype(np.float32)


def test_infidelity_default_is_the_top1_logit(models, x):
    logits, probs = models
    phi = _attributions(x)
    kw = dict(n_perturbations=8, seed=1)
    default = metrics.infidelity(probs, x, phi, **kw).values
    explicit = metrics.infidelity(logits, x, phi, targets=_top1(logits, x),
                                  apply_softmax=False, **kw).values
    np.testing.assert_allclose(default, explicit, rtol=1e-5)
    on_probabilities = metrics.infidelity(logits, x, phi, apply_softmax=True, **kw).values
    assert not np.allclose(default, on_probabilities)  # the choice is read


def test_completeness_default_is_the_top1_logit(models, x):
    logits, probs = models
    phi = _attributions(x)
    default = metrics.completeness(probs, x, phi).values
    explicit = metrics.completeness(logits, x, phi, targets=_top1(logits, x),
                                    apply_softmax=False).values
    np.testing.assert_allclose(default, explicit, rtol=1e-5)


def test_road_default_is_the_top1_probability(models, x):
    logits, probs = models
    maps = np.random.default_rng(5).random((3, 8, 8))
    kw = dict(percentages=(20, 60), seed=2)
    default = metrics.road(probs, x, maps, **kw)
    explicit = metrics.road(logits, x, maps, targets=_top1(logits, x), apply_softmax=True, **kw)
    np.testing.assert_allclose(default.values, explicit.values, rtol=1e-5)
    np.testing.assert_allclose(default.curves, explicit.curves, rtol=1e-5)


def test_max_sensitivity_default_is_the_top1_maps(models, x):
    logits, _ = models
    kw = dict(n_perturbations=3, seed=3)
    default = metrics.max_sensitivity(logits, x, "saliency", **kw).values
    explicit = metrics.max_sensitivity(logits, x, "saliency", targets=_top1(logits, x),
                                       field="maps", **kw).values
    np.testing.assert_allclose(default, explicit, rtol=1e-6)
    other_class = (_top1(logits, x) + 1) % 3
    assert not np.allclose(default, metrics.max_sensitivity(
        logits, x, "saliency", targets=other_class, **kw).values)
