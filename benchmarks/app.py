"""The benchmark run: data, then per model (ImageNet weights, cached, trained, or the user's
saved model) every task of the experiment, each unit of work appended to the results as soon
as it is done; then the report (summary.md and figures). ``python -m benchmarks`` calls
:func:`run` through Hydra."""
from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from . import driver, plan
from .configs import load_group
from .context import Context
from .data.synthetic import SyntheticSpec
from .results import ResultStore, result_columns
from .tasks import COLUMNS, PROVIDERS, TASKS


def load_dataset(dcfg, progress: bool = False, log=print):
    kind = str(dcfg.get("kind", "synthetic"))
    if kind == "synthetic":
        from .data.synthetic import SyntheticSpec, generate
        fields = SyntheticSpec.__dataclass_fields__
        spec = SyntheticSpec(**{k: (tuple(v) if k == "object_scale" else v)
                                for k, v in OmegaConf.to_container(dcfg, resolve=True).items()
                                if k in fields and v is not None})
        return generate(spec, progress=progress)
    if kind == "folder":
        from .data.folder import load_folder
        if OmegaConf.is_missing(dcfg, "root") or not dcfg.root:
            raise ValueError("dataset=folder needs dataset.root=DIR (the folder of your images)")
        n_images = dcfg.get("n_images") or dcfg.get("limit")  # limit: n_images' former name
        return load_folder(dcfg.root, int(dcfg.image_size), dcfg.get("csv_file"), dcfg.get("class_names"),
                           n_images, int(dcfg.get("seed") or 0), OmegaConf.select(dcfg, "synsets", default=None),
                           log=log)
    if kind == "grid":
        from .data.grid import from_config
        return from_config(dcfg, imagenet_classifier(str(dcfg.get("select_model") or "efficientnet_lite0")))
    raise ValueError(f"unknown dataset kind {kind!r} (synthetic, folder, grid)")


def imagenet_classifier(model_name: str):
    """``classify(images) -> probabilities`` of the model config ``model_name`` with its
    ImageNet weights: the grids' photos are chosen by it (a model trained on the built-in
    shapes has no classes a photo can have)."""
    from .data.grid import classifier
    from .models import zoo
    cfg = load_group("model", model_name)
    weights = zoo.imagenet_weights_file(cfg)
    if weights is None:
        raise FileNotFoundError(f"dataset=grid selects photos with {model_name}, which needs ImageNet weights "
                                f"(model.weights_path or the keras cache); none found")
    return classifier(zoo.build(cfg, 224, 1000, imagenet=weights))


def is_saved(model_cfg) -> bool:
    return str(model_cfg.get("builder")) == "saved"


def check_weights_fit_data(dcfg, model_cfg) -> None:
    """ImageNet weights are never explained on the built-in data: their 1000 classes are not
    its classes (a model with ``same_weights_as`` is checked through the model it names)."""
    if str(dcfg.get("kind", "synthetic")) != "synthetic":
        return
    if model_cfg.get("same_weights_as"):  # loaded as that model's own config is
        model_cfg = load_group("model", str(model_cfg.same_weights_as))
    from .models.zoo import imagenet_weights_file
    mode = str(model_cfg.get("weights") or "auto")
    source = None
    if mode == "imagenet":
        source = "weights=imagenet"
    elif mode == "auto" and imagenet_weights_file(model_cfg) is not None:
        source = f"ImageNet weights ({imagenet_weights_file(model_cfg)})"
    if source:
        raise ValueError(f"model {model_cfg.name} would use {source}, whose 1000 classes are not the built-in "
                         f"data's: explain it on your photos (dataset=folder dataset.root=DIR) or train it on "
                         f"the built-in data (weights=train)")


def check_saved_fits_data(dcfg, loaded) -> None:
    """A saved model runs on the built-in data only with its classes (trained on it), and on
    images of the size it takes."""
    from .models.saved import input_size, num_classes
    name, model = loaded.info.name, loaded.model
    size = int(dcfg.image_size)
    if any(d is not None and int(d) != size for d in input_size(model)):
        raise ValueError(f"model {name} takes {tuple(input_size(model))} images but dataset.image_size={size}: "
                         f"set dataset.image_size={input_size(model)[0]}")
    if str(dcfg.get("kind", "synthetic")) == "synthetic" and num_classes(model) != int(dcfg.num_classes):
        raise ValueError(f"model {name} has {num_classes(model)} classes, the built-in data "
                         f"{int(dcfg.num_classes)}: explain it on your images (dataset=folder dataset.root=DIR)")


