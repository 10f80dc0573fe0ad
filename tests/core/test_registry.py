"""Method ids: snake_case canonical ids, the old ids kept as aliases, registration by
decorator, and `targets=` (with the old `target=`) on every explainer."""

import numpy as np
import pytest

import tfcam
from tests.core import nets
from tfcam import registry
from tfcam.explain import method_class

OLD_IDS = {
    "gradcam": "grad_cam", "gradcampp": "grad_cam_pp", "gradcam++": "grad_cam_pp",
    "grad-cam++": "grad_cam_pp", "xgradcam": "xgrad_cam", "layercam": "layer_cam",
    "scorecam": "score_cam", "ablationcam": "ablation_cam", "smoothgrad": "smooth_grad",
    "guided_gradcam": "guided_grad_cam",
}


def test_methods_are_the_canonical_ids():
    assert tfcam.methods() == sorted([
        "cam", "grad_cam", "grad_cam_pp", "xgrad_cam", "layer_cam", "score_cam",
        "ablation_cam", "relevance_cam", "eigen_cam", "saliency", "input_x_gradient",
        "smooth_grad", "integrated_gradients", "occlusion", "lrp", "guided_backprop",
        "deconvnet", "guided_grad_cam"])
    assert tfcam.METHODS == tfcam.methods()
    for method in tfcam.methods():
        assert method_class(method).method == method


@pytest.mark.parametrize("old, new", sorted(OLD_IDS.items()))
def test_old_ids_still_work(old, new):
    model, x = nets.gap_dense(), nets.images(n=2)
    assert method_class(old) is method_class(new)
    options = {"samples": 2, "noise_level": 0.0} if new == "smooth_grad" else {}
    ex = tfcam.explain(model, x, old, targets=1, **options)
    assert ex.method == new  # the result always names the canonical id
    np.testing.assert_array_equal(ex.maps, tfcam.explain(model, x, new, targets=1,
                                                          **options).maps)


def test_register_rejects_a_name_taken_by_another_method():
    with pytest.raises(ValueError, match="taken by 'grad_cam'"):
        registry.register("grad-cam")(type("Other", (), {}))


def test_a_registered_class_is_found_by_explain():
    @registry.register("test_only_cam", aliases=("testonlycam",))
    class TestOnlyCAM(tfcam.GradCAM):
        pass

    try:
        ex = tfcam.explain(nets.gap_dense(), nets.images(n=1), "testonlycam")
        assert ex.method == "test_only_cam" and TestOnlyCAM.method == "test_only_cam"
    finally:  # leave the table as the package made it
        registry.CLASSES.pop("test_only_cam")
        registry.ALIASES.pop("test_only_cam")
        for key in ("testonlycam",):
            registry._BY_KEY.pop(key)


def test_targets_keyword_and_the_old_target_keyword():
    model, x = nets.gap_dense(), nets.images(n=2)
    explainer = tfcam.GradCAM(model)
    new = explainer.attribute(x, targets=[2, 0])
    old = explainer.attribute(x, target=[2, 0])
    np.testing.assert_array_equal(new.targets, [2, 0])
    np.testing.assert_array_equal(new.maps, old.maps)
    np.testing.assert_array_equal(explainer.run(x, target=1)["targets"], [1, 1])
    with pytest.raises(TypeError, match="targets= only"):
        explainer.attribute(x, targets=1, target=1)
