"""Keras callbacks: explanations of fixed images, written while a model trains.

    logger = tfcam.callbacks.ExplanationLogger(x_val[:8], method="grad_cam",
                                               targets=y_val[:8], log_dir="logs")
    model.fit(x, y, epochs=10, callbacks=[logger])

What is written (`log_dir/explanations/`, beside the `train/` and `validation/` folders of
Keras' own `keras.callbacks.TensorBoard` when both share `log_dir`):

* `<method>/epoch_NNN.png`: the overlays of all images after NNN epochs, one tile per
  image in a grid (`overlay_grid`: up to 8 tiles a row, 2 white pixels between tiles,
  image i at the same place in every epoch), so epochs compare at a glance;
  `epoch_000.png` is the snapshot before training.
* `<method>/epoch_NNN.npy`: the maps themselves, (N, H, W) float32 in [0, 1].
* TensorBoard (TensorFlow backend): event files in `explanations/` itself, one image
  summary per method (tag = the method's id, N images, step = epochs completed).
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np

from tfcam import backend
from tfcam.api import method_class
from tfcam.callback_arguments import (
    checked_every,
    checked_images,
    checked_methods,
    checked_overlay,
    checked_targets,
    checked_tensorboard,
    options_per_method,
    require_image_maps,
)
from tfcam.renamed import renamed

# The folder under log_dir that holds everything the logger writes.
SUBFOLDER = "explanations"
# Overlays per row of an epoch's PNG, and the white gap between them in pixels.
GRID_COLUMNS = 8
GRID_GAP = 2


class LogEntry(NamedTuple):
    """One explanation written: `epoch` is the number of epochs completed (0: before
    training); `png`/`npy` the files (None with png=False); `tensorboard` whether an image
    summary was written; `targets`/`scores` the explained classes and their scores (N,)."""

    epoch: int
    method: str
    png: Path | None
    npy: Path | None
    tensorboard: bool
    targets: np.ndarray | None
    scores: np.ndarray


class ExplanationLogger(keras.callbacks.Callback):
    """Explain fixed images during `model.fit`, every `every` epochs; write the overlays as
    PNG files (any backend) and TensorBoard image summaries (TensorFlow backend).

        import tfcam

        logger = tfcam.callbacks.ExplanationLogger(
            x_val[:8], method=["grad_cam", "saliency"], targets=y_val[:8], log_dir="logs")
        model.fit(x, y, epochs=10, callbacks=[logger,
                                              keras.callbacks.TensorBoard("logs")])
        logger.history[-1]  # LogEntry(epoch=10, method='saliency', png=..., ...)

    images: the images to explain, (N, H, W, C) or (N, H, W), the model's input shape; a few
        validation images. They are copied: later changes to your array are not seen.
    method: a method id of `tfcam.methods()`, or a list of them (one overlay per method).
    layer: the explained layer (CAM methods; None: the last spatial layer), as in
        `tfcam.explain`; input-space methods ignore it.
    targets: None (the top-1 class at that epoch), an int (one class for all images), N
        ints (e.g. the images' labels: the map of the true class, which is what one wants
        to watch), or a callable `score(outputs) -> (N,)` as in `tfcam.explain`.
    every: explain after epochs every, 2*every, ... (counted from epoch 1: with `fit`'s
        `initial_epoch`, the absolute epoch number).
    log_dir: the folder to write to; everything goes to `log_dir/explanations/` (see the
        module docstring for the layout). The same log_dir as Keras' TensorBoard callback
        puts the explanations beside its train/validation runs.
    png: write `<method>/epoch_NNN.png` (the overlays, tiled) and `epoch_NNN.npy` (maps).
    tensorboard: write image summaries (tag: the method id, step: epochs completed). None:
        on when Keras runs on TensorFlow. They need the TensorFlow backend: on JAX, True is
        an error (writing them would start TensorFlow's runtime beside JAX's, and on a GPU
        both reserve most of its memory); use png=True there.
    alpha, cmap: the overlay's opacity and matplotlib colormap (`Explanation.overlay`).
    before_training: also write the explanation before the first epoch (epoch 0). The
        images are explained at the start of training either way: that builds and
        compiles the explainers, so a bad layer, target or image shape fails there and not
        after the first epoch, and no epoch pays for compilation.
    batch_size: images per explainer call (as in `tfcam.explain`).
    options: the methods' own options (e.g. samples= for smooth_grad). With several
        methods, each option goes to the methods that take it; an option none takes is an
        error.

    Each method's explainer is built once per model, at the start of training, and kept:
    its compiled function is traced once and reused every epoch; it reads the weights at
    each call, so epoch k's maps are those of the weights after epoch k (the same as
    `tfcam.explain(model, images, ...)` called then). The model is not changed (a subclassed
    model not yet built is built at the start of training, with a symbolic call on the
    images' shape, as Keras itself would build it).

    After training: `history` lists the `LogEntry`s written, `explanations` holds the last
    `Explanation` per method, `explainers` the explainer per method, `directory` the folder.

    Step numbers are epochs completed (1 after the first epoch); Keras' TensorBoard callback
    logs epoch metrics at the 0-based epoch index, so its step k-1 is the explanation's k.
    Calling `fit` again without `initial_epoch` counts epochs from 0 again and overwrites the
    PNG files of those epochs (pass `initial_epoch=` to resume). Models with several inputs
    and models whose maps are not images (sequences, volumes) are not supported.
    """

    # set in __init__; declared here for the type checker, which cannot read them through
    # keras.callbacks.Callback (untyped)
    directory: Path
    before_training: bool
    batch_size: int
    _writer: Any  # backend.image_summary_writer(...) once TensorBoard is written, else None

    @renamed(images="inputs")
    def __init__(self, inputs, method="grad_cam", layer=None, targets=None, every: int = 1,
                 log_dir=None, png: bool = True, tensorboard: bool | None = None,
                 alpha: float = 0.45, cmap: str = "jet", before_training: bool = True,
                 batch_size: int = 32, **options):
        super().__init__()
        self.images = checked_images(inputs)
        self.methods = checked_methods(method)
        self.options = options_per_method(self.methods, options)
        self.layer = layer
        self.targets = checked_targets(targets, len(self.images))
        self.every = checked_every(every)
        self.alpha, self.cmap = checked_overlay(alpha, cmap)
        self.png = bool(png)
        self.tensorboard = checked_tensorboard(tensorboard)
        if not self.png and not self.tensorboard:
            why = ("tensorboard=False" if tensorboard is not None else
                   f"TensorBoard is off by default on the {backend.NAME} backend")
            raise ValueError(
                f"ExplanationLogger has nothing to write: png=False and {why}. Pass png=True "
                "(PNG files under log_dir, any backend) or tensorboard=True (TensorFlow backend)."
            )
        if log_dir is None:
            raise ValueError(
                "ExplanationLogger needs log_dir= (a folder): the overlays go to "
                f"log_dir/{SUBFOLDER}/<method>/epoch_NNN.png"
                + (f" and the TensorBoard summaries to log_dir/{SUBFOLDER}"
                   if self.tensorboard else "") + "."
            )
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"log_dir must be a path (str or pathlib.Path), not "
                            f"{type(log_dir).__name__}")
        if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.directory = Path(log_dir) / SUBFOLDER
        self.before_training = bool(before_training)
        self.batch_size = int(batch_size)
        self.history: list[LogEntry] = []
        self.explanations: dict = {}
        self.explainers: dict = {}
        self._pending: dict | None = None
        self._writer = None

    # ------------------------------------------------------------------ Keras hooks
    def on_train_begin(self, logs=None):
        model = self.model
        if not model.built:  # a subclassed model on TensorFlow: Keras builds it in the first
            # step; build it now the way Keras does on JAX (a symbolic call: same variables,
            # created in the same order, no computation), so it can be explained before.
            try:
                model(keras.KerasTensor(self.images.shape, dtype="float32"))
            except Exception as error:
                error.add_note(f"(raised by tfcam.callbacks.ExplanationLogger building model "
                               f"'{model.name}' on the images' shape {self.images.shape})")
                raise
        self._build_explainers(model)
        first = {}
        for method in self.methods:
            try:
                first[method] = self._explain(method)
            except Exception as error:
                error.add_note(self._where(method))
                raise
            require_image_maps(first[method], model)
        # Written at the first epoch's start, where the epoch number is known (initial_epoch).
        self._pending = first if self.before_training else None

    def on_epoch_begin(self, epoch, logs=None):
        if self._pending is not None:
            pending, self._pending = self._pending, None
            for method, explanation in pending.items():
                self._write(int(epoch), method, explanation)

    def on_epoch_end(self, epoch, logs=None):
        done = int(epoch) + 1
        if done % self.every:
            return
        self.model  # noqa: B018 - on JAX, reading it syncs the trained weights to the model
        for method in self.methods:
            self._write(done, method, self._explain(method))

    def on_train_end(self, logs=None):
        self._pending = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # ------------------------------------------------------------------ helpers
    def _build_explainers(self, model) -> None:
        """One explainer per method, kept across epochs (and fits of the same model)."""
        if self.explainers and all(e.model is model for e in self.explainers.values()):
            return
        self.explainers = {}
        for method in self.methods:
            options = dict(self.options[method])
            options.setdefault("progress", False)
            try:
                explainer = method_class(method)(model, self.layer, batch_size=self.batch_size,
                                                 **options)
            except Exception as error:
                error.add_note(self._where(method))
                raise
            if explainer.multi_input:
                raise ValueError(
                    f"ExplanationLogger explains models with one input; model "
                    f"'{model.name}' has {len(explainer.input_names)} inputs "
                    f"{list(explainer.input_names)}. Use tfcam.explain(..., input=NAME) "
                    "in a keras.callbacks.LambdaCallback instead."
                )
            self.explainers[method] = explainer

    def _where(self, method: str) -> str:
        return (f"(raised by tfcam.callbacks.ExplanationLogger at the start of training, "
                f"before the first epoch: method '{method}', layer={self.layer!r})")

    def _explain(self, method: str):
        return self.explainers[method].attribute(self.images, self.targets)

    def _write(self, epoch: int, method: str, explanation) -> None:
        overlays = explanation.overlay(self.images, alpha=self.alpha, cmap=self.cmap)
        png = npy = None
        if self.png:
            folder = self.directory / method
            folder.mkdir(parents=True, exist_ok=True)
            png, npy = folder / f"epoch_{epoch:03d}.png", folder / f"epoch_{epoch:03d}.npy"
            png.write_bytes(png_bytes(overlay_grid(overlays)))
            np.save(npy, explanation.maps)
        if self.tensorboard:
            self._summary(method, overlays, epoch, explanation)
        self.history.append(LogEntry(epoch, method, png, npy, self.tensorboard,
                                     explanation.targets, explanation.scores))
        self.explanations[method] = explanation

    def _summary(self, method: str, overlays: np.ndarray, epoch: int, explanation) -> None:
        if self._writer is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._writer = backend.image_summary_writer(self.directory)
        which = "the top-1 class" if self.targets is None else "the given targets"
        layer = f" at layer `{explanation.layer}`" if explanation.layer else ""
        self._writer.write(method, [png_bytes(image) for image in overlays], overlays.shape[1:3], epoch,
                           f"tfcam `{method}`{layer}, {which}; step = epochs completed "
                           "(0: before training).")


def overlay_grid(overlays: np.ndarray, columns: int = GRID_COLUMNS,
                 gap: int = GRID_GAP) -> np.ndarray:
    """(N, H, W, 3) uint8 overlays tiled row by row, `columns` a row, `gap` white pixels
    between tiles: shape (rows*H + (rows-1)*gap, cols*W + (cols-1)*gap, 3) with
    cols = min(N, columns), rows = ceil(N / cols). Unused tiles of the last row are white."""
    n, h, w, c = overlays.shape
    cols = min(n, columns)
    rows = math.ceil(n / cols)
    grid = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, c), 255, "uint8")
    for i, tile in enumerate(overlays):
        r, q = divmod(i, cols)
        grid[r * (h + gap): r * (h + gap) + h, q * (w + gap): q * (w + gap) + w] = tile
    return grid


def png_bytes(image: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 image encoded as PNG."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()
