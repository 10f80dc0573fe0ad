"""Bad input gets an error naming what was wrong and how to fix it, not a plausible result."""

import numpy as np
import pytest

import tfcam
from tests.core import nets


@pytest.fixture(scope="module")
def model():
    return nets.gap_dense()


# ------------------------------------------------------------------ NaN and inf
@pytest.mark.parametrize("method", ["grad_cam", "saliency"])
def test_nan_or_inf_inputs_are_named_by_index(model, method):
    x = nets.images(n=4)
    x[1, 2, 3, 0] = np.nan
    x[3, 0, 0, 2] = np.inf
    with pytest.raises(ValueError, match=r"2 of 4 inputs contain NaN or inf values "
                                         r"\(indices 1, 3\).*np\.nan_to_num"):
        tfcam.explain(model, x, method)


def test_values_beyond_float32_are_caught_after_the_cast(model):
    x = nets.images(n=2).astype("float64")
    x[0, 0, 0, 0] = 1e300  # inf once converted to float32
    with pytest.raises(ValueError, match=r"indices 0\)"):
        tfcam.explain(model, x, "grad_cam")


# ------------------------------------------------------------------ occlusion patch
@pytest.mark.parametrize("patch", [9, 20])
def test_occlusion_patch_larger_than_the_image(model, patch):
    with pytest.raises(ValueError, match=rf"patch={patch} is larger than the input.*8×8.*"
                                         r"up to 8"):
        tfcam.explain(model, nets.images(n=1), "occlusion", patch=patch)


def test_occlusion_patch_as_large_as_the_image_still_runs(model):
    ex = tfcam.explain(model, nets.images(n=1), "occlusion", patch=8)
    assert ex.perturbed_inputs[0] == 1


# ------------------------------------------------------------------ integrated gradients
@pytest.mark.parametrize("steps", [0, -3, 2.5])
def test_integrated_gradients_needs_positive_steps(model, steps):
    with pytest.raises(ValueError, match=rf"steps >= 1.*got steps={steps}"):
        tfcam.explain(model, nets.images(n=1), "integrated_gradients", steps=steps)
    with pytest.raises(ValueError, match="steps >= 1"):
        tfcam.IntegratedGradients(model, steps=steps)


# ------------------------------------------------------------------ unknown options
def test_unknown_option_lists_the_options_and_close_matches(model):
    with pytest.raises(TypeError, match=r"score_cam got unknown option \['max_channel'\] "
                                        r"\('max_channel': did you mean \['max_channels'\]\?\); "
                                        r"its options are \['max_channels', 'channel_ranking', 'fill', 'chunk_size'\]"):
        tfcam.explain(model, nets.images(n=1), "score_cam", max_channel=2)


def test_unknown_option_of_a_method_without_options(model):
    with pytest.raises(TypeError, match=r"grad_cam got unknown option \['bad_option'\]; it has "
                                        r"no options of its own, besides \['layer', 'targets'"):
        tfcam.explain(model, nets.images(n=1), "grad_cam", bad_option=1)


def test_misspelled_explain_parameter_is_suggested(model):
    with pytest.raises(TypeError, match=r"'target': did you mean \['targets'\]"):
        tfcam.explain(model, nets.images(n=1), "grad_cam", target=1)


@pytest.mark.parametrize("cls, option, options", [
    (tfcam.ScoreCAM, "chunk", r"\['max_channels', 'channel_ranking', 'fill', 'chunk_size'\]"),
    (tfcam.IntegratedGradients, "step", r"\['steps', 'baseline', 'rule', 'chunk_size'\]"),
    (tfcam.RelevanceCAM, "composit", r"\['composite', 'start', 'relu'\]"),
    (tfcam.Deconvnet, "bad_option", "no options of its own"),
])
def test_unknown_option_to_a_method_class(model, cls, option, options):
    with pytest.raises(TypeError, match=rf"unknown option \['{option}'\].*{options}"):
        cls(model, **{option: 1})


def test_known_options_still_reach_the_base_classes(model):
    explainer = tfcam.ScoreCAM(model, "conv", max_channels=2, batch_size=3, progress=False)
    assert (explainer.max_channels, explainer.batch_size) == (2, 3)


# ------------------------------------------------------------------ float targets
def test_integral_float_targets_are_class_indices(model):
    x = nets.images()
    as_int = tfcam.explain(model, x, "grad_cam", targets=[1, 2, 0])
    as_float = tfcam.explain(model, x, "grad_cam", targets=[1.0, 2.0, 0.0])
    np.testing.assert_array_equal(as_float.targets, [1, 2, 0])
    np.testing.assert_array_equal(as_float.maps, as_int.maps)
    assert (tfcam.explain(model, x, "grad_cam", targets=np.float32(2.0)).targets == 2).all()


@pytest.mark.parametrize("targets", [2.5, [1.0, 2.5, 0.0], [0, np.nan, 1]])
def test_fractional_targets_are_an_error(model, targets):
    with pytest.raises(ValueError, match=r"is not a whole number.*int class index"):
        tfcam.explain(model, nets.images(), "grad_cam", targets=targets)


# ------------------------------------------------------------------ issue 23's gaps
@pytest.mark.parametrize("score, shape", [
    (lambda probs: probs, r"\(2, 3\)"), (lambda probs: probs[:, :2], r"\(2, 2\)"),
    (lambda probs: probs.sum(), r"\(\)"),
])
def test_a_callable_target_of_the_wrong_shape_says_what_came_back(model, score, shape):
    with pytest.raises(ValueError, match=r"^targets=callable must return one score per sample, "
                                         rf"shape \(2,\).*returned shape {shape}") as error:
        tfcam.explain(model, nets.images(n=2), "grad_cam", targets=score)
    assert "in user code" not in str(error.value)


def test_a_channel_mismatch_names_the_channels(model):
    with pytest.raises(ValueError, match=r"expects 3 channels .*got 1 .*np\.repeat"):
        tfcam.explain(model, nets.images(n=2)[..., :1], "grad_cam")


def test_a_list_of_one_batch_is_that_batch(model):
    """Keras takes model([x]) for a single-input model; so does tfcam."""
    x = nets.images(n=2)
    listed = tfcam.explain(model, [x], "grad_cam")
    np.testing.assert_array_equal(listed.maps, tfcam.explain(model, x, "grad_cam").maps)
    assert listed.maps.shape == x.shape[:3]
