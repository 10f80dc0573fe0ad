"""CAMs of a vision transformer's token layers (issue 25 §3): the token grid, inferred or
given with `reshape=`, the default layer, and every CAM family on a small ViT."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers as L

import tfcam
from benchmarks.models.architectures import ClassToken, register_vit_rules, vit
from tfcam import graph
from tfcam.layer_lookup import explainable_layers, find_layer, with_view
from tfcam.lrp import unregister_rule

SIZE = 32


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return vit(SIZE, 3, patch=8)  # 4×4 patches and a class token: 17 tokens


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).uniform(0, 1, (2, SIZE, SIZE, 3)).astype("float32")


def _patches_then_tokens(leading: bool):
    """conv (N, 4, 4, C) -> Reshape (N, 16, C) [-> class token] -> a head reading every
    patch: a CAM of the token layer must equal the CAM of the conv layer, value for value."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((16, 16, 3))
    x = L.Conv2D(6, 4, strides=4, name="patchify")(inputs)
    x = L.Reshape((16, 6), name="tokens")(x)
    if leading:
        x = ClassToken(name="class_token")(x)
    x = L.Dense(6, activation="relu")(x)
    return keras.Model(inputs, L.Dense(3)(L.Flatten()(x)))


@pytest.mark.parametrize("leading", [False, True], ids=["patches", "class_token"])
@pytest.mark.parametrize("method", ["grad_cam", "layer_cam", "score_cam", "ablation_cam"])
def test_a_token_layer_gives_the_map_of_its_patch_grid(leading, method):
    model = _patches_then_tokens(leading)
    images = np.random.default_rng(2).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    layer = "class_token" if leading else "tokens"
    on_tokens = tfcam.explain(model, images, method=method, layer=layer, targets=1)
    on_grid = tfcam.explain(model, images, method=method, layer="patchify", targets=1)
    assert on_tokens.raw.shape == on_grid.raw.shape == (2, 4, 4)
    np.testing.assert_allclose(on_tokens.signed, on_grid.signed, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(on_tokens.maps, on_grid.maps, atol=1e-5)
    assert on_grid.maps.std() > 0.01


def test_the_grid_is_read_from_the_model(model):
    program = graph.trace(model)
    tap = with_view(find_layer(program, "block1_norm1"), program)
    assert (tap.view.grid, tap.view.leading) == ((4, 4), 1)
    listed = {layer.path: layer for layer in explainable_layers(model)}
    assert listed["block1_norm1"].tokens == "tokens on a 4×4 grid after 1 leading token(s)"


def test_a_saved_and_loaded_vit_keeps_its_default_layer(model, x, tmp_path):
    # regression: a loaded model's x[:, 0] holds its index as a list, not a tuple, and the
    # class-token-only layers were no longer recognised (the default became "norm", all 0)
    model.save(tmp_path / "vit.keras")
    loaded = keras.models.load_model(tmp_path / "vit.keras")
    listed = {layer.path: layer for layer in explainable_layers(loaded)}
    assert listed["block1_norm1"].default and listed["norm"].class_token_only
    assert tfcam.explain(loaded, x, method="grad_cam").layer == "block1_norm1"


def test_the_default_layer_is_the_input_of_the_last_attention(model, x):
    # after the last attention only the class token reaches the head: a CAM there is 0
    explanation = tfcam.explain(model, x, method="grad_cam")
    assert explanation.layer == "block1_norm1"
    assert explanation.maps.std() > 0.01
    explicit = tfcam.explain(model, x, method="grad_cam", layer="block1_norm1", reshape=(4, 4))
    np.testing.assert_array_equal(explanation.maps, explicit.maps)  # the default is that choice
    with pytest.warns(UserWarning, match="reads only the leading .class. token of 'norm'"):
        last = tfcam.explain(model, x, method="grad_cam", layer="norm")
    assert not last.maps.any()  # why it is not the default
    listed = {layer.path: layer for layer in explainable_layers(model)}
    assert listed["norm"].class_token_only and not listed["block1_norm1"].class_token_only


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp", "xgrad_cam", "layer_cam",
                                    "eigen_cam", "score_cam", "ablation_cam", "relevance_cam"])
