"""Get a model ready to explain: ImageNet weights if the user has them, else train it on the
built-in data set with ordinary ``model.fit``, cached on disk under the config's hash.

Cache layout: ``<cache_dir>/models/<name>-<size>px-<hash>/model.weights.h5`` and
``info.json`` (accuracy, config, timings). The hash covers what the weights depend on and
nothing else: the architecture keys, the training recipe (not its reporting settings) and
the training data's parameters *as generated* (a folder run, which names no synthetic
parameters, trains on the defaults and so shares the built-in run's model). Changing any of
them trains a new model and keeps the old one.

The package ships the weights its own recipe makes for the default small models
(``benchmarks/models/weights/``, same layout, made by ``scripts/ship_weights.py``): a cold
cache finds them there instead of training (``tests/benchmarks/test_shipped_weights.py``
retrains them and compares).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.synthetic import generate
from ..models import zoo
from ..models.init import initialize

ARCH_KEYS = ("name", "builder", "application", "preprocess", "widths", "blocks", "batch_norm", "nested",
             "pools", "strides")
# Training keys that do not change the weights (what to do with the model, not how it is made).
NOT_HASHED = ("progress", "min_accuracy", "on_inaccurate")
# The synthetic data's parameters the training set is generated with (benchmarks/data/synthetic.py).
DATA_KEYS = ("max_distractors", "object_scale", "border_fraction", "noise_std", "background")
SHIPPED = Path(__file__).with_name("weights")
# Training sets larger than this are generated again rather than written to the cache
# (224-px training data is over 1 GB as float32).
MAX_CACHED_DATA_BYTES = 256 * 2**20
# Training keys added after models were cached, whose default trains what was trained before
# the key existed: left out of the hash at that default, so those cached weights stay valid.
HASHED_UNLESS_DEFAULT = {"init": "default"}


@dataclass
class ModelInfo:
    """How a model was obtained, and how accurate it is."""

    name: str
    source: str                 # imagenet | trained | cached | shipped (in the package)
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


def training_fingerprint(data_cfg, image_size: int, num_classes: int) -> dict:
    """What the training data depends on (the ``data_fingerprint`` of :func:`config_hash`)."""
    from ..data.synthetic import GENERATOR_VERSION
    return {"image_size": image_size, "num_classes": num_classes, "generator": GENERATOR_VERSION,
            "data": training_data_parameters(data_cfg)}


def config_hash(model_cfg, train_cfg, data_fingerprint: dict) -> str:
    """12 hex digits identifying what the weights depend on."""
    import keras
    m = _plain(model_cfg)
    key = {"model": {k: m.get(k) for k in ARCH_KEYS}, "train": _plain(train_cfg),
           "data": data_fingerprint, "keras_major": keras.__version__.split(".")[0]}
    for name in NOT_HASHED:
        key["train"].pop(name, None)
    for name, default in HASHED_UNLESS_DEFAULT.items():
        if key["train"].get(name) == default:
            key["train"].pop(name)
    blob = json.dumps(key, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _DihedralBatches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int):
    """Shuffled batches, each image under a random flip/90° rotation (seeded per epoch).

    The built-in objects are drawn at random angles with textures in the object's own
    frame, so the 8 symmetries of the square keep every image's class and ground truth."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0
            self._order()

        def _order(self):
            self.rng = np.random.default_rng([seed, self.epoch])
            self.perm = self.rng.permutation(len(x))
            self.ops = self.rng.integers(0, 8, size=len(x))

        def __len__(self):
            return int(np.ceil(len(x) / batch_size))

        def __getitem__(self, i):
            idx = self.perm[i * batch_size:(i + 1) * batch_size]
            out = x[idx].copy()
            for j, op in enumerate(self.ops[idx]):
                img = np.rot90(out[j], k=int(op) % 4)
                out[j] = img[:, ::-1] if op >= 4 else img
            return out, y[idx]

        def on_epoch_end(self):
            self.epoch += 1
            self._order()

    return Batches()


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


def training_data_parameters(data_cfg) -> dict:
    """The synthetic parameters the training set is generated with: the data config's where
    it sets them, else the generator's defaults (a folder config sets none)."""
    from ..data.synthetic import SyntheticSpec
    given = _plain(data_cfg) if data_cfg is not None else {}
    out = {}
    for k in DATA_KEYS:
        value = given.get(k)
        value = getattr(SyntheticSpec, k) if value is None else value
        out[k] = list(value) if k == "object_scale" else value
    return out


def _train_data_specs(data_cfg, train_cfg, num_classes: int, image_size: int):
    from ..data.synthetic import SyntheticSpec
    base = dict(image_size=image_size, num_classes=num_classes, pair_fraction=0.0,
                seed=int(train_cfg.get("data_seed", 1234)))
    for k, v in training_data_parameters(data_cfg).items():
        base[k] = tuple(v) if k == "object_scale" else v
    train = SyntheticSpec(**base, n_images=int(train_cfg.n_train), split="train")
    val = SyntheticSpec(**base, n_images=int(train_cfg.n_val), split="val")
    return train, val


