"""The heatmap grids: per model and image, the image (the class its maps explain and the
model's probability of it), then one panel per method @ layer choice with maps, a "failed"
panel where a method's maps failed; drawn with `tfcam.visualize.grid`.

The class explained is the image's label, or the model's top-1 class (``targets``:
predicted, e.g. on the grid pointing game's grids, whose label is only cell 0's class): the
maps' files record it (`Context.save_figure_maps`), and an ImageNet model's classes are
named with `tfcam.imagenet_classes` ("Egyptian cat (285)")."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..maps import MEMBERS as MAP_TASKS  # the tasks that explain, and so make maps
from ..report.style import layer_key, method_key

PANEL_COLUMNS = 6       # a heatmap grid is at most this many panels wide


def load_maps(folder: Path, map_dirs=None) -> dict | None:
    """What the heatmap grids draw: the first images with their masks and labels
    (``maps/images.npz``, `benchmarks.app`), their class names (``images.csv`` next to
    ``maps/``) and each model's maps (``maps/<model>/<method>__<layer choice>.npz``,
    `benchmarks.context.Context.save_figure_maps`). ``map_dirs``: several ``maps/`` folders
    (a sweep's jobs), merged per model, the first one's images kept. None without images."""
    ref, names, per_model = None, {}, {}
    for maps_root in (map_dirs or [Path(folder) / "maps"]):
        maps_root = Path(maps_root)
        if not (maps_root / "images.npz").exists():
            continue
        if ref is None:
            ref = dict(np.load(maps_root / "images.npz"))
            names = _class_names(maps_root.parent / "images.csv")
        for model_dir in sorted(p for p in maps_root.iterdir() if p.is_dir()):
            for f in sorted(model_dir.glob("*.npz")):
                if f.name.endswith(".tmp.npz"):  # a write in flight
                    continue
                method, _, choice = f.stem.partition("__")
                per_model.setdefault(model_dir.name, {})[(method, choice)] = dict(np.load(f))
    return None if ref is None else {"images": ref, "class_names": names, "maps": per_model}


def _class_names(path: Path) -> dict:
    """{image position: its class name} from ``images.csv`` ({} without it)."""
    if not path.exists():
        return {}
    table = pd.read_csv(path, keep_default_na=False, dtype={"label": str})
    if not {"image", "label"} <= set(table.columns):
        return {}
    return {int(i): str(name) for i, name in zip(table["image"], table["label"]) if str(name)}


def _map_failures(results: pd.DataFrame | None) -> dict:
    """{model: {(method, layer choice): error message}} of the tasks that make maps."""
    if results is None or results.empty or not {"metric", "task", "model", "method"} <= set(results.columns):
        return {}
    err = results[(results.metric == "error") & results.task.isin(MAP_TASKS)]
    out = {}
    for row in err.to_dict("records"):
        method = str(row.get("method") or "")
        if not method:  # a model's or a task's error, no method's
            continue
        # the baselines' wrapper says nothing the panel's title does not: the cause is the message
        message = str(row.get("error") or "").removeprefix("BaselineError: ") or "error"
        out.setdefault(str(row["model"]), {}).setdefault((method, str(row.get("layer_choice") or "")), message)
    return out


def _confidences(results: pd.DataFrame | None, model: str) -> tuple:
    """({image position: the model's probability of the explained class}, the class
    explained: label | predicted), from the faithfulness task's ``original_confidence`` rows."""
    if results is None or results.empty or "metric" not in results:
        return {}, "label"
    mine = results[results.model == model]
    rows = mine[(mine.metric == "original_confidence") & mine.value.notna()]
    image = pd.to_numeric(rows.image, errors="coerce")
    p = rows.assign(image=image).dropna(subset=["image"]).groupby("image").value.median()
    kinds = [str(t) for t in mine.get("targets", pd.Series(dtype=str)) if str(t)]
    return {int(i): float(v) for i, v in p.items()}, (kinds[0] if kinds else "label")


def _explained_class(entries: dict, image_id: int) -> int | None:
    """The class the model's maps of image ``image_id`` explain (``targets`` in the maps'
    files); None where the run did not record it."""
    for e in entries.values():
        hit = np.flatnonzero(np.asarray(e["image"]) == image_id) if "targets" in e else ()
        if len(hit):
            return int(e["targets"][hit[0]])
    return None


def _imagenet_model(results: pd.DataFrame | None, model: str) -> bool:
    """Whether the model has ImageNet weights (its rows' ``weights``): its classes are ImageNet's."""
    if results is None or results.empty or not {"model", "weights"} <= set(results.columns):
        return False
    weights = results.loc[results.model == model, "weights"].dropna().astype(str)
    return any(w.startswith("imagenet") for w in weights)


def _class_text(index: int | None, imagenet: bool) -> str:
    """'Egyptian cat (285)' for an ImageNet model, else 'class 285'."""
    if index is None:
        return "class not recorded"
    from tfcam import imagenet_classes
    names = imagenet_classes() if imagenet else ()
    return f"{names[index]} ({index})" if 0 <= index < len(names) else f"class {index}"


def _image_title(explained: str, p: float | None, targets: str, of_label: bool) -> str:
    """The class the maps explain and the model's probability of it."""
    if of_label:
        return explained if p is None else f"{explained}\np({explained}) = {p:.2f}"
    head = f"top-1: {explained}" if targets == "predicted" else explained
    return head if p is None else f"{head}\np = {p:.2f}"


def _outline_note(label_name: str, explained: str, of_label: bool) -> str:
    """What the white outline is: the label's region, which is the explained class's only
    where the maps explain the label."""
    if of_label or not label_name or explained.lower().startswith(label_name.lower() + " ("):
        return "white: ground truth"
    return f"white: the region of the label, {label_name}"


def _panel_columns(n_panels: int) -> int:
    """Panels per row: all in one row up to 4, else about square, at most `PANEL_COLUMNS`."""
    return n_panels if n_panels <= 4 else min(PANEL_COLUMNS, math.ceil(math.sqrt(n_panels)))


def make_heatmap_grids(maps: dict | None, results: pd.DataFrame | None = None, max_methods: int = 14) -> list:
    """[(file name, Figure)], one per model and image (`tfcam.visualize.grid`): the image,
    titled with its class and the model's probability of it (where the faithfulness task
    recorded it), then one panel per method @ layer choice that has maps, tfcam's methods
    first, tf-keras-vis' next, the reference maps last, layer choices shallow → input; a
    method whose maps failed (an ``error`` row of a map task in ``results``) is a "failed"
    panel with its message. ``max_methods``: at most this many methods (each with all its
    layer choices) per model."""
    if maps is None:
        return []
    from tfcam.visualize import grid
    ref = maps["images"]
    height, width = ref["images"].shape[1:3]
    failures = _map_failures(results)
    out = []
    for model in sorted(set(maps["maps"]) | set(failures)):
        entries = maps["maps"].get(model, {})
        failed = {k: v for k, v in failures.get(model, {}).items() if k not in entries}
        panels = sorted(set(entries) | set(failed), key=lambda mc: (method_key(mc[0]), layer_key(mc[1])))
        kept = list(dict.fromkeys(m for m, _ in panels))[:max(1, int(max_methods))]
        panels = [p for p in panels if p[0] in kept]
        p_of, targets = _confidences(results, model)
        imagenet = _imagenet_model(results, model)
        for k, image_id in enumerate(ref["image"]):
            image_id = int(image_id)
            columns = {}
            for method, choice in panels:
                title = f"{method}\n@ {choice}"
                if (method, choice) in failed:
                    columns[title] = failed[(method, choice)]
                    continue
                e = entries[(method, choice)]
                hit = np.flatnonzero(np.asarray(e["image"]) == image_id)
                if len(hit) and e["maps"].shape[1:] == (height, width):
                    columns[title] = e["maps"][hit[:1]].astype(np.float32)
            if not columns:
                continue
            label = int(ref["labels"][k]) if "labels" in ref else None
            name = maps["class_names"].get(image_id) or ("" if label is None else f"class {label}")
            explained = _explained_class(entries, image_id)
            if explained is None and targets == "label":
                explained = label
            of_label = targets == "label" and explained == label
            shown = (name or f"image {image_id}") if of_label else _class_text(explained, imagenet)
            ncols = _panel_columns(len(columns) + 1)
            fig = grid(ref["images"][k:k + 1].astype(np.float32), columns, ncols=ncols,
                       outlines=ref["masks"][k:k + 1] if "masks" in ref else None,
                       image_titles=[_image_title(shown, p_of.get(image_id), targets, of_label)],
                       title=f"{model}, image {image_id}: maps per method @ layer "
                             f"({_outline_note(name, shown, of_label)})")
            out.append((f"heatmaps_{model}_img{image_id}.png", fig))
    return out
