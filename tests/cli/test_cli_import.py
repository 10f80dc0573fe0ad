"""`--import MODULE_OR_FILE`: a model with a custom layer loads once the user's code that
registers the layer is imported; Keras' safe mode stays on. Registration is global to a
process, so what --import changes is seen in subprocesses: the same command fails without
it and works with it. The rest (errors, module names, the wiring) runs in-process."""
import importlib.util
import sys

import keras
import pytest

from tests.cli.conftest import tfcam_command
from tfcam.cli import main
from tfcam.cli.errors import UsageError
from tfcam.cli.user_code import import_all, import_one

LAYERS = '''
import keras


@keras.saving.register_keras_serializable(package="tfcam_cli_test")
class TfcamCliTestScale(keras.layers.Layer):
    """Doubles its input: a custom layer Keras cannot load without this file."""

    def call(self, x):
        return x * 2.0
'''


@pytest.fixture(scope="module")
def custom(tmp_path_factory):
    """my_layers.py (a registered custom layer) and custom.keras, a model that uses it."""
    folder = tmp_path_factory.mktemp("custom")
    (folder / "my_layers.py").write_text(LAYERS)
    spec = importlib.util.spec_from_file_location("my_layers", folder / "my_layers.py")
    my_layers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(my_layers)  # registered in this process: the model can be saved
    inputs = keras.Input((16, 16, 3))
    x = my_layers.TfcamCliTestScale(name="scale")(keras.layers.Conv2D(4, 3, name="conv")(inputs))
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(inputs, outputs).save(folder / "custom.keras")
    return folder


def test_import_is_what_makes_a_custom_layer_load(custom, workspace, tmp_path):
    args = ("explain", custom / "custom.keras", workspace / "rgb.png", "--layer", "scale", "--out", tmp_path)
    without = tfcam_command(*args, cwd=tmp_path)
    assert without.returncode == 2, without.stderr
    assert without.stderr.strip().count("\n") == 0, without.stderr  # one line, no traceback
    assert "custom class 'TfcamCliTestScale' (module 'my_layers'" in without.stderr
    assert "--import" in without.stderr
    done = tfcam_command(*args, "--import", custom / "my_layers.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "rgb.grad_cam.npy").is_file() and "grad_cam" in done.stdout


@pytest.fixture
def clean_path(monkeypatch):
    """sys.path as it was after the test (--import puts folders on it)."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def test_layers_and_methods_take_import_a_module_name_is_found_in_the_current_folder(
        custom, clean_path, monkeypatch, capsys):
    monkeypatch.chdir(custom)
    sys.modules.pop("my_layers", None)  # the fixture's import: this one must find it by name
    try:
        # json registers nothing
        assert main(["layers", "custom.keras", "--import", "my_layers", "--import", "json"]) == 0
    finally:
        sys.modules.pop("my_layers", None)
    assert "scale" in capsys.readouterr().out
    assert main(["methods", "--import", "json"]) == 0  # every command takes it


@pytest.mark.parametrize("code, expected", [
    # Keras raises it; the line named is the user's
    ("import keras\nkeras.layers.Dense(3, bogus=1)\n",
     "importing it raised ValueError: Unrecognized keyword arguments passed to Dense: {'bogus': 1} "
     "(broken.py, line 2)"),
    ("x = 1 / 0\n", "importing it raised ZeroDivisionError: division by zero (broken.py, line 1)"),
    ("def f(:\n", "importing it raised SyntaxError: invalid syntax (broken.py, line 1)"),
    ("import no_such_module_of_tfcam\n", "importing it raised ModuleNotFoundError: No module named "
                                          "'no_such_module_of_tfcam' (broken.py, line 1)"),
])
def test_the_users_error_is_one_line_with_its_type_message_and_line(tmp_path, clean_path, code, expected):
    (tmp_path / "broken.py").write_text(code)
    with pytest.raises(UsageError) as raised:
        import_one(str(tmp_path / "broken.py"))
    assert expected in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("spec, expected", [
    ("missing.py", "--import missing.py: no such file"),
    ("no_such_module_of_tfcam", "no module of that name"),
    ("my-layers", "not a .py file and not a module name"),
    (".", "a folder"),
])
def test_what_cannot_be_imported_says_why(tmp_path, clean_path, monkeypatch, spec, expected):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=expected):
        import_one(spec)


def test_a_file_imports_its_neighbours_once(tmp_path, clean_path):
    (tmp_path / "helper_of_tfcam_test.py").write_text("VALUE = 7\n")
    (tmp_path / "uses.py").write_text("from helper_of_tfcam_test import VALUE\n")
    try:
        first, again = import_all([str(tmp_path / "uses.py"), str(tmp_path / "uses.py")])
    finally:
        sys.modules.pop("helper_of_tfcam_test", None)
    assert first is again and first.VALUE == 7 and first.__name__.startswith("tfcam_user_uses_")


def test_a_lambda_stays_out_safe_mode_says_how_to_fix_it(tmp_path, capsys):
    inputs = keras.Input((8, 8, 3))
    keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs)).save(tmp_path / "lambda.keras")
    assert main(["layers", str(tmp_path / "lambda.keras")]) == 2
    err = capsys.readouterr().err
    assert "Lambda layer" in err and "safe mode" in err and "--import" in err
