"""Class names for `--labels`: `imagenet` (the 1,000 names tfcam ships), or a file with one
name per line, or JSON.

Without --labels, nothing is guessed: a model of 1,000 outputs is most likely an ImageNet
classifier, but a wrong name would mislead, so the command line says that `--labels imagenet`
names its classes (`labels_note`) and keeps the numbers."""

from __future__ import annotations

import json
from pathlib import Path

from tfcam.cli.errors import UsageError
from tfcam.imagenet import NUM_CLASSES as IMAGENET_CLASSES
from tfcam.imagenet import imagenet_classes

IMAGENET = "imagenet"  # --labels imagenet (a file of that name: ./imagenet)


def class_names(labels: str | None) -> dict[int, str]:
    """{class index: name} for the `--labels` value: none, `imagenet`, or a file."""
    if not labels:
        return {}
    if labels.strip().lower() == IMAGENET:
        return dict(enumerate(imagenet_classes()))
    return read_class_names(labels)


def check_class_count(labels: str | None, outputs: int | None) -> None:
    """`--labels imagenet` names 1,000 outputs: on a model of another count it would name the
    wrong classes."""
    if labels and labels.strip().lower() == IMAGENET and outputs is not None and outputs != IMAGENET_CLASSES:
        raise UsageError(f"--labels imagenet names {IMAGENET_CLASSES:,} ImageNet classes, but the model has "
                         f"{outputs} outputs: give a file of its class names, one per line")


def labels_note(labels: str | None, outputs: int | None) -> str | None:
    """A line for a model of 1,000 outputs explained without --labels, else None."""
    if labels or outputs != IMAGENET_CLASSES:
        return None
    return (f"note: the model has {IMAGENET_CLASSES:,} outputs; if it is an ImageNet classifier, "
            "--labels imagenet names its classes (tfcam ships the names)")


def read_class_names(path) -> dict[int, str]:
    """{class index: name} from a text file (line k names class k; blank lines count) or a
    JSON file: a list of names, {"index": name}, or Keras' ImageNet index
    {"0": ["n01440764", "tench"], ...}."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"labels file {path} does not exist: give a text file with one class "
                         "name per line (line 1 is class 0) or a JSON list")
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() != ".json":
        return {k: line.strip() for k, line in enumerate(text.splitlines()) if line.strip()}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"labels file {path} is not valid JSON: {e}") from None
    items = enumerate(data) if isinstance(data, list) else data.items() if isinstance(data, dict) else None
    names = {}
    try:
        for key, value in items or ():
            name = value[-1] if isinstance(value, (list, tuple)) else value
            names[int(key)] = str(name)
    except (TypeError, ValueError, IndexError):
        items = None
    if items is None:
        raise UsageError(f"labels file {path}: expected a list of names or {{\"index\": name}}")
    return names


def class_index(target: str, names: dict[int, str]) -> int:
    """`--target` as a class index: a number, or a class name of --labels (case, spaces and
    underscores aside: "egyptian_cat" is "Egyptian cat")."""
    try:
        return int(target)
    except ValueError:
        pass
    matches = [k for k, name in names.items() if _same_name(name, target)]
    if matches:
        return matches[0]
    if not names:
        raise UsageError(f"--target {target}: give a class index, or --labels FILE (or imagenet) "
                         "to name classes")
    import difflib

    close = difflib.get_close_matches(target, list(names.values()), n=3, cutoff=0.6)
    hint = f" Did you mean {close}?" if close else ""
    raise UsageError(f"--target {target}: no class of that name in --labels.{hint}")


def _same_name(name: str, target: str) -> bool:
    def key(text):
        return " ".join(text.replace("_", " ").split()).lower()
    return key(name) == key(target)
