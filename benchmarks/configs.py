"""Finding the configs (the repo's ``conf/``) and loading group members by name.

An experiment lists models and methods by name (``models: [vgg_small, resnet_small]``);
:func:`load_group` composes ``<group>=<name>`` with Hydra's compose API, from the search path
of the running app (or ``conf/`` outside one), so a member's ``defaults`` and the schema
(:mod:`benchmarks.schema`) apply exactly as for ``model=<name>`` on the command line.

The configs' own resolvers are registered on import (before Hydra composes): ``tfcam_stem``
(a file's name without its suffix: a saved model's name) and ``tfcam_run_folder`` (the run's
folder name, see :func:`run_folder`).
"""
from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

PACKAGE_ROOT = Path(__file__).resolve().parent


def default_conf_dir() -> Path:
    """``$TFCAM_CONF``, else ``conf/`` beside the ``benchmarks`` package (the repo root in a
    checkout or an editable install), else ``./conf``."""
    env = os.environ.get("TFCAM_CONF")
    if env:
        return Path(env).expanduser().resolve()
    beside = PACKAGE_ROOT.parent / "conf"
    if (beside / "config.yaml").is_file():
        return beside
    return (Path.cwd() / "conf").resolve()


_CACHE: dict = {}


def _compose(overrides: list) -> DictConfig:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from . import schema  # noqa: F401 - registers the schemas
    if GlobalHydra.instance().is_initialized():  # inside the app (or a test's compose context)
        return compose(config_name="config", overrides=overrides)
    with initialize_config_dir(config_dir=str(default_conf_dir()), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def load_group(group: str, name: str) -> DictConfig:
    """The ``<group>/<name>`` member, composed (its ``defaults`` and the schema applied)."""
    key = (group, str(name), str(default_conf_dir()))
    if key not in _CACHE:
        names = group_names(group)
        if names and str(name) not in names:
            raise FileNotFoundError(f"no config {group}/{name}.yaml (known {group}s: {names})")
        _CACHE[key] = _compose([f"{group}={name}"])[group]
    return _CACHE[key]


def search_dirs() -> list:
    """Config directories of the running Hydra app (file sources), then the default."""
    dirs = []
    try:
        from hydra.core.hydra_config import HydraConfig
        if HydraConfig.initialized():
            for src in HydraConfig.get().runtime.config_sources:
                if src.schema == "file" and src.path:
                    dirs.append(Path(src.path))
    except Exception:
        pass
    d = default_conf_dir()
    if d not in dirs:
        dirs.append(d)
    return dirs


def group_names(group: str) -> list:
    return sorted({p.stem for d in search_dirs() if (d / group).is_dir() for p in (d / group).glob("*.yaml")})


def run_folder(experiment, dataset=None, model=None) -> str:
    """The run's folder name: ``<experiment>`` for the built-in data and the zoo's models;
    ``-<folder name>`` added for a user's folder, ``-<model name>`` for a saved model, so
    such a run never resumes (or retires as stale) the built-in run's results."""
    parts = [str(experiment)]
    if dataset is not None and str(dataset.get("kind", "synthetic")) != "synthetic":
        root = OmegaConf.select(dataset, "root", default=None)
        parts.append(Path(str(root)).expanduser().name if root else str(dataset.get("name", "data")))
    if model is not None and str(model.get("builder")) == "saved":
        parts.append(str(model.get("name")))
    return "-".join(p for p in parts if p)


def file_stem(path, default: str = "") -> str:
    """``/models/flowers.keras`` -> ``flowers``; ``default`` when there is no path."""
    return Path(str(path)).stem if path else default


def register_resolvers() -> None:
    for name, fn in (("tfcam_stem", file_stem), ("tfcam_run_folder", run_folder)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()