def validate(cfg, log=print) -> dict:
    """Fail on what would fail later, before any work: unknown tasks, models or methods (their
    configs are composed and resolved into each model's plan), an unknown class to explain,
    a model that does not fit the data. Returns the saved models, loaded (name -> Loaded)."""
    for task in own_model_tasks(cfg):  # tasks that build their models: their own checks, the methods
        TASKS[task].check(cfg)
        plan.method_configs(cfg)
    model_cfgs = model_configs(cfg)
    for model_cfg in model_cfgs:
        for task in plan.tasks_for(cfg, str(model_cfg.name), list(TASKS)):
            plan.plan(cfg, model_cfg, task)
    targets = str(cfg.dataset.get("targets", "label"))
    if targets not in ("label", "predicted"):
        raise ValueError(f"dataset.targets must be label or predicted; received {targets!r}")
    loaded = {}
    for model_cfg in model_cfgs:
        if is_saved(model_cfg):
            from .models import saved
            loaded[str(model_cfg.name)] = saved.load(model_cfg, log=log)
            check_saved_fits_data(cfg.dataset, loaded[str(model_cfg.name)])
        else:
            check_weights_fit_data(cfg.dataset, model_cfg)
    return loaded


def own_model_tasks(cfg) -> list:
    """The run's tasks that build their own models (``own_models``, e.g. the zoo): run once,
    not per model of ``models``."""
    return [t for t in plan.tasks_for(cfg, "", list(TASKS)) if getattr(TASKS[t], "own_models", False)]


def model_configs(cfg) -> list:
    """The configs of ``models`` (:func:`benchmarks.plan.model_configs`), none when every task
    of the run builds its own models (the zoo needs no trained model)."""
    tasks = plan.tasks_for(cfg, "", list(TASKS))
    if tasks and set(tasks) <= set(own_model_tasks(cfg)):
        return []
    return plan.model_configs(cfg)


def _run_own_models(cfg, out, store, data, experiment: str, progress: bool, log) -> None:
    """The tasks that build their own models, once, in a context with no model of its own."""
    names = own_model_tasks(cfg)
    if not names:
        return
    none = np.full(len(data), -1, np.int64)
    ctx = Context(cfg=cfg, out=out, store=store, data=data, model_cfg=OmegaConf.create({"name": "+".join(names)}),
                  model=None, info=None, targets=none, predicted=none, class_labels=False,
                  experiment=experiment, targets_kind="predicted", log=log)
    from tqdm.auto import tqdm
    driver.run_tasks(ctx, [TASKS[t] for t in names], PROVIDERS,
                     lambda total: tqdm(total=total, desc=ctx.model_name, unit="item", disable=not progress))


def fingerprint(cfg) -> dict:
    """What the meaning of recorded rows depends on (not the lists of methods or layers:
    adding a method to a finished run computes just that method)."""
    keep = {k: cfg.get(k) for k in ("dataset", "metrics", "train", "batch_size", "seed", "weights",
                                     "precision")}
    keep["dataset"] = {k: v for k, v in OmegaConf.to_container(cfg.dataset, resolve=True).items() if v is not None}
    return OmegaConf.to_container(OmegaConf.create(keep), resolve=True)


def _train_cfg(cfg, model_cfg):
    return OmegaConf.merge(cfg.train, model_cfg.get("train") or {})


