"""The metrics' model calls stand on the core: compiled through tfcam.backend, targets
checked by tfcam.targets, the softmax head read from the traced graph."""

import gc
import weakref

import keras
import numpy as np
import pytest
from metrics_helpers import mean_model, small_cnn

from tfcam import metrics
from tfcam.metrics import _forward, _scoring


def test_forward_sees_new_weights_without_retrace():
    model = small_cnn(size=8)
    x = np.random.default_rng(0).random((3, 8, 8, 1)).astype(np.float32)
    fn = _forward.forward(model)
    before = fn(x)
    np.testing.assert_allclose(before, keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6)
    metrics.randomize_layer(model.get_layer("logits"), seed=3)  # weights changed in place
    after = fn(x)
    assert _forward.forward(model) is fn  # cached per model
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6)


def test_forward_cache_holds_the_model_weakly():
    model = small_cnn(size=8)
    _forward.forward(model)(np.zeros((1, 8, 8, 1), np.float32))
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_targets_are_checked_like_the_explainers():
    model = mean_model([[1.0, 0.0]], [0.0, 0.0])
    x = np.ones((2, 4, 4, 1), np.float32)
    maps = np.full((2, 4, 4), 0.5)
    with pytest.raises(ValueError, match="target class 2 is out of range"):
        metrics.average_drop(model, x, maps, targets=2)
    with pytest.raises(ValueError, match="2 integer class indices"):
        metrics.average_drop(model, x, maps, targets=[0, 1, 0])
    whole = metrics.average_drop(model, x, maps, targets=np.array([1.0, 0.0]))  # as explainers
    np.testing.assert_array_equal(whole.values, metrics.average_drop(model, x, maps, targets=[1, 0]).values)


@pytest.mark.parametrize("softmax", [False, True])
def test_softmax_head_read_from_the_traced_graph(softmax):
    model = mean_model([[1.0, -1.0]], [0.0, 0.0], softmax=softmax)
    outputs = np.array([[0.2, 0.8]])  # a probability row: the graph decides, not the values
    assert _scoring.needs_softmax(outputs, model) is (not softmax)
