"""Loading the user's model file, with one clear line when Keras cannot."""

from __future__ import annotations

import re
from pathlib import Path

from tfcam.cli.errors import UsageError


def load_model(path):
    """The Keras model saved at `path` (`.keras`, `.h5`, or a SavedModel folder that Keras 3
    loads), not compiled: explanations need only its forward pass."""
    import keras

    path = Path(path).expanduser()
    if not path.exists():
        raise UsageError(f"model file {path} does not exist: give the file your model was saved "
                         "to with model.save('model.keras')")
    if path.is_dir():
        return _saved_model_folder(path)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)  # no Lambda code runs
    except Exception as e:  # noqa: BLE001 - Keras raises many kinds; the user needs its reason
        raise UsageError(f"Keras cannot load the model {path}: {_reason(e)}") from None


def _reason(error: Exception) -> str:
    """Why Keras could not load the model, and the fix: a custom class whose code was not
    imported, a Lambda that safe mode keeps out, or Keras' own first sentence."""
    text = str(error)
    missing = re.search(r"Could not locate (?:class|function) '([^']+)'", text)
    if missing:
        name = missing.group(1)
        saved_in = re.search(r"'module': '([^']+)', 'class_name': '" + re.escape(name) + "'", text)
        return (f"it uses the custom class '{name}'{_defined_in(saved_in and saved_in.group(1))}, "
                "which is not registered: pass the file "
                "or module that defines it with --import FILE.py (or --import MODULE); the class needs "
                "@keras.saving.register_keras_serializable()")
    if "Lambda" in text and "safe_mode" in text:
        return ("it holds a Lambda layer whose Python code Keras' safe mode does not run (tfcam keeps "
                "safe mode on): write the Lambda as a custom layer class with "
                "@keras.saving.register_keras_serializable(), save the model again and pass that "
                "class's file with --import")
    return (f"{_first_line(error)}. Save it with model.save('model.keras'); custom layers: pass "
            "the code that defines them with --import FILE.py")


def _defined_in(module: str | None) -> str:
    """Where the class lived when the model was saved (Keras records its module)."""
    if not module:
        return ""
    if module == "__main__":
        return " (defined in the script or notebook that saved the model: move it to a .py file)"
    return f" (module '{module}' when the model was saved)"


def _saved_model_folder(path: Path):
    """A TensorFlow SavedModel folder: Keras 3 reads it only as an inference layer, which
    has no layers to explain; say so rather than fail later."""
    raise UsageError(
        f"{path} is a folder (a TensorFlow SavedModel?): Keras 3 loads it only as an opaque "
        "TFSMLayer, whose layers cannot be explained. Load it in the program that made it and "
        "save it with model.save('model.keras')"
    )


def _first_line(error: Exception) -> str:
    """The reason's first sentence (Keras' messages run to a paragraph)."""
    text = str(error).strip()
    if not text:
        return type(error).__name__
    line = text.splitlines()[0]
    return line.split(". ")[0].rstrip(".")
