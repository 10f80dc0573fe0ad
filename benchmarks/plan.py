"""The one place that says what runs: which model × task × method × layer.

From the config: ``models`` (or ``model=<name>``), ``tasks``, ``methods`` (or ``method=<id>``),
``layers`` (or ``layer=<choice>``), then the rules of ``only``; each rule, on the units its
``if_models`` / ``if_tasks`` / ``if_methods`` select, keeps only its ``tasks`` / ``methods`` /
``layers``. ``method=`` and ``layer=`` on the command line win over the rules' methods and
layers (a sweep runs exactly what it names); input-space methods and reference maps have no
layer (layer choice ``input``) and no layer rule applies to them.
"""
from __future__ import annotations

from typing import NamedTuple

from omegaconf import OmegaConf

from .configs import load_group
from .models.zoo import resolve_layer


class PlanItem(NamedTuple):
    method: object          # the method config
    choice: str             # layer choice: shallow | mid | last | a layer name | input
    layer: str | None       # the layer's name in the model ("!<why>" when it has none)


def _names(value) -> list:
    return [] if value is None else [str(v) for v in value]


def model_configs(cfg) -> list:
    """The experiment's model configs; a top-level ``weights=`` (e.g. ``random`` for speed
    runs) replaces every model's own."""
    configs = [cfg.model] if cfg.get("model") is not None else [load_group("model", n) for n in _names(cfg.models)]
    if cfg.get("weights"):
        configs = [OmegaConf.merge(c, {"weights": str(cfg.weights)}) for c in configs]
    return configs


def method_configs(cfg) -> list:
    if cfg.get("method") is not None:
        return [cfg.method]
    return [load_group("method", n) for n in _names(cfg.methods)]


def layer_choices(cfg) -> list:
    return [str(cfg.layer)] if cfg.get("layer") is not None else _names(cfg.layers)


def _applies(rule, model: str, task: str, method: str | None) -> bool:
    for key, value in (("if_models", model), ("if_tasks", task), ("if_methods", method)):
        scope = rule.get(key)
        if scope is not None and (value is None or value not in _names(scope)):
            return False
    return True


def allowed(cfg, model: str, task: str, method: str | None = None, choice: str | None = None) -> bool:
    """Whether the rules of ``only`` keep this unit (``method`` / ``choice`` None: any)."""
    for rule in cfg.get("only") or []:
        if not _applies(rule, model, task, method):
            continue
        if rule.get("tasks") is not None and task not in _names(rule.tasks):
            return False
        if (method is not None and rule.get("methods") is not None and cfg.get("method") is None
                and method not in _names(rule.methods)):
            return False
        if (choice is not None and rule.get("layers") is not None and cfg.get("layer") is None
                and choice not in _names(rule.layers)):
            return False
    return True


def tasks_for(cfg, model: str, known: list) -> list:
    """The tasks run on ``model``, in the order of ``known`` (the registry's)."""
    chosen = _names(cfg.tasks)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; known: {list(known)}")
    return [t for t in known if t in chosen and allowed(cfg, model, t)]


def plan(cfg, model_cfg, task: str) -> list:
    """[PlanItem] of ``task`` on ``model_cfg``: layer-wise methods at each layer choice,
    input-space methods and reference maps once (layer choice ``input``)."""
    model = str(model_cfg.name)
    items = []
    for m in method_configs(cfg):
        if not allowed(cfg, model, task, str(m.id)):
            continue
        if not m.get("layerwise", True):
            items.append(PlanItem(m, "input", None))
            continue
        for choice in layer_choices(cfg):
            if not allowed(cfg, model, task, str(m.id), choice):
                continue
            try:
                name = resolve_layer(model_cfg, choice)
            except KeyError as e:
                name = f"!{e}"
            items.append(PlanItem(m, choice, name))
    return items
