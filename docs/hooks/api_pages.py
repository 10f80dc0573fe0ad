"""mkdocs hook: the API pages that list what tfcam registers or exports are written from the
package at build time, and the build checks that every public name has its entry.

* docs/api/methods.md: one section per method module, in registration order, with the
  module's docstring (the paper, the formula) and each registered class (its options are
  its signature); a new method appears without editing the page.
* docs/api/metrics.md: every name of `tfcam.metrics.__all__`, under its module's docstring.
* after the build: every public class and function (the `__all__` of `tfcam`, `tfcam.lrp`,
  `tfcam.metrics`, `tfcam.visualize`, `tfcam.score_targets`) must have an anchor on an API
  page, else a warning, which fails a strict build.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pathlib
import re
import sys
from collections import defaultdict

log = logging.getLogger("mkdocs.hooks.api_pages")

METHODS_MARKER = "<!-- api: the registered methods -->"
METRICS_MARKER = "<!-- api: tfcam.metrics -->"
PUBLIC_MODULES = ("tfcam", "tfcam.lrp", "tfcam.metrics", "tfcam.visualize", "tfcam.score_targets")
# the metric modules in reading order; a module not listed comes after them
METRIC_ORDER = ("result", "faithfulness", "deletion_insertion", "road", "completeness",
                "infidelity", "sensitivity", "robustness", "complexity", "localization",
                "sanity", "randomize", "shattering", "similarity")


def _tfcam():
    import tfcam_console

    tfcam_console.quiet_native_logs()  # tfcam imports Keras, hence TensorFlow
    return importlib.import_module("tfcam")


def _directive(path: str, **options) -> str:
    lines = [f"::: {path}"]
    if options:
        lines.append("    options:")
        for key, value in options.items():
            if isinstance(value, dict):
                lines.append(f"      {key}:")
                lines += [f"        {k}: {str(v).lower() if isinstance(v, bool) else v}"
                          for k, v in value.items()]
            else:
                text = str(value).lower() if isinstance(value, bool) else value
                lines.append(f"      {key}: {text}")
    return "\n".join(lines)


def methods_markdown() -> str:
    registry = _tfcam().registry
    by_module: dict[str, list] = defaultdict(list)
    for name, cls in registry.CLASSES.items():
        by_module[cls.__module__].append((name, cls))
    parts = []
    for kind, wanted in (("Class activation maps (a layer's map)", True),
                         ("Input-space methods (a map of the input)", False)):
        parts.append(f"## {kind}")
        for module, entries in by_module.items():
            if entries[0][1].needs_layer != wanted:
                continue
            ids = ", ".join(f"`{name}`" for name, _ in entries)
            aliases = [a for name, _ in entries for a in registry.ALIASES.get(name, ())]
            also = f" (also {', '.join(f'`{a}`' for a in aliases)})" if aliases else ""
            parts.append(f"### {ids}{also}")
            parts.append(_directive(module, show_root_heading=False, show_if_no_docstring=True,
                                    heading_level=4,
                                    members="[" + ", ".join(c.__name__ for _, c in entries) + "]"))
    return "\n\n".join(parts)


def _defining_module(name: str, value) -> str | None:
    """The tfcam.metrics module that defines the constant `name` (HIGHER_IS_BETTER)."""
    for module_name, module in sorted(sys.modules.items()):
        if module_name.startswith("tfcam.metrics.") and getattr(module, name, None) is value:
            return module_name
    return None


def metrics_markdown() -> str:
    _tfcam()
    metrics = importlib.import_module("tfcam.metrics")
    by_module: dict[str, list[str]] = defaultdict(list)
    borrowed = []  # re-exported from elsewhere in tfcam (the blur of tfcam.fill)
    for name in metrics.__all__:
        obj = getattr(metrics, name)
        module = getattr(obj, "__module__", None) if callable(obj) else _defining_module(name, obj)
        if module is None:
            continue
        if module.startswith("tfcam.metrics."):
            by_module[module].append(obj.__name__ if callable(obj) else name)
        else:
            borrowed.append(f"{module}.{obj.__qualname__}")
    short = {m: m.rsplit(".", 1)[1] for m in by_module}
    order = sorted(by_module, key=lambda m: (METRIC_ORDER.index(short[m])
                                             if short[m] in METRIC_ORDER else len(METRIC_ORDER),
                                             short[m].startswith("_"), short[m]))
    parts = []
    helpers = borrowed  # functions of private modules and of other tfcam modules
    for module in order:
        if short[module].startswith("_"):
            helpers += [f"{module}.{name}" for name in by_module[module]]
            continue
        parts.append(_directive(module, members="false", heading_level=2))
        checks = {"warn_missing_types": False}  # the types are in the signatures
        parts += [_directive(f"{module}.{name}", heading_level=3, docstring_options=checks,
                             show_if_no_docstring=True)
                  for name in dict.fromkeys(by_module[module])]
    if helpers:
        parts.append("## Helpers")
        parts += [_directive(path, heading_level=3) for path in helpers]
    return "\n\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    for marker, make in ((METHODS_MARKER, methods_markdown), (METRICS_MARKER, metrics_markdown)):
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown


def public_objects() -> dict[str, str]:
    """Public name -> the path its entry is anchored at (`module.qualname`), for the classes
    and functions the public modules export."""
    _tfcam()
    found = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found[f"{module_name}.{name}"] = f"{obj.__module__}.{obj.__qualname__}"
    return found


def on_post_build(config) -> None:
    anchors = set()
    for html in pathlib.Path(config["site_dir"], "api").rglob("*.html"):
        anchors.update(re.findall(r'id="(tfcam\.[\w.]+)"', html.read_text(encoding="utf-8")))
    missing = {public: path for public, path in public_objects().items() if path not in anchors}
    for public, path in sorted(missing.items()):
        log.warning(f"{public} is public but has no entry on the API pages (docs/api/): "
                    f"add `::: {path}` to one")
