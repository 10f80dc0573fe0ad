"""The benchmark run: data, then per model (ImageNet weights, cached, or trained) every task
of the experiment, each unit of work appended to the results as soon as it is done; then the
report (summary.md and figures). ``python -m benchmarks`` calls :func:`run` through Hydra."""
from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from benchmarks import driver, plan
from benchmarks.configs import load_group
from benchmarks.context import Context
from benchmarks.data.synthetic import SyntheticSpec
from benchmarks.results import ResultStore, result_columns
from benchmarks.tasks import COLUMNS, PROVIDERS, TASKS


def load_dataset(dcfg, progress: bool = False):
    kind = str(dcfg.get("kind", "synthetic"))
    if kind == "synthetic":
        from benchmarks.data.synthetic import SyntheticSpec, generate
        fields = SyntheticSpec.__dataclass_fields__
        spec = SyntheticSpec(**{k: (tuple(v) if k == "object_scale" else v)
                                for k, v in OmegaConf.to_container(dcfg, resolve=True).items()
                                if k in fields and v is not None})
        return generate(spec, progress=progress)
    if kind == "folder":
        from benchmarks.data.folder import load_folder
        return load_folder(dcfg.root, int(dcfg.image_size), dcfg.get("csv_file"),
                           dcfg.get("class_names"), dcfg.get("limit"))
    raise ValueError(f"unknown dataset kind {kind!r} (synthetic, folder)")


def validate(cfg) -> None:
    """Fail on what would fail later, before any work: unknown tasks, models or methods (their
    configs are composed and resolved into each model's plan), an unknown class to explain."""
    plan.tasks_for(cfg, "", list(TASKS))
    for model_cfg in plan.model_configs(cfg):
        for task in plan.tasks_for(cfg, str(model_cfg.name), list(TASKS)):
            plan.plan(cfg, model_cfg, task)
    targets = str(cfg.dataset.get("targets", "label"))
    if targets not in ("label", "predicted"):
        raise ValueError(f"dataset.targets must be label or predicted; received {targets!r}")


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
    the file name for a user's folder, and its classes), and the first images with their
    masks for the report's heatmap grids."""
    import pandas as pd
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


def run(cfg: DictConfig, out_dir, log=print) -> Path:
    """Run the experiment ``cfg`` into ``out_dir``; return the summary's path."""
    from benchmarks.models.train import load_or_train
    from benchmarks.report import render

    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    progress = bool(cfg.get("progress", True))
    experiment = str(cfg.get("experiment", {}).get("name", "custom"))
    # Everything that can be checked is checked before the store may retire the folder's
    # earlier results (a changed configuration renames them *.stale-<time>).
    validate(cfg)
    data = load_dataset(cfg.dataset, progress)
    store = ResultStore(out, fingerprint(cfg), resume=bool(cfg.get("resume", True)), log=log,
                        retry_errors=bool(cfg.get("retry_errors", True)), columns=result_columns(COLUMNS))
    (out / "run_config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    _save_reference_images(out, data, int(cfg.get("report", {}).get("n_images", 4)))
    log(f"[tfcam-bench] {experiment}: {len(data)} images of {data.image_size} from {data.name}; "
        f"tasks {list(cfg.tasks)}; output {out}")
    for model_cfg in plan.model_configs(cfg):
        train_cfg = _train_cfg(cfg, model_cfg)
        synthetic = bool(data.meta.get("spec"))
        # on a user's folder, a model without ImageNet weights is trained on the built-in classes
        n_classes = data.num_classes if synthetic else SyntheticSpec().num_classes
        model, info = load_or_train(model_cfg, train_cfg, cfg.dataset if synthetic else None,
                                    data.image_size[0], max(n_classes, 2), cfg.cache_dir,
                                    progress=progress, log=log,
                                    model_config=lambda name: load_group("model", name))
        from benchmarks.models.zoo import with_precision
        model = with_precision(model_cfg, model, str(cfg.get("precision") or "float32"), info)
        probs = np.asarray(model.predict(data.images, batch_size=64, verbose=0))
        predicted = probs.argmax(-1)
        # dataset.targets: label (the data's classes) or predicted (the top-1); a model with
        # ImageNet weights, or data without labels, is explained for its prediction
        class_labels = synthetic and info.source != "imagenet" \
            and str(cfg.dataset.get("targets", "label")) == "label" and (data.labels >= 0).all()
        targets = data.labels.copy() if class_labels else predicted.copy()
        targets_kind = "label" if class_labels else "predicted"
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
        names = plan.tasks_for(cfg, ctx.model_name, list(TASKS))
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