_DATA_IN_MEMORY: dict = {}


def _cached_train_data(data_cfg, train_cfg, num_classes, image_size, progress, cache_dir):
    """The training and validation sets, generated once and kept next to the models (the
    second model of a run reuses the first one's data); sets over MAX_CACHED_DATA_BYTES are
    kept in memory for this process only."""
    train, val = _train_data_specs(data_cfg, train_cfg, num_classes, image_size)
    blob = json.dumps([train.fingerprint(), val.fingerprint()], sort_keys=True, default=str).encode()
    key = hashlib.sha256(blob).hexdigest()[:12]
    if key in _DATA_IN_MEMORY:
        return (train, val, *_DATA_IN_MEMORY[key])
    path = Path(str(cache_dir)).expanduser() / "data" / f"train-{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            from ..data.dataset import Dataset
            sets = [Dataset(images=z[f"{k}_images"], labels=z[f"{k}_labels"], masks=z[f"{k}_masks"],
                            boxes=np.zeros((len(z[f"{k}_labels"]), 4), np.int64), class_names=[])
                    for k in ("train", "val")]
        return train, val, sets[0], sets[1]
    t, v = generate(train, progress=progress), generate(val, progress=progress)
    if t.images.nbytes + v.images.nbytes > MAX_CACHED_DATA_BYTES:
        _DATA_IN_MEMORY.clear()  # one set at a time: the next model of the run reuses it
        _DATA_IN_MEMORY[key] = (t, v)
        return train, val, t, v
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
    np.savez(tmp, train_images=t.images, train_labels=t.labels, train_masks=t.masks,
             val_images=v.images, val_labels=v.labels, val_masks=v.masks)
    tmp.replace(path)
    return train, val, t, v


def _deterministic_ops() -> None:
    """TensorFlow's deterministic kernels (JAX's are deterministic on CPU already). Reached
    through the backend Keras loaded (``keras.backend.backend()``), not imported here."""
    import sys

    import keras

    name = keras.backend.backend()
    native = sys.modules.get(name)
    if name == "tensorflow" and native is not None:
        try:
            native.config.experimental.enable_op_determinism()
        except Exception:  # noqa: BLE001, S110 - already configured
            pass


