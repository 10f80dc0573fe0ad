"""One explainer, several threads: each call's targets and sizes are its own (issue 23).

A call's state (`tfcam.method_base.Call`) is made per call and passed to the traced code,
never kept on the explainer, so threads sharing an explainer (or `tfcam.explain`'s cache)
get the maps a sequential call gets.
"""
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest

import tfcam
from tfcam.registry import lookup

ROUNDS = 4


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))


# (images, targets) of each thread: other targets (a callable too) and other batch sizes
rng = np.random.default_rng(0)
JOBS = [
    (rng.random((1, 10, 10, 3)).astype("float32"), 0),
    (rng.random((2, 10, 10, 3)).astype("float32"), [1, 2]),
    (rng.random((3, 10, 10, 3)).astype("float32"), None),
    (rng.random((2, 10, 10, 3)).astype("float32"), lambda probs: probs[:, 3]),
]


@pytest.mark.parametrize("method", ["grad_cam", "score_cam", "integrated_gradients",
                                    "smooth_grad", "relevance_cam"])
def test_threads_sharing_an_explainer_get_the_sequential_maps(model, method):
    options = {"max_channels": 2} if method == "score_cam" else {}
    # Relevance-CAM's CLRP start contrasts classes: it takes no callable target
    jobs = JOBS[:3] if method == "relevance_cam" else JOBS
    sequential = [lookup(method)(model, progress=False, **options).attribute(x, t)
                  for x, t in jobs]
    shared = lookup(method)(model, progress=False, **options)

    def job(i):
        x, t = jobs[i % len(jobs)]
        return i % len(jobs), shared.attribute(x, t)

    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(job, range(ROUNDS * len(jobs))))
    for i, threaded in results:
        expected = sequential[i]
        np.testing.assert_allclose(threaded.maps, expected.maps, atol=1e-6)
        np.testing.assert_allclose(threaded.scores, expected.scores, rtol=1e-6)
        if expected.targets is not None:
            np.testing.assert_array_equal(threaded.targets, expected.targets)


def test_threads_through_explain(model):
    expected = [tfcam.explain(model, x, targets=t, progress=False).maps for x, t in JOBS]
    with ThreadPoolExecutor(len(JOBS)) as pool:
        results = list(pool.map(
            lambda i: tfcam.explain(model, JOBS[i][0], targets=JOBS[i][1], progress=False).maps,
            [i % len(JOBS) for i in range(ROUNDS * len(JOBS))]))
    for i, maps in enumerate(results):
        np.testing.assert_allclose(maps, expected[i % len(JOBS)], atol=1e-6)


def test_smooth_grad_draws_the_same_noise_on_every_call(model):
    """The noise comes from the call's own generator: a cached explainer (or a second call)
    gives the first call's maps, not the next draws'."""
    x = JOBS[1][0]
    first = tfcam.explain(model, x, method="smooth_grad", samples=4, progress=False).maps
    second = tfcam.explain(model, x, method="smooth_grad", samples=4, progress=False).maps
    np.testing.assert_array_equal(first, second)
