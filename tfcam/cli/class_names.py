"""Class names from a `--labels` file: one name per line, or JSON."""

from __future__ import annotations

import json
from pathlib import Path

from tfcam.cli.errors import UsageError


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
    """`--target` as a class index: a number, or a class name of the labels file."""
    try:
        return int(target)
    except ValueError:
        pass
    matches = [k for k, name in names.items() if name.lower() == target.strip().lower()]
    if matches:
        return matches[0]
    if not names:
        raise UsageError(f"--target {target}: give a class index, or --labels FILE to name classes")
    import difflib

    close = difflib.get_close_matches(target, list(names.values()), n=3, cutoff=0.6)
    hint = f" Did you mean {close}?" if close else ""
    raise UsageError(f"--target {target}: no class of that name in the labels file.{hint}")
