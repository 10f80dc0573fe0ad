"""tf-keras-vis baselines: same map form as tfcam on flat models; on a nested model the
failure is a row in the table with tf-keras-vis' error, not a dropped row."""
import keras
import numpy as np
import pytest

from benchmarks.app import run
from benchmarks.baselines.reference import centered_gaussian, random_maps
from benchmarks.results import read_table
from tests.benchmarks.conftest import compose, tiny_overrides


def test_reference_maps():
    g = centered_gaussian(2, 9, 9)
    assert g.shape == (2, 9, 9) and g.max() == 1.0 and g[0, 4, 4] == 1.0 and g.min() == 0.0
    r1, r2 = random_maps([3, "a"], 5, 5), random_maps([3, "a"], 5, 5)
    np.testing.assert_array_equal(r1, r2)
    assert not np.array_equal(r1[0], r1[1])


def test_nested_model_failure_is_recorded(tmp_path, cache_dir):
    cfg = compose(tiny_overrides([
        "model=resnet_small", "model.nested=true", "model.widths=[4,8,8,8]", "model.blocks=[1,1,1,1]",
        "model.layers.last=conv5_block1_out",
        "experiment=localization", "methods=[grad_cam,tkv_grad_cam,tkv_saliency]", "layers=[last]",
        f"cache_dir={cache_dir}", "dataset.n_images=8", "report.figures=false",
    ]))
    summary = run(cfg, tmp_path, log=lambda *a, **k: None)
    table = read_table(tmp_path / "results.csv")
    loc = table[table.task == "localization"]
    ok = loc[(loc.method == "grad_cam") & (loc.metric == "pointing_game")]
    assert len(ok) == 8, "tfcam explains the nested model"
    failed = loc[(loc.method == "tkv_grad_cam")]
    assert (failed.metric == "error").all() and len(failed) >= 1
    assert failed.error.str.len().gt(0).all()
    text = summary.read_text()
    assert "tf-keras-vis **failed**" in text and "tkv_grad_cam" in text


def test_tf_keras_vis_score_cam_prints_no_progress_bars(capfd):
    # Its Score-CAM calls model.predict with Keras' progress bar: one bar per image on the
    # console (240 lines in a layers run) before the adapter turned it off for the call.
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf-keras-vis runs on TensorFlow only")
    from benchmarks.baselines.tf_keras_vis import TfKerasVisExplainer
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x)))
    keras.utils.enable_interactive_logging()
    maps = TfKerasVisExplainer("score_cam", model, "conv", {"max_N": 2})(
        np.random.default_rng(0).random((2, 16, 16, 3)), np.array([0, 1]))
    assert maps.shape == (2, 16, 16)
    out = capfd.readouterr()
    assert "step" not in out.out + out.err
    assert keras.utils.is_interactive_logging_enabled()  # restored


def test_tf_keras_vis_score_cam_scores_probabilities_once(tmp_path):
    # tf-keras-vis' Score-CAM applies the softmax itself; given the model's softmax head it
    # scored softmax(probabilities), nearly the same for every class: its maps barely
    # depended on the class (class sensitivity 0.000 ± 0.000 in the layers run). With the
    # logits it matches tfcam's Score-CAM and depends on the class.
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf-keras-vis runs on TensorFlow only")
    from scipy.stats import spearmanr

    import tfcam
    from benchmarks.baselines.tf_keras_vis import TfKerasVisExplainer
    keras.utils.set_random_seed(3)
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inp)
    head = keras.layers.Dense(3, activation="softmax")
    model = keras.Model(inp, head(keras.layers.GlobalAveragePooling2D()(x)))
    head.kernel.assign(head.kernel * 30.0)  # confident, as a trained model is
    images = np.random.default_rng(0).random((3, 16, 16, 3)).astype("float32")
    tkv = TfKerasVisExplainer("score_cam", model, "conv")
    ours = {t: tfcam.explain(model, images, method="score_cam", layer="conv", targets=[t] * 3).maps for t in (0, 2)}
    theirs = {t: tkv(images, np.array([t] * 3)) for t in (0, 2)}
    for t in (0, 2):
        for a, b in zip(theirs[t], ours[t]):
            assert spearmanr(a.ravel(), b.ravel())[0] > 0.9
    # as class-dependent as tfcam's (before: a tenth of it)
    assert np.abs(theirs[0] - theirs[2]).mean() > 0.5 * np.abs(ours[0] - ours[2]).mean() > 0
