"""Finding the configs: the repo's ``conf/`` and loading group members by name.

An experiment lists models and methods by name (``models: [vgg_small, resnet_small]``); this
loads ``conf/model/<name>.yaml`` from the same search path Hydra used for the run.
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


def load_group(group: str, name: str) -> DictConfig:
    """``conf/<group>/<name>.yaml`` with its same-group ``defaults`` merged in."""
    for d in search_dirs():
        path = d / group / f"{name}.yaml"
        if path.is_file():
            cfg = OmegaConf.load(path)
            defaults = cfg.pop("defaults", None) if isinstance(cfg, DictConfig) else None
            if not defaults:
                return cfg
            merged = OmegaConf.create()
            for item in defaults:
                if item == "_self_":
                    merged = OmegaConf.merge(merged, cfg)
                elif isinstance(item, str):
                    merged = OmegaConf.merge(merged, load_group(group, item))
            if "_self_" not in defaults:
                merged = OmegaConf.merge(merged, cfg)
            return merged
    known = sorted({p.stem for d in search_dirs() if (d / group).is_dir() for p in (d / group).glob("*.yaml")})
    raise FileNotFoundError(f"no config {group}/{name}.yaml (known {group}s: {known})")


def group_names(group: str) -> list:
    return sorted({p.stem for d in search_dirs() if (d / group).is_dir() for p in (d / group).glob("*.yaml")})