def _save_reference_images(out: Path, data, n: int) -> None:
    """``images.csv`` (the table's ``image`` column is a position; this gives its id, e.g.
    the file name for a user's folder, and its classes), ``dataset.json`` (how the data set
    was made: for grids, the selection rule and every photo's class and probability), and the
    first images with their masks for the report's heatmap grids."""
    import json

    import pandas as pd
    (out / "dataset.json").write_text(json.dumps({"name": data.name, **data.meta}, indent=1, default=str))
    names = list(data.class_names)
    label = lambda c: names[c] if 0 <= c < len(names) else ""
    pd.DataFrame({"image": np.arange(len(data)), "id": data.ids,
                  "label": [label(int(c)) for c in data.labels],
                  "second_label": [label(int(c)) for c in data.second_labels],
                  "object_pixels": data.masks.reshape(len(data), -1).sum(1)}).to_csv(out / "images.csv", index=False)
    n = min(n, len(data))
    folder = out / "maps"
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / "images.npz", images=data.images[:n].astype(np.float16),
                        masks=data.masks[:n], image=np.arange(n), labels=data.labels[:n])


def labels_are_model_classes(data, info, n_outputs: int) -> bool:
    """Whether the data's label ``c`` is the model's class ``c``: on the built-in data for the
    models trained on it (a saved model was checked to have its classes); on a folder whose
    labels are ImageNet synsets for a model of as many classes, or whose ``class_names`` are
    given (in the model's order) for a saved model of as many classes."""
    if data.meta.get("spec"):
        return info.source != "imagenet"
    classes = data.meta.get("classes")
    same_count = int(n_outputs) == data.num_classes
    return same_count and (classes == "synsets" or (classes == "class_names" and info.source == "saved"))


def _load_model(cfg, model_cfg, train_cfg, data, loaded: dict, progress: bool, log) -> tuple:
    """(model config, model, ModelInfo): a saved model as validate loaded it (its picked
    layers put into its config), else the zoo's, with ImageNet weights, cached or trained."""
    from .models.zoo import with_precision
    precision = str(cfg.get("precision") or "float32")
    if is_saved(model_cfg):
        model, info, layers = loaded.pop(str(model_cfg.name))
        model_cfg = OmegaConf.merge(model_cfg)  # a copy: the run's config keeps its own
        with open_dict(model_cfg):
            model_cfg.layers = layers
        if model.dtype_policy.name != precision:
            log(f"[tfcam-bench] {info.name}: computes in its own dtype policy {model.dtype_policy.name} "
                f"(precision={precision} applies to the zoo's models)")
        return model_cfg, model, info
    from .models.train import load_or_train
    synthetic = bool(data.meta.get("spec"))
    # on a user's folder, a model without ImageNet weights is trained on the built-in classes
    n_classes = data.num_classes if synthetic else SyntheticSpec().num_classes
    model, info = load_or_train(model_cfg, train_cfg, cfg.dataset if synthetic else None,
                                data.image_size[0], max(n_classes, 2), cfg.cache_dir,
                                progress=progress, log=log,
                                model_config=lambda name: load_group("model", name))
    return model_cfg, with_precision(model_cfg, model, precision, info), info


def _record_skipped(ctx, task: str, why: str) -> None:
    """A task that cannot run on this data: one log line, and one row (metric ``skipped``,
    the reason in ``error``) so the table says why its section is missing."""
    ctx.log(f"[tfcam-bench] {ctx.model_name}: {task} skipped: {why}")
    unit = ctx.unit(task, "-", "-", "skipped")
    if not ctx.store.is_done(unit):
        ctx.store.write(unit, [{**ctx.base_row(task), "image": -1, "metric": "skipped", "error": why}])


