"""Deletion and insertion curves with their AUC (RISE protocol, Petsiuk et al. 2018)."""

from __future__ import annotations

import math

import keras
import numpy as np

from tfcam.fill import fill_like
from tfcam.renamed import renamed

from ._inputs import as_images, as_maps
from ._ranks import descending_ranks
from ._scoring import ClassScorer
from .result import MetricResult, register_direction

# directions (tfcam.metrics.HIGHER_IS_BETTER)
register_direction("deletion", higher_is_better=False)
register_direction("insertion", higher_is_better=True)


def _substrate(fill, x: np.ndarray, blur_sigma: float, blur_size: int, name: str) -> np.ndarray:
    """(N, H, W, C) float32 substrate from a fill name ("black", "mean", "blur": see
    `tfcam.fill`), a number, an array or a callable (`name`: the argument, for errors)."""
    if isinstance(fill, str):
        return fill_like(fill, x, blur_sigma=blur_sigma, blur_size=blur_size, name=name)
    if callable(fill):
        fill = fill(x)
    b = np.asarray(fill, dtype=np.float32)
    try:
        return np.ascontiguousarray(np.broadcast_to(b, x.shape))
    except ValueError:
        raise ValueError(
            f"{name} must broadcast to the inputs' shape {x.shape}; received shape {b.shape}."
        ) from None


def _schedule(hw: int, steps: int, pixels_per_step: int | None) -> tuple[int, np.ndarray]:
    """(pixels per step, (n_steps + 1,) pixel counts k_s = min(s · per_step, H·W))."""
    if pixels_per_step is None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1; received {steps}.")
        pixels_per_step = math.ceil(hw / steps)
    pixels_per_step = int(pixels_per_step)
    if pixels_per_step < 1:
        raise ValueError(f"pixels_per_step must be >= 1; received {pixels_per_step}.")
    n_steps = math.ceil(hw / pixels_per_step)
    counts = np.minimum(np.arange(n_steps + 1) * pixels_per_step, hw)
    return pixels_per_step, counts


def moved_pixels(start, finish, ranks, table_idx, image_idx, counts):
    """Batch of partially moved images, built inside the compiled call (keras.ops).

    Input b is ``start[table_idx[b]]`` with the pixels ranked below ``counts[b]`` in
    ``ranks[image_idx[b]]`` taken from ``finish[table_idx[b]]`` (all channels).
    start, finish: (T, H, W, C); ranks: (N, H, W) int; the rest (B,) int.
    """
    ops = keras.ops
    s = ops.take(start, table_idx, axis=0)
    f = ops.take(finish, table_idx, axis=0)
    moved = ops.take(ranks, image_idx, axis=0) < ops.reshape(counts, (-1, 1, 1))
    return ops.where(ops.expand_dims(moved, -1), f, s)


def auc(curves: np.ndarray) -> np.ndarray:
    """Trapezoid-rule area under (N, T) curves on a uniform [0, 1] axis (RISE's `auc`)."""
    curves = np.asarray(curves, dtype=np.float64)
    t = curves.shape[-1]
    if t < 2:
        return curves[..., 0] if t else np.zeros(curves.shape[:-1])
    return np.trapezoid(curves, dx=1.0 / (t - 1), axis=-1)


