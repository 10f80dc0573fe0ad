"""`tfcam explain / layers / methods` as a user runs them: a subprocess on a model the test
saved (exit status, files, one-line errors, a console without TensorFlow's native lines),
and in-process for the rest (the maps are tfcam.explain's on the same pixels)."""
import csv

import keras
import numpy as np
import pytest

import tfcam
from tests.cli.conftest import CLASSES, tfcam_command
from tfcam import preprocess
from tfcam.cli import main
from tfcam_console import is_native_log_line


def explain_here(workspace, *args, capsys=None):
    code = main(["explain", str(workspace / "model.keras"), *map(str, args)])
    return code, (capsys.readouterr() if capsys else None)


def test_explain_writes_overlays_maps_grid_and_table(workspace, tmp_path):
    out = tmp_path / "out"
    done = tfcam_command("explain", "model.keras", "rgb.png", "grey.jpg", "alpha.png", "--method", "grad_cam",
                         "-m", "saliency", "--scale", "255", "--labels", "labels.txt", "--out", out,
                         "--batch-size", "2", cwd=workspace)  # batches of 2 and 1
    assert done.returncode == 0, done.stderr
    for stem in ("rgb", "grey", "alpha"):
        for method in ("grad_cam", "saliency"):
            assert (out / f"{stem}.{method}.npy").is_file()
            assert (out / f"{stem}.{method}.png").is_file()
    from skimage import io
    # the overlay has the photo's own size; the map the model's input size
    assert io.imread(out / "rgb.grad_cam.png").shape == (20, 24, 3)
    assert io.imread(out / "alpha.saliency.png").shape == (30, 18, 3)
    assert np.load(out / "rgb.grad_cam.npy").shape == (16, 16)
    assert io.imread(out / "grid.png").ndim == 3
    rows = list(csv.DictReader(open(out / "explanations.csv")))
    assert len(rows) == 6 and {r["method"] for r in rows} == {"grad_cam", "saliency"}
    assert all(r["class"].split(" (")[0] in CLASSES for r in rows)
    assert "grad_cam" in done.stdout and str(out) in done.stdout
    native = [line for line in done.stderr.splitlines() if is_native_log_line(line.encode())]
    assert not native and "cuInit" not in done.stderr, done.stderr


def test_a_bad_input_is_one_line_and_exit_status_2(workspace):
    done = tfcam_command("explain", "model.keras", "rgb.png", "--layer", "conv9", "--out", workspace / "never",
                         cwd=workspace)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr  # one line, no traceback
    assert done.stderr.startswith("tfcam explain: error: no layer named 'conv9'")
    assert not (workspace / "never").exists() or not any((workspace / "never").iterdir())


def test_debug_shows_the_traceback(workspace, capsys):
    from tfcam.cli.errors import UsageError
    with pytest.raises(UsageError, match="nothing.png does not exist"):
        main(["explain", str(workspace / "model.keras"), "nothing.png", "--debug"])


def test_the_maps_are_tfcam_explain_of_the_preprocessed_pixels(workspace, tmp_path, capsys):
    from tfcam.cli.images import fit_to_model
    from tfcam.image_files import read_image

    code, _ = explain_here(workspace, workspace / "rgb.png", "--method", "grad_cam", "--target", "square",
                           "--labels", workspace / "labels.txt", "--scale", 255, "--layer", "conv1",
                           "--out", tmp_path, capsys=capsys)
    assert code == 0
    model = keras.saving.load_model(workspace / "model.keras")
    pixels = preprocess.apply(fit_to_model(read_image(workspace / "rgb.png"), 16, 16, 3)[None], 255)
    expected = tfcam.explain(model, pixels, method="grad_cam", layer="conv1", targets=1)
    np.testing.assert_allclose(np.load(tmp_path / "rgb.grad_cam.npy"), expected.maps[0], atol=1e-5)
    row = next(csv.DictReader(open(tmp_path / "explanations.csv")))
    assert row["target"] == "1" and row["class"] == "square (1)" and row["layer"] == "base/conv1"


def test_method_options_reach_the_methods_that_take_them(workspace, tmp_path, capsys):
    code, _ = explain_here(workspace, workspace / "grey.jpg", "-m", "score_cam", "-m", "grad_cam",
                           "--option", "max_channels=2", "--out", tmp_path, capsys=capsys)
    assert code == 0
    model = keras.saving.load_model(workspace / "model.keras")
    from tfcam.cli.images import fit_to_model
    from tfcam.image_files import read_image
    pixels = fit_to_model(read_image(workspace / "grey.jpg"), 16, 16, 3)[None]
    expected = tfcam.explain(model, pixels, method="score_cam", max_channels=2)
    np.testing.assert_allclose(np.load(tmp_path / "grey.score_cam.npy"), expected.maps[0], atol=1e-5)
    code, out = explain_here(workspace, workspace / "grey.jpg", "--option", "steps=4", "--out", tmp_path,
                             capsys=capsys)
    assert code == 2 and "none of ['grad_cam'] takes it" in out.err


@pytest.mark.parametrize("args, expected", [
    (("MISSING",), "image MISSING does not exist"),
    (("BROKEN",), "cannot read image BROKEN"),
    (("--target", "7"), "out of range"),
    (("--target", "sqare", "--labels", "LABELS"), "Did you mean ['square']"),
    (("--method", "gradkam"), "unknown method 'gradkam'"),
    (("--preprocess", "bogus"), "unknown preprocessing 'bogus'"),
    (("--option", "nokey"), "write KEY=VALUE"),
    (("--preprocess", "torch", "--scale", "255"), "give one of them"),
])
def test_user_errors_in_process(workspace, tmp_path, capsys, args, expected):
    files = {"LABELS": workspace / "labels.txt", "MISSING": workspace / "missing.png",
             "BROKEN": workspace / "broken.png"}
    args = [str(files.get(a, a)) for a in args]
    expected = expected.replace("MISSING", str(files["MISSING"])).replace("BROKEN", str(files["BROKEN"]))
    code, out = explain_here(workspace, workspace / "rgb.png", *args, "--out", tmp_path, capsys=capsys)
    assert code == 2 and expected in out.err and out.err.count("\n") == 1


def test_a_model_keras_cannot_load(workspace, tmp_path, capsys):
    code = main(["explain", str(workspace / "labels.txt"), str(workspace / "rgb.png"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Keras cannot load the model" in err and "model.save('model.keras')" in err


def test_layers_lists_nested_layers_and_the_default(workspace, capsys):
    assert main(["layers", str(workspace / "model.keras")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("base/conv1 ") and "(None, 14, 14, 4)" in line for line in lines)
    default = [line for line in lines if "default" in line and line.startswith("base/")]
    assert len(default) == 1 and default[0].startswith("base/conv2 ")


def test_methods_lists_every_method_with_its_options(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in tfcam.methods():
        assert any(line.startswith(name + " ") for line in out.splitlines()), name
    assert "max_channels=None" in out and "steps=32" in out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "explain" in capsys.readouterr().out
