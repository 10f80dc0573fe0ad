"""Every method runs compiled, and batches of the same shape never trace again."""

import collections

import numpy as np
import pytest

import tfcam
from tfcam import explainer as explainer_module
from tfcam.explain import method_class
from tests.core import nets

OPTIONS = {"smooth_grad": {"samples": 2}, "integrated_gradients": {"steps": 3},
           "score_cam": {"chunk_size": 4}, "ablation_cam": {"chunk_size": 4},
           "occlusion": {"patch": 4, "stride": 4, "chunk_size": 4}}


@pytest.fixture
def traces(monkeypatch):
    """How often each compiled function's Python body ran: once per trace (tf.function and
    jax.jit run it only when they trace), never on a call that reuses a trace."""
    counts = collections.Counter()
    compile_function = explainer_module.backend.compile_function

    def counting(fn, variables):
        def traced(*args):
            counts[fn.__qualname__] += 1
            return fn(*args)
        return compile_function(traced, variables)

    monkeypatch.setattr(explainer_module.backend, "compile_function", counting)
    return counts


@pytest.mark.parametrize("method", tfcam.methods())
def test_same_shaped_batches_reuse_the_compiled_functions(method, traces):
    model = nets.gap_dense(size=8, channels=4, classes=3)
    explainer = method_class(method)(model, batch_size=2, progress=False, **OPTIONS.get(method, {}))
    explainer.attribute(nets.images(n=3, seed=0))  # batches of 2 and a padded 1
    after_first = sum(traces.values())
    assert after_first >= 1, f"{method} ran nothing compiled"
    second = explainer.attribute(nets.images(n=4, seed=1), target=[0, 1, 2, 0])
    assert sum(traces.values()) == after_first, f"{method} traced again: {dict(traces)}"
    assert np.isfinite(second.maps).all()
