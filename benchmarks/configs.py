"""Finding the configs (the packaged ``conf`` or the repo's ``conf/``) and loading group
members by name.

An experiment lists models and methods by name (``models: [vgg_small, resnet_small]``);
:func:`load_group` composes ``<group>=<name>`` with Hydra's compose API, from the search path
of the running app (or ``conf/`` outside one), so a member's ``defaults`` and the schema
(:mod:`benchmarks.schema`) apply exactly as for ``model=<name>`` on the command line.

The configs' own resolvers are registered on import (before Hydra composes): ``tfcam_stem``
(a file's name without its suffix: a saved model's name), ``tfcam_run_folder`` (the run's
folder name, see :func:`run_folder`) and ``tfcam_bench_package`` (this package's import name,
for the ``_target_`` of the sweep callback in ``conf/config.yaml``).
"""
from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

PACKAGE_ROOT = Path(__file__).resolve().parent


def default_conf_dir() -> Path:
    """The config folder: ``$TFCAM_CONF``; else the ``conf`` folder installed inside this
    package (a wheel: ``tfcam_benchmarks/conf``); else ``conf/`` beside the package (the repo
    root: a checkout or an editable install). Never the current folder's ``conf/``: a user's
    own folder of that name must not change what ``tfcam bench`` runs."""
    env = os.environ.get("TFCAM_CONF")
    if env:
        path = Path(env).expanduser().resolve()
        if not (path / "config.yaml").is_file():
            raise FileNotFoundError(f"TFCAM_CONF={env}: no config.yaml in {path}; point it at a "
                                    "folder laid out like the packaged configs (docs/install.md)")
        return path
    for path in (PACKAGE_ROOT / "conf", PACKAGE_ROOT.parent / "conf"):
        if (path / "config.yaml").is_file():
            return path
    raise FileNotFoundError(f"the benchmark's configs are missing: no conf/config.yaml in "
                            f"{PACKAGE_ROOT} (an installed wheel) nor in {PACKAGE_ROOT.parent} (a "
                            "checkout); reinstall tfcam (pip install 'tfcam[bench]') or set "
                            "TFCAM_CONF to a config folder")


# How the app was started, for the summaries' command line: set by `tfcam bench` (and by
# ``python -m``), read in every process of a sweep (the launcher's workers inherit it).
STARTED_AS = "TFCAM_BENCH_COMMAND"


def started_as() -> str:
    """``tfcam bench``, ``python -m tfcam_benchmarks`` or ``python -m benchmarks``: what the
    user typed before the overrides."""
    return os.environ.get(STARTED_AS) or f"python -m {package_name()}"


def package_name() -> str:
    """The name this package is imported under: ``benchmarks`` in a checkout,
    ``tfcam_benchmarks`` when installed (pyproject.toml). Config targets are built from it."""
    return __package__


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
    for name, fn in (("tfcam_stem", file_stem), ("tfcam_run_folder", run_folder),
                     ("tfcam_bench_package", package_name)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()