@renamed(images="inputs", deletion_baseline="deletion_fill", insertion_baseline="insertion_fill")
def deletion_insertion(
    model, inputs, maps, targets=None, *, steps=28, pixels_per_step=None,
    deletion_fill=0.0, insertion_fill="blur", blur_sigma=5.0, blur_size=11,
    apply_softmax=None, batch_size=32, which=("deletion", "insertion"),
) -> tuple[MetricResult, ...]:
    """Deletion and insertion curves of a batch, all steps stacked into batched calls.

    Pixels are ranked by the map in descending order (ties in row-major order, a
    stable sort). Each step moves ``pixels_per_step`` more pixels (default
    ``ceil(H·W / steps)``, so ``n = ceil(H·W / pixels_per_step) <= steps`` steps; n =
    steps whenever H·W is a multiple of steps, e.g. 224² or 64² with 28 steps):

    - deletion starts from the image and replaces the ranked pixels (all channels)
      with ``deletion_fill`` (0 by default);
    - insertion starts from ``insertion_fill`` (a Gaussian-blurred copy, sigma 5,
      11 × 11, by default) and copies the ranked pixels of the image in.

    The curve is the probability of the explained class after 0, 1, ..., n steps
    (n + 1 points); the AUC is the trapezoid rule on a uniform [0, 1] axis, as in RISE.
    The unmodified image (deletion's first point, insertion's last) is evaluated once.

    Args:
        model: a Keras model, as in `average_drop`.
        inputs: (N, H, W, C) images, as the model takes them.
        targets: None (the top-1 class), a class index, (N,) indices or a callable, as
            in `average_drop`.
        apply_softmax: as in `average_drop`.
        batch_size: images per model call.
        maps: (N, H, W) finite values at the input resolution (only their order
            counts), or an explain function ``explain_fn(model, inputs, targets) ->
            maps`` (called with the resolved (N,) class indices).
        steps: number of steps (used when ``pixels_per_step`` is None).
        pixels_per_step: RISE's ``step``, overrides ``steps``.
        deletion_fill: what deletion puts in place of removed pixels: a fill name of
            `tfcam.fill` (``"black"``: 0, ``"mean"``: each image's mean colour,
            ``"blur"``), a number, an array broadcastable to (N, H, W, C), or a callable
            ``images -> array``.
        insertion_fill: insertion's start, the same kinds as ``deletion_fill``.
        blur_sigma: the Gaussian blur's sigma for ``"blur"``.
        blur_size: the Gaussian blur's kernel size for ``"blur"``.
        which: the curves to compute, a subset of ``("deletion", "insertion")``.

    Returns:
        One MetricResult per entry of ``which``: values (N,) AUC (deletion: lower is
        better; insertion: higher is better), curves (N, n + 1) probabilities,
        ``extras["fraction"]`` (n + 1,) share of pixels moved at each point and
        ``extras["pixels_per_step"]``.
    """
    which = tuple(which)
    if not which or any(w not in ("deletion", "insertion") for w in which):
        raise ValueError(f'which must name "deletion" and/or "insertion"; received {which}.')
    x = as_images(inputs)
    n, h, w = x.shape[:3]
    per_step, counts = _schedule(h * w, steps, pixels_per_step)
    n_steps = counts.size - 1
    scorer = ClassScorer(model, x, targets, apply_softmax, batch_size)
    ranks = descending_ranks(as_maps(scorer.maps(maps), n, (h, w)))

    # Each evaluated input is (kind, image, pixel count): pixels ranked below the count
    # come from finish[kind, image], the others from start[kind, image].
    starts, finishes, step_ids = [], [], []
    for name in which:
        if name == "deletion":
            starts.append(x)
            finishes.append(_substrate(deletion_fill, x, blur_sigma, blur_size, "deletion_fill"))
            step_ids.append(np.arange(1, n_steps + 1))  # step 0 is the original image
        else:
            starts.append(_substrate(insertion_fill, x, blur_sigma, blur_size, "insertion_fill"))
            finishes.append(x)
            step_ids.append(np.arange(0, n_steps))  # step n is the original image
    start = np.concatenate(starts)
    finish = np.concatenate(finishes)
    kind_idx = np.concatenate([np.full(n * s.size, k) for k, s in enumerate(step_ids)])
    image_idx = np.concatenate([np.repeat(np.arange(n), s.size) for s in step_ids])
    step_idx = np.concatenate([np.tile(s, n) for s in step_ids])
    table_idx = kind_idx * n + image_idx
    count_idx = counts[step_idx]

    # the masked batches are built inside the compiled model call (no host-side stack)
    scores = scorer.prepared_scores(
        moved_pixels, (start, finish, ranks.astype(np.int32)), (table_idx, image_idx, count_idx),
        image_idx,
    )

    results = []
    for kind, name in enumerate(which):
        curves = np.empty((n, n_steps + 1))
        sel = kind_idx == kind
        curves[image_idx[sel], step_idx[sel]] = scores[sel]
        if name == "deletion":
            curves[:, 0] = scorer.original
        else:
            curves[:, n_steps] = scorer.original
        results.append(
            MetricResult(
                name, auc(curves), curves=curves,
                extras={"fraction": counts / (h * w), "pixels_per_step": per_step},
            )
        )
    return tuple(results)


@renamed(images="inputs", baseline="fill")
def deletion(model, inputs, maps, targets=None, *, steps=28, pixels_per_step=None, fill=0.0,
             apply_softmax=None, batch_size=32) -> MetricResult:
    """Deletion AUC (RISE): remove pixels in descending map order, replacing them with
    ``fill``: 0 by default (``"black"``), ``"mean"`` (each image's mean colour, per
    channel), ``"blur"``, a number or an array (see `deletion_insertion`). Lower is better.
    RISE's code deletes to 0 in the *normalized* tensor, i.e. the data set's mean colour:
    ``fill=[0.485, 0.456, 0.406]`` on ImageNet images in [0, 1].

    See `deletion_insertion` for the protocol and arguments. Returns values (N,) AUC in
    the probability's unit (in [0, 1]) and curves (N, n + 1).
    """
    return deletion_insertion(
        model, inputs, maps, targets, steps=steps, pixels_per_step=pixels_per_step,
        deletion_fill=fill, apply_softmax=apply_softmax, batch_size=batch_size,
        which=("deletion",),
    )[0]


@renamed(images="inputs", baseline="fill")
def insertion(model, inputs, maps, targets=None, *, steps=28, pixels_per_step=None, fill="blur",
              blur_sigma=5.0, blur_size=11, apply_softmax=None, batch_size=32) -> MetricResult:
    """Insertion AUC (RISE): start from ``fill`` (a Gaussian-blurred copy, sigma 5,
    11 × 11) and copy pixels of the image in, in descending map order. Higher is better.

    See `deletion_insertion` for the protocol and arguments. Returns values (N,) AUC in
    [0, 1] and curves (N, n + 1).
    """
    return deletion_insertion(
        model, inputs, maps, targets, steps=steps, pixels_per_step=pixels_per_step,
        insertion_fill=fill, blur_sigma=blur_sigma, blur_size=blur_size,
        apply_softmax=apply_softmax, batch_size=batch_size, which=("insertion",),
    )[0]
