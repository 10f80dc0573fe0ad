"""Every method runs compiled, and batches of the same shape never trace again."""

import numpy as np
import pytest

import tfcam
from tests.core import nets
from tfcam.api import method_class

OPTIONS = {"smooth_grad": {"samples": 2}, "integrated_gradients": {"steps": 3},
           "score_cam": {"chunk_size": 4}, "ablation_cam": {"chunk_size": 4},
           "occlusion": {"patch": 4, "stride": 4, "chunk_size": 4}}


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
