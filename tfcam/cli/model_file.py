"""Loading the user's model file, with one clear line when Keras cannot."""

from __future__ import annotations

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
        raise UsageError(f"Keras cannot load the model {path}: {_first_line(e)}. Save it with "
                         "model.save('model.keras'); custom layers need "
                         "@keras.saving.register_keras_serializable") from None


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
