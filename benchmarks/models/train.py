"""Get a model ready to explain: ImageNet weights if the user has them, else train it on the
built-in data set with ordinary ``model.fit``, cached on disk under the config's hash.

Cache layout: ``<cache_dir>/models/<name>-<hash>/model.weights.h5`` and ``info.json``
(accuracy, config, timings). The hash covers the model config, the training config and the
data set's parameters, so changing any of them trains a new model and keeps the old one.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.models import zoo

ARCH_KEYS = ("name", "builder", "application", "preprocess", "widths", "blocks", "batch_norm", "nested")


@dataclass
class ModelInfo:
    """How a model was obtained, and how accurate it is."""

    name: str
    source: str                 # imagenet | trained | cached
    accuracy: float | None      # on the built-in validation split (None for ImageNet weights)
    path: str | None
    accurate_enough: bool
    min_accuracy: float
    train_seconds: float = 0.0
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _plain(cfg) -> dict:
    try:
        from omegaconf import OmegaConf
        if OmegaConf.is_config(cfg):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return dict(cfg)


def config_hash(model_cfg, train_cfg, data_fingerprint: dict) -> str:
    """12 hex digits identifying what the weights depend on."""
    import keras
    m = _plain(model_cfg)
    key = {"model": {k: m.get(k) for k in ARCH_KEYS}, "train": _plain(train_cfg),
           "data": data_fingerprint, "keras_major": keras.__version__.split(".")[0]}
    key["train"].pop("progress", None)
    key["train"].pop("min_accuracy", None)
    blob = json.dumps(key, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


class _TqdmProgress:
    """A keras callback showing one tqdm bar over all training batches (loss, accuracy)."""

    def __new__(cls, epochs: int, steps: int, desc: str):
        import keras
        from tqdm.auto import tqdm

        class Progress(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.bar = tqdm(total=epochs * steps, desc=desc, unit="batch", leave=True)

            def on_train_batch_end(self, batch, logs=None):
                self.bar.update(1)
                if logs and batch % 10 == 0:
                    self.bar.set_postfix(loss=f"{float(logs.get('loss', 0)):.3f}",
                                         acc=f"{float(logs.get('accuracy', 0)):.3f}")

            def on_epoch_end(self, epoch, logs=None):
                if logs and "val_accuracy" in logs:
                    self.bar.set_postfix(acc=f"{float(logs['accuracy']):.3f}",
                                         val_acc=f"{float(logs['val_accuracy']):.3f}")

            def on_train_end(self, logs=None):
                self.bar.close()

        return Progress()


def _train_data(data_cfg, train_cfg, num_classes: int, image_size: int, progress: bool):
    from benchmarks.data.synthetic import SyntheticSpec, generate
    base = dict(image_size=image_size, num_classes=num_classes, pair_fraction=0.0,
                seed=int(train_cfg.get("data_seed", 1234)))
    for k in ("max_distractors", "object_scale", "border_fraction", "noise_std", "background"):
        if data_cfg is not None and data_cfg.get(k) is not None:
            base[k] = tuple(data_cfg[k]) if k == "object_scale" else data_cfg[k]
    train = SyntheticSpec(**base, n_images=int(train_cfg.n_train), split="train")
    val = SyntheticSpec(**base, n_images=int(train_cfg.n_val), split="val")
    return train, val, generate(train, progress=progress), generate(val, progress=progress)


def train_model(model_cfg, train_cfg, data_cfg, image_size: int, num_classes: int,
                out_dir: Path, progress: bool = True, log=print):
    """Train on the built-in data; write weights and info.json to ``out_dir``."""
    import keras

    seed = int(train_cfg.get("seed", 0))
    keras.utils.set_random_seed(seed)
    if train_cfg.get("deterministic", True):
        try:
            import tensorflow as tf
            tf.config.experimental.enable_op_determinism()
        except Exception:  # another backend, or already configured
            pass
    t0 = time.perf_counter()
    train_spec, val_spec, train, val = _train_data(data_cfg, train_cfg, num_classes, image_size, progress)
    t_data = time.perf_counter() - t0
    model = zoo.build(model_cfg, image_size, num_classes)
    model.compile(optimizer=keras.optimizers.Adam(float(train_cfg.learning_rate)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = train.images, train.labels
    if train_cfg.get("augment_flips", True):  # flips keep the ground truth's meaning
        x = np.concatenate([x, x[:, :, ::-1]])
        y = np.concatenate([y, y])
    bs, epochs = int(train_cfg.batch_size), int(train_cfg.epochs)
    steps = int(np.ceil(len(x) / bs))
    callbacks = [_TqdmProgress(epochs, steps, f"train {model_cfg.name}")] if progress else []
    if train_cfg.get("reduce_lr", True) and epochs > 2:
        callbacks.append(keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.3, patience=1, verbose=0))
    t1 = time.perf_counter()
    history = model.fit(x, y, batch_size=bs, epochs=epochs, shuffle=True, verbose=0,
                        validation_data=(val.images, val.labels), callbacks=callbacks)
    t_fit = time.perf_counter() - t1
    probs = model.predict(val.images, batch_size=64, verbose=0)
    accuracy = float(np.mean(probs.argmax(-1) == val.labels))
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "model.tmp.weights.h5"
    model.save_weights(tmp)
    tmp.replace(out_dir / "model.weights.h5")  # atomic: a killed run leaves no half file
    info = {"accuracy": accuracy, "val_images": int(val_spec.n_images),
            "train_images": int(train_spec.n_images), "epochs": epochs,
            "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
            "data_seconds": t_data, "fit_seconds": t_fit, "model": _plain(model_cfg),
            "train": _plain(train_cfg), "train_data": train_spec.fingerprint(),
            "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    (out_dir / "info.json").write_text(json.dumps(info, indent=2, default=str))
    log(f"[tfcam-bench] trained {model_cfg.name}: val accuracy {accuracy:.3f} "
        f"({t_data:.0f}s data, {t_fit:.0f}s fit) -> {out_dir}")
    return model, info


def load_or_train(model_cfg, train_cfg, data_cfg, image_size: int, num_classes: int,
                  cache_dir, progress: bool = True, log=print):
    """The model a config asks for, plus a :class:`ModelInfo`.

    ``weights: auto`` uses ImageNet weights when the file is there (``weights_path`` or the
    keras cache), else trains; ``imagenet`` insists on the file; ``train`` always trains.
    """
    min_acc = float(train_cfg.get("min_accuracy", 0.0))
    mode = str(model_cfg.get("weights", "auto") or "auto")
    imagenet = zoo.imagenet_weights_file(model_cfg) if mode in ("auto", "imagenet") else None
    if mode == "imagenet" and imagenet is None:
        raise FileNotFoundError(
            f"model {model_cfg.name}: weights=imagenet but no {model_cfg.get('imagenet_file')} in the "
            f"keras cache and no model.weights_path; nothing is downloaded")
    if imagenet is not None:
        model = zoo.build(model_cfg, 224, 1000, imagenet=imagenet)
        log(f"[tfcam-bench] {model_cfg.name}: ImageNet weights from {imagenet}")
        return model, ModelInfo(str(model_cfg.name), "imagenet", None, str(imagenet), True, min_acc)
    from benchmarks.data.synthetic import GENERATOR_VERSION
    fp = {"image_size": image_size, "num_classes": num_classes, "generator": GENERATOR_VERSION,
          "data": {k: _plain(data_cfg).get(k) for k in ("max_distractors", "object_scale",
                                                         "border_fraction", "noise_std", "background")}
          if data_cfg is not None else None}
    key = config_hash(model_cfg, train_cfg, fp)
    out_dir = Path(str(cache_dir)).expanduser() / "models" / f"{model_cfg.name}-{image_size}px-{key}"
    weights = out_dir / "model.weights.h5"
    t0 = time.perf_counter()
    if weights.is_file() and (out_dir / "info.json").is_file():
        model = zoo.build(model_cfg, image_size, num_classes)
        model.load_weights(weights)
        info = json.loads((out_dir / "info.json").read_text())
        source = "cached"
        log(f"[tfcam-bench] {model_cfg.name}: cached weights {weights} (val accuracy {info['accuracy']:.3f})")
    else:
        model, info = train_model(model_cfg, train_cfg, data_cfg, image_size, num_classes, out_dir, progress, log)
        source = "trained"
    acc = float(info["accuracy"])
    ok = acc >= min_acc
    if not ok:
        log(f"[tfcam-bench] WARNING {model_cfg.name}: accuracy {acc:.3f} < min_accuracy {min_acc}: "
            f"not accurate enough to explain")
    return model, ModelInfo(str(model_cfg.name), source, acc, str(weights), ok, min_acc,
                            time.perf_counter() - t0, {"hash": key, "epochs": info.get("epochs")})
