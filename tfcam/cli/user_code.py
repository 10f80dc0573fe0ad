"""`--import MODULE_OR_FILE`: the user's code, imported before the command runs.

A `.keras` file names its custom layers' classes but holds none of their code: Keras finds a
class only once the module that defines it (with `@keras.saving.register_keras_serializable`)
has been imported. Keras' safe mode stays on: the code that runs is the user's own module,
never Python code stored inside the model file (a Lambda layer's function still does not load).
Every command takes it, so a module may also add methods (`tfcam.register`) to `tfcam methods`
and `tfcam explain --method`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
import traceback
from pathlib import Path

from tfcam.cli.errors import UsageError

HELP = ("your Python code, imported first, so that the model's custom layers load (classes "
        "with @keras.saving.register_keras_serializable): a .py file or a module name (found in "
        "the current folder too); repeat for several. Keras' safe mode stays on: no Python code "
        "stored in the model file (a Lambda's function) runs")
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def add_argument(parser) -> None:
    parser.add_argument("--import", action="append", default=[], dest="imports",
                        metavar="MODULE_OR_FILE", help=HELP)


def import_all(specs) -> list:
    """Import each `--import` value in order; the modules. A module that registers nothing is
    fine (it may import the ones that do)."""
    return [import_one(spec) for spec in specs or ()]


def import_one(spec: str):
    """A .py file (a path, or a name ending in .py) or a dotted module name."""
    path = Path(spec).expanduser()
    is_name = bool(_MODULE_NAME.match(spec))
    if _names_a_path(spec, path, is_name):
        return _import_file(spec, path)
    if not is_name:
        raise UsageError(f"--import {spec}: not a .py file and not a module name (my_layers, "
                         "package.layers)")
    return _import_module(spec)


def _names_a_path(spec: str, path: Path, is_name: bool) -> bool:
    """A path, not a module name: it ends in .py, has a folder in it, or is a file (a folder
    that is also a valid module name is taken as a package's name)."""
    return (spec.endswith(".py") or "/" in spec or os.sep in spec or path.is_file()
            or (path.is_dir() and not is_name))


def _import_module(name: str):
    # as `python -m` does: a module in the current folder is found
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise UsageError(f"--import {name}: no module of that name: give the path of its .py "
                             "file, or run from the folder that holds it (or add that folder to "
                             "PYTHONPATH)") from e
        raise _failed(name, e) from e
    except Exception as e:  # noqa: BLE001 - the user's code may raise anything; they need its reason
        raise _failed(name, e) from e


def _import_file(spec: str, path: Path):
    if not path.exists():
        raise UsageError(f"--import {spec}: no such file: give the path of the .py file that defines "
                         "your custom layers")
    if path.is_dir():
        raise UsageError(f"--import {spec}: a folder: give a .py file, or a package's name run from "
                         "the folder that holds the package")
    path = path.resolve()
    # a name of its own per file: two files called layers.py do not replace each other
    name = f"tfcam_user_{_identifier(path.stem)}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec_ = importlib.util.spec_from_file_location(name, path)
    if spec_ is None or spec_.loader is None:
        raise UsageError(f"--import {spec}: Python cannot import this file: give a .py file")
    module = importlib.util.module_from_spec(spec_)
    sys.modules[name] = module  # before running it: dataclasses and pickling look it up
    # as for a script: the file's folder is on the path, so it imports its neighbours
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    try:
        spec_.loader.exec_module(module)
    except BaseException as e:
        sys.modules.pop(name, None)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        raise _failed(spec, e) from e
    return module


def _identifier(text: str) -> str:
    return re.sub(r"\W", "_", text)


def _failed(spec: str, error: BaseException) -> UsageError:
    """One line: the user's exception, its message and where their code raised it."""
    message = f"{type(error).__name__}: {error}".rstrip(": ")
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if "importlib" not in f.filename and f.filename != __file__]
    frames = [f for f in frames if "site-packages" not in f.filename] or frames  # the user's line, not Keras'
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return UsageError(f"--import {spec}: importing it raised {message}{where}; fix it "
                      "(--debug shows the traceback)")
