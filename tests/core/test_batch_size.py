"""`batch_size` is images per call for every method (issue 24); Integrated Gradients and
SmoothGrad keep their copies of each image within `chunk_size` model inputs."""
import numpy as np
import pytest

import tfcam
from tests.core import nets


@pytest.mark.parametrize("method", ["grad_cam", "score_cam", "integrated_gradients",
                                    "smooth_grad", "occlusion", "lrp"])
def test_the_maps_do_not_depend_on_the_batch_size(method):
    model, x = nets.gap_dense(), nets.images(n=3)
    one = tfcam.explain(model, x, method=method, batch_size=1, targets=[0, 1, 2])
    three = tfcam.explain(model, x, method=method, batch_size=3, targets=[0, 1, 2])
    if method == "smooth_grad":  # its noise is drawn per call: the same seed, other batches
        return np.testing.assert_array_equal(one.targets, three.targets)
    np.testing.assert_allclose(one.maps, three.maps, atol=1e-5)


@pytest.mark.parametrize("cls, copies", [(tfcam.IntegratedGradients, 33),
                                         (tfcam.SmoothGrad, 25)])
def test_images_per_call(cls, copies):
    model, x = nets.gap_dense(), nets.images(n=5)
    assert cls(model, batch_size=4, chunk_size=4 * copies).images_per_call(x) == 4
    assert cls(model, batch_size=4, chunk_size=2 * copies + 1).images_per_call(x) == 2
    assert cls(model, batch_size=4, chunk_size=3).images_per_call(x) == 1  # at least one
    assert tfcam.GradCAM(model, batch_size=4).images_per_call(x) == 4
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        cls(model, chunk_size=0)


@pytest.mark.parametrize("method, options", [("integrated_gradients", {"steps": 8}),
                                             ("smooth_grad", {"samples": 4})])
def test_the_default_chunk_size_and_seed_give_the_explicit_ones_maps(method, options):
    """`chunk_size=None` (sized to the device) and the default `seed` change how the work is
    split, not the answer: the maps of one image per call with seed 0, given explicitly."""
    model, x = nets.gap_dense(), nets.images(n=3)
    default = tfcam.explain(model, x, method=method, targets=[0, 1, 2], batch_size=3, **options)
    copies = options.get("steps", 0) + 1 if method == "integrated_gradients" else options["samples"]
    explicit = tfcam.explain(model, x, method=method, targets=[0, 1, 2], batch_size=3,
                             chunk_size=3 * copies, **options,
                             **({"seed": 0} if method == "smooth_grad" else {}))
    np.testing.assert_allclose(default.maps, explicit.maps, atol=1e-5)