def train_model(model_cfg, train_cfg, data_cfg, image_size: int, num_classes: int,
                out_dir: Path, progress: bool = True, log=print, cache_dir=None):
    """Train on the built-in data; write weights and info.json to ``out_dir``."""
    import keras

    seed = int(train_cfg.get("seed", 0))
    keras.utils.set_random_seed(seed)
    if train_cfg.get("deterministic", True):
        _deterministic_ops()
    t0 = time.perf_counter()
    train_spec, val_spec, train, val = _cached_train_data(data_cfg, train_cfg, num_classes, image_size, progress,
                                                          cache_dir or out_dir.parent.parent)
    t_data = time.perf_counter() - t0
    x, y = train.images, train.labels
    bs, epochs = int(train_cfg.batch_size), int(train_cfg.epochs)
    steps = int(np.ceil(len(x) / bs))
    augment = bool(train_cfg.get("augment", True))
    batches = _DihedralBatches(x, y, bs, seed) if augment else None
    lr = float(train_cfg.learning_rate)
    if str(train_cfg.get("schedule", "cosine")) == "cosine":
        # a short run ends on a low learning rate: the last epochs settle weights and BN statistics
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=epochs * steps, alpha=0.02)
    model = zoo.build(model_cfg, image_size, num_classes)
    initialize(model, str(train_cfg.get("init", "default")), seed)  # he_normal for plain VGGs
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    callbacks = [_TqdmProgress(epochs, steps, f"train {model_cfg.name}")] if progress else []
    t1 = time.perf_counter()
    if batches is not None:
        history = model.fit(batches, epochs=epochs, verbose=0, validation_data=(val.images, val.labels),
                            callbacks=callbacks)
    else:
        history = model.fit(x, y, batch_size=bs, epochs=epochs, shuffle=True, verbose=0,
                            validation_data=(val.images, val.labels), callbacks=callbacks)
    t_fit = time.perf_counter() - t1
    probs = model.predict(val.images, batch_size=64, verbose=0)
    accuracy = float(np.mean(probs.argmax(-1) == val.labels))
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f"model.tmp{os.getpid()}.weights.h5"  # parallel sweep jobs may train the same model
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
                  cache_dir, progress: bool = True, log=print, model_config=None):
    """The model a config asks for, plus a :class:`ModelInfo`.

    ``model_config(name)``: another model's config, for a model with ``same_weights_as``
    (passed in, so that this module does not read the config store).

    ``weights: auto`` uses ImageNet weights when the file is there (``weights_path`` or the
    keras cache), else trains; ``imagenet`` insists on the file; ``train`` always trains;
    ``random`` keeps the seeded initial weights (for speed runs: no training, no accuracy).
    """
    min_acc = float(train_cfg.get("min_accuracy", 0.0))
    if model_cfg.get("same_weights_as"):
        return _same_weights(model_cfg, train_cfg, data_cfg, image_size, num_classes, cache_dir,
                             progress, log, model_config)
    mode = str(model_cfg.get("weights", "auto") or "auto")
    if mode == "random":
        import keras
        keras.utils.set_random_seed(int(train_cfg.get("seed", 0)))
        log(f"[tfcam-bench] {model_cfg.name}: random weights (weights=random), not trained")
        return zoo.build(model_cfg, image_size, num_classes), ModelInfo(
            str(model_cfg.name), "random", None, None, True, min_acc)
    imagenet = zoo.imagenet_weights_file(model_cfg) if mode in ("auto", "imagenet") else None
    if mode == "imagenet" and imagenet is None:
        raise FileNotFoundError(
            f"model {model_cfg.name}: weights=imagenet but no {model_cfg.get('imagenet_file')} in the "
            f"keras cache and no model.weights_path; nothing is downloaded")
    if imagenet is not None:
        model = zoo.build(model_cfg, 224, 1000, imagenet=imagenet)
        log(f"[tfcam-bench] {model_cfg.name}: ImageNet weights from {imagenet}")
        return model, ModelInfo(str(model_cfg.name), "imagenet", None, str(imagenet), True, min_acc)
    key = config_hash(model_cfg, train_cfg, training_fingerprint(data_cfg, image_size, num_classes))
    folder = f"{model_cfg.name}-{image_size}px-{key}"
    out_dir = Path(str(cache_dir)).expanduser() / "models" / folder
    weights = out_dir / "model.weights.h5"
    t0 = time.perf_counter()
    found = next(((d, source) for d, source in ((out_dir, "cached"), (SHIPPED / folder, "shipped"))
                  if (d / "model.weights.h5").is_file() and (d / "info.json").is_file()), None)
    if found is not None:
        found_dir, source = found
        weights = found_dir / "model.weights.h5"
        model = zoo.build(model_cfg, image_size, num_classes)
        model.load_weights(weights)
        info = json.loads((found_dir / "info.json").read_text())
        log(f"[tfcam-bench] {model_cfg.name}: {source} weights {weights} (val accuracy {info['accuracy']:.3f})")
    else:
        model, info = train_model(model_cfg, train_cfg, data_cfg, image_size, num_classes, out_dir, progress, log,
                                  cache_dir)
        source = "trained"
    acc = float(info["accuracy"])
    ok = acc >= min_acc
    if not ok:
        log(f"[tfcam-bench] WARNING {model_cfg.name}: accuracy {acc:.3f} < min_accuracy {min_acc}: "
            f"not accurate enough to explain")
    return model, ModelInfo(str(model_cfg.name), source, acc, str(weights), ok, min_acc,
                            time.perf_counter() - t0, {"hash": key, "epochs": info.get("epochs")})


def _same_weights(model_cfg, train_cfg, data_cfg, image_size, num_classes, cache_dir, progress, log,
                  model_config):
    """Another architecture view of a model: e.g. ``resnet_small`` rebuilt as a backbone nested
    in an outer model, or as a subclassed keras.Model. The weights are the named model's,
    copied layer by layer by name: a subclassed model lists its variables in the order its
    ``__init__`` made them, which need not be the flat model's."""
    from omegaconf import OmegaConf

    base_name = str(model_cfg.same_weights_as)
    if model_config is None:
        raise ValueError(f"model {model_cfg.name} has same_weights_as={base_name}: pass "
                         f"load_or_train(..., model_config=) to look that model's config up")
    base_cfg = model_config(base_name)
    base_train = OmegaConf.merge(train_cfg, base_cfg.get("train") or {})
    base, info = load_or_train(base_cfg, base_train, data_cfg, image_size, num_classes, cache_dir, progress, log)
    model = zoo.build(model_cfg, image_size, num_classes)
    zoo.copy_weights_by_name(base, model)
    layout = model_cfg.get("nested")
    log(f"[tfcam-bench] {model_cfg.name}: {base_name}'s weights in the {model_cfg.get('builder')} "
        f"architecture{f' (nested: {layout})' if layout else ''}")
    return model, ModelInfo(str(model_cfg.name), f"{info.source} ({base_name})", info.accuracy, info.path,
                            info.accurate_enough, info.min_accuracy, info.train_seconds, dict(info.details))