def test_every_cam_explains_a_vit(model, x, method):
    register_vit_rules()
    try:
        options = {"max_channels": 8} if method == "score_cam" else {}
        explanation = tfcam.explain(model, x, method=method, **options)
    finally:
        unregister_rule(type(model.get_layer("class_token")))
        unregister_rule(type(model.get_layer("positions")))
    assert explanation.maps.shape == (2, SIZE, SIZE)
    assert explanation.raw.shape == (2, 4, 4)
    assert np.isfinite(explanation.maps).all()
    # the map before the ReLU varies over the grid (with random weights it may be < 0
    # everywhere, and the ReLU'd map 0: a property of the weights, not of the tokens)
    assert explanation.signed.reshape(2, -1).std(axis=1).min() > 1e-6


def test_lrp_explains_a_vit_once_its_own_token_layers_have_rules(model, x):
    with pytest.raises(ValueError, match="no rule for layer 'class_token'.*register_rule"):
        tfcam.explain(model, x, method="lrp")
    register_vit_rules()
    try:
        explanation = tfcam.explain(model, x, method="lrp")
    finally:
        unregister_rule(type(model.get_layer("class_token")))
        unregister_rule(type(model.get_layer("positions")))
    assert explanation.maps.shape == (2, SIZE, SIZE) and explanation.maps.std() > 0.01


def test_reshape_as_a_grid_or_a_callable_gives_the_inferred_map(model, x):
    inferred = tfcam.explain(model, x, method="grad_cam", layer="block1_norm1")
    grid = tfcam.explain(model, x, method="grad_cam", layer="block1_norm1", reshape=(4, 4))

    def drop_class_token(tokens):  # pytorch-grad-cam's reshape_transform, channels last
        return keras.ops.reshape(tokens[:, 1:, :], (-1, 4, 4, tokens.shape[-1]))

    called = tfcam.explain(model, x, method="grad_cam", layer="block1_norm1",
                           reshape=drop_class_token)
    np.testing.assert_allclose(grid.maps, inferred.maps, atol=1e-6)
    np.testing.assert_allclose(called.maps, inferred.maps, atol=1e-6)
    # another grid lays the same tokens out otherwise: another map (the option is read)
    wrong = tfcam.explain(model, x, method="grad_cam", layer="block1_norm1", reshape=(2, 8))
    assert wrong.raw.shape == (2, 2, 8)
    assert np.abs(wrong.maps - inferred.maps).max() > 0.1


def test_an_unsettled_grid_asks_for_reshape():
    # 48 tokens of a 16×16 image: no patch size gives 48 - k patches for k <= 8
    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3))
    tokens = L.Reshape((48, 16), name="tokens")(inputs)
    model = keras.Model(inputs, L.Dense(2)(L.Flatten()(L.Dense(4)(tokens))))
    images = np.zeros((1, 16, 16, 3), "float32")
    with pytest.raises(ValueError, match=r"does not settle their grid.*reshape=\(h, w\)"):
        tfcam.explain(model, images, method="grad_cam", layer="tokens")
    given = tfcam.explain(model, images, method="grad_cam", layer="tokens", reshape=(6, 8))
    assert given.raw.shape == (1, 6, 8)


@pytest.mark.parametrize("reshape, message", [
    ((5, 5), r"reshape=\(5, 5\) needs 25 tokens, but the layer has 17"),
    ("4x4", "reshape= takes a grid"),
    ((0, 4), r"reshape=\(0, 4\) needs 0 tokens"),
])
def test_a_bad_reshape_is_named(model, x, reshape, message):
    with pytest.raises((ValueError, TypeError), match=message):
        tfcam.explain(model, x, method="grad_cam", layer="block1_norm1", reshape=reshape)


def test_reshape_where_it_does_not_apply_is_refused(model, x):
    with pytest.raises(ValueError, match="'patchify' outputs shape .* Leave reshape=None"):
        tfcam.explain(model, x, method="grad_cam", layer="patchify", reshape=(4, 4))
    with pytest.raises(ValueError, match="saliency explains the input.*Leave reshape out"):
        tfcam.explain(model, x, method="saliency", reshape=(4, 4))
