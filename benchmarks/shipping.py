"""The small models whose weights the package ships (benchmarks/models/weights/): which, and
how they are made: the default configuration's recipe, exactly what a run with a cold cache
would train (scripts/ship_weights.py writes them; tests/benchmarks/test_shipped_weights.py
checks them)."""
from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

DEFAULT_MODELS = ("vgg_small", "resnet_small")


def default_run_config(name: str):
    """The default run's configuration with ``models=[name]`` (its data set and training)."""
    from .configs import _compose
    return _compose([f"models=[{name}]"])


def recipe(name: str, cfg=None) -> tuple:
    """(model config, training config, data config, image size, classes) of ``name`` in the
    default run, as benchmarks/app.py passes them to ``load_or_train``."""
    from .configs import load_group
    cfg = default_run_config(name) if cfg is None else cfg
    model_cfg = load_group("model", name)
    train_cfg = OmegaConf.merge(cfg.train, model_cfg.get("train") or {})
    return model_cfg, train_cfg, cfg.dataset, int(cfg.dataset.image_size), int(cfg.dataset.num_classes)


def folder_name(name: str) -> str:
    """``<name>-<size>px-<hash>``: the cache folder the default run looks for."""
    from .models.train import config_hash, training_fingerprint
    model_cfg, train_cfg, data_cfg, size, classes = recipe(name)
    key = config_hash(model_cfg, train_cfg, training_fingerprint(data_cfg, size, classes))
    return f"{name}-{size}px-{key}"


def train_for_shipping(name: str, cache_dir) -> tuple:
    """Train ``name`` afresh into ``cache_dir``; (its folder, validation accuracy)."""
    from .models.train import train_model
    model_cfg, train_cfg, data_cfg, size, classes = recipe(name)
    out = Path(cache_dir) / "models" / folder_name(name)
    _, info = train_model(model_cfg, train_cfg, data_cfg, size, classes, out, progress=True, cache_dir=cache_dir)
    return out, float(info["accuracy"])
