"""Method ids: snake_case canonical ids, the old ids kept as aliases, registration by
decorator, and `targets=` (with the old `target=`) on every explainer."""

import numpy as np
import pytest

import tfcam
from tests.core import nets
from tfcam import registry

# old id -> (canonical id, its class), written out here: not read from the registry
OLD_IDS = {
    "gradcam": ("grad_cam", tfcam.GradCAM), "gradcampp": ("grad_cam_pp", tfcam.GradCAMPlusPlus),
    "gradcam++": ("grad_cam_pp", tfcam.GradCAMPlusPlus),
    "grad-cam++": ("grad_cam_pp", tfcam.GradCAMPlusPlus), "xgradcam": ("xgrad_cam", tfcam.XGradCAM),
    "layercam": ("layer_cam", tfcam.LayerCAM), "scorecam": ("score_cam", tfcam.ScoreCAM),
    "ablationcam": ("ablation_cam", tfcam.AblationCAM),
    "smoothgrad": ("smooth_grad", tfcam.SmoothGrad),
    "guided_gradcam": ("guided_grad_cam", tfcam.GuidedGradCAM),
}


def test_methods_are_the_canonical_ids():
    assert tfcam.methods() == sorted([
        "cam", "grad_cam", "grad_cam_pp", "xgrad_cam", "layer_cam", "score_cam",
        "ablation_cam", "relevance_cam", "eigen_cam", "saliency", "input_x_gradient",
        "smooth_grad", "integrated_gradients", "occlusion", "lrp", "guided_backprop",
        "deconvnet", "guided_grad_cam"])
    assert tfcam.METHODS == tfcam.methods()
    for method in tfcam.methods():
        assert registry.lookup(method).method == method


@pytest.mark.parametrize("old", sorted(OLD_IDS))
def test_old_ids_still_work(old):
    new, cls = OLD_IDS[old]
    assert registry.canonical(old) == new
    assert registry.lookup(old) is cls and registry.lookup(new) is cls
    model, x = nets.gap_dense(), nets.images(n=2)
    options = {"samples": 2, "noise_level": 0.0} if new == "smooth_grad" else {}
    ex = tfcam.explain(model, x, old, targets=1, **options)
    assert ex.method == new  # the result always names the canonical id
    # the maps of the class itself, made here: not the explainer tfcam.explain keeps
    fresh = cls(model, progress=False, **options).attribute(x, targets=1)
    np.testing.assert_allclose(ex.maps, fresh.maps, rtol=1e-6, atol=1e-7)


def test_old_gradcam_id_gives_the_gradcam_formula():
    # conv -> Flatten -> Dense: dS/dA is the Dense kernel column, so Grad-CAM is known in
    # numpy (tests/core/test_oracles.py): weights = mean of the kernel over space.
    model, x = nets.flatten_dense(), nets.images(size=6, channels=2)
    a = nets.activations(model, "conv", x).astype("float64")
    g = np.asarray(model.get_layer("head").kernel, dtype="float64")[:, 0].reshape(a.shape[1:])
    raw = np.maximum(np.einsum("k,nhwk->nhw", g.mean(axis=(0, 1)), a), 0)
    assert (raw.max(axis=(1, 2)) > 0).sum() >= 2, "a map to compare, not zeros after the ReLU"
    expected = nets.minmax(nets.upsample(raw.astype("float32"), (6, 6)))
    ex = tfcam.explain(model, x, "gradcam", targets=0)
    np.testing.assert_allclose(ex.raw, raw, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ex.maps, expected, atol=1e-5)


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