def run(cfg: DictConfig, out_dir, log=print) -> Path:
    """Run the experiment ``cfg`` into ``out_dir``; return the summary's path."""
    from .report import render

    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    progress = bool(cfg.get("progress", True))
    experiment = str(cfg.get("experiment", {}).get("name", "custom"))
    # Everything that can be checked is checked before the store may retire the folder's
    # earlier results (a changed configuration renames them *.stale-<time>).
    loaded = validate(cfg, log=log)
    data = load_dataset(cfg.dataset, progress, log=log)
    store = ResultStore(out, fingerprint(cfg), resume=bool(cfg.get("resume", True)), log=log,
                        retry_errors=bool(cfg.get("retry_errors", True)), columns=result_columns(COLUMNS))
    (out / "run_config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    _save_reference_images(out, data, int(cfg.get("report", {}).get("n_images", 4)))
    log(f"[tfcam-bench] {experiment}: {len(data)} images of {data.image_size} from {data.name}; "
        f"tasks {list(cfg.tasks)}; output {out}")
    _run_own_models(cfg, out, store, data, experiment, progress, log)
    for model_cfg in model_configs(cfg):
        train_cfg = _train_cfg(cfg, model_cfg)
        model_cfg, model, info = _load_model(cfg, model_cfg, train_cfg, data, loaded, progress, log)
        probs = np.asarray(model.predict(data.images, batch_size=64, verbose=0))
        predicted = probs.argmax(-1)
        # dataset.targets: label (the data's classes) or predicted (the top-1); a model whose
        # classes are not the data's, or data without labels, is explained for its prediction
        why_not = [why for why, bad in (
            ("dataset.targets=predicted", str(cfg.dataset.get("targets", "label")) != "label"),
            ("the data's labels are not its classes", not labels_are_model_classes(data, info, probs.shape[-1])),
            ("not every image has a label", not (data.labels >= 0).all())) if bad]
        class_labels = not why_not
        targets = data.labels.copy() if class_labels else predicted.copy()
        targets_kind = "label" if class_labels else "predicted"
        log(f"[tfcam-bench] {model_cfg.name}: explained for "
            + ("the data's labels" if class_labels else f"its top-1 class ({why_not[0]})"))
        unit = f"model|{model_cfg.name}|-|-|info"
        base = {"experiment": experiment, "task": "model", "model": str(model_cfg.name),
                "dataset": data.name, "method": "", "library": "", "layer_choice": "", "layer": "",
                "image": -1, "targets": targets_kind}
        if not store.is_done(unit):
            rows = [{**base, "metric": "val_accuracy", "weights": info.source,
                     "value": np.nan if info.accuracy is None else info.accuracy}]
            if class_labels:  # on the single-class images (a two-class image has two right answers)
                single = data.second_labels < 0
                rows.append({**base, "metric": "eval_accuracy", "weights": info.source,
                             "value": float(np.mean(predicted[single] == data.labels[single]))})
            if not info.accurate_enough:
                rows.append({**base, "metric": "not_accurate_enough", "weights": info.source,
                             "on_inaccurate": str(train_cfg.get("on_inaccurate")),
                             "value": info.accuracy,
                             "error": f"val accuracy {info.accuracy:.3f} < min_accuracy {info.min_accuracy}"})
            store.write(unit, rows)
        if not info.accurate_enough:
            policy = str(train_cfg.get("on_inaccurate", "skip"))
            if policy == "error":
                raise RuntimeError(f"model {model_cfg.name}: accuracy {info.accuracy:.3f} < {info.min_accuracy}")
            if policy == "skip":
                log(f"[tfcam-bench] {model_cfg.name} skipped: not accurate enough to explain "
                    f"(reported in summary.md; set train.on_inaccurate=warn to use it anyway)")
                continue
        ctx = Context(cfg=cfg, out=out, store=store, data=data, model_cfg=model_cfg, model=model,
                      info=info, targets=targets.astype(np.int64), predicted=predicted,
                      class_labels=bool(class_labels), experiment=experiment, targets_kind=targets_kind,
                      log=log)
        names = [t for t in plan.tasks_for(cfg, ctx.model_name, list(TASKS)) if t not in own_model_tasks(cfg)]
        if "localization" in names and not data.has_boxes:
            names.remove("localization")
            _record_skipped(ctx, "localization", f"no image of {data.name} has a box (localization needs "
                            f"boxes: Pascal VOC *.xml or boxes.csv beside the images)")
        ctx.cache["tasks"] = names
        from tqdm.auto import tqdm
        desc = ctx.model_name
        driver.run_tasks(ctx, [TASKS[t] for t in names], PROVIDERS,
                         lambda total, desc=desc: tqdm(total=total, desc=desc, unit="item", disable=not progress))
        del ctx, model
        gc.collect()
    store.export()
    summary = render.write_report(out, cfg=cfg, log=log)
    log(f"[tfcam-bench] done in {time.perf_counter() - t_start:.0f}s: {summary}")
    return summary
