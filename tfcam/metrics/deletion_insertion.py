"""Deletion and insertion curves with their AUC (RISE protocol, Petsiuk et al. 2018)."""

from __future__ import annotations

import math

import keras
import numpy as np

from tfcam.fill import fill_like
from tfcam.fill import gaussian_blur as _blur

from ._inputs import as_images, as_maps
from ._ranks import descending_ranks
from ._scoring import ClassScorer
from .result import MetricResult


def gaussian_blur(images, sigma: float = 5.0, size: int = 11) -> np.ndarray:
    """Per-channel Gaussian blur of (N, H, W, C) images with a ``size × size`` kernel.

    The kernel is the Gaussian of standard deviation ``sigma`` pixels truncated to
    radius ``(size - 1) // 2`` and normalized to sum 1 (scipy.ndimage); borders are
    reflected. RISE's insertion substrate: sigma 5, 11 × 11 (`tfcam.fill`'s "blur").
    """
    return _blur(as_images(images), sigma, size)


def _substrate(baseline, x: np.ndarray, blur_sigma: float, blur_size: int) -> np.ndarray:
    """(N, H, W, C) float32 substrate from a fill name ("black", "mean", "blur": see
    `tfcam.fill`), a number, an array or a callable."""
    if isinstance(baseline, str):
        return fill_like(baseline, x, blur_sigma=blur_sigma, blur_size=blur_size,
                         name="baseline")
    if callable(baseline):
        baseline = baseline(x)
    b = np.asarray(baseline, dtype=np.float32)
    try:
        return np.ascontiguousarray(np.broadcast_to(b, x.shape))
    except ValueError:
        raise ValueError(
            f"baseline must broadcast to the images' shape {x.shape}; received shape {b.shape}."
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


def deletion_insertion(
    model, images, maps, targets=None, *, steps=28, pixels_per_step=None,
    deletion_baseline=0.0, insertion_baseline="blur", blur_sigma=5.0, blur_size=11,
    apply_softmax=None, batch_size=64, which=("deletion", "insertion"),
) -> tuple[MetricResult, ...]:
    """Deletion and insertion curves of a batch, all steps stacked into batched calls.

    Pixels are ranked by the map in descending order (ties in row-major order, a
    stable sort). Each step moves ``pixels_per_step`` more pixels (default
    ``ceil(H·W / steps)``, so ``n = ceil(H·W / pixels_per_step) <= steps`` steps; n =
    steps whenever H·W is a multiple of steps, e.g. 224² or 64² with 28 steps):

    - deletion starts from the image and replaces the ranked pixels (all channels)
      with ``deletion_baseline`` (0 by default);
    - insertion starts from ``insertion_baseline`` (a Gaussian-blurred copy, sigma 5,
      11 × 11, by default) and copies the ranked pixels of the image in.

    The curve is the probability of the explained class after 0, 1, ..., n steps
    (n + 1 points); the AUC is the trapezoid rule on a uniform [0, 1] axis, as in RISE.
    The unmodified image (deletion's first point, insertion's last) is evaluated once.

    Args:
        model, images, targets, apply_softmax, batch_size: as in `average_drop`
            (images (N, H, W, C); targets None means the top-1 class).
        maps: (N, H, W) finite values at the input resolution (only their order
            counts), or an explain function ``explain_fn(model, images, targets) ->
            maps`` (called with the resolved (N,) class indices).
        steps: number of steps (used when ``pixels_per_step`` is None).
        pixels_per_step: RISE's ``step``, overrides ``steps``.
        deletion_baseline, insertion_baseline: a fill name of `tfcam.fill`
            (``"black"``: 0, ``"mean"``: each image's mean colour, ``"blur"``), a number,
            an array broadcastable to (N, H, W, C), or a callable ``images -> array``.
        blur_sigma, blur_size: the Gaussian blur for ``"blur"``.
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
    x = as_images(images)
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
            finishes.append(_substrate(deletion_baseline, x, blur_sigma, blur_size))
            step_ids.append(np.arange(1, n_steps + 1))  # step 0 is the original image
        else:
            starts.append(_substrate(insertion_baseline, x, blur_sigma, blur_size))
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
                name, auc(curves), higher_is_better=(name == "insertion"), curves=curves,
                extras={"fraction": counts / (h * w), "pixels_per_step": per_step},
            )
        )
    return tuple(results)


def deletion(model, images, maps, targets=None, *, steps=28, pixels_per_step=None, baseline=0.0,
             apply_softmax=None, batch_size=64) -> MetricResult:
    """Deletion AUC (RISE): remove pixels in descending map order, replacing them with
    ``baseline``: 0 by default (``"black"``), ``"mean"`` (each image's mean colour, per
    channel), ``"blur"``, a number or an array (see `deletion_insertion`). Lower is better.
    RISE's code deletes to 0 in the *normalized* tensor, i.e. the data set's mean colour:
    ``baseline=[0.485, 0.456, 0.406]`` on ImageNet images in [0, 1].

    See `deletion_insertion` for the protocol and arguments. Returns values (N,) AUC in
    the probability's unit (in [0, 1]) and curves (N, n + 1).
    """
    return deletion_insertion(
        model, images, maps, targets, steps=steps, pixels_per_step=pixels_per_step,
        deletion_baseline=baseline, apply_softmax=apply_softmax, batch_size=batch_size,
        which=("deletion",),
    )[0]


def insertion(model, images, maps, targets=None, *, steps=28, pixels_per_step=None, baseline="blur",
              blur_sigma=5.0, blur_size=11, apply_softmax=None, batch_size=64) -> MetricResult:
    """Insertion AUC (RISE): start from ``baseline`` (a Gaussian-blurred copy, sigma 5,
    11 × 11) and copy pixels of the image in, in descending map order. Higher is better.

    See `deletion_insertion` for the protocol and arguments. Returns values (N,) AUC in
    [0, 1] and curves (N, n + 1).
    """
    return deletion_insertion(
        model, images, maps, targets, steps=steps, pixels_per_step=pixels_per_step,
        insertion_baseline=baseline, blur_sigma=blur_sigma, blur_size=blur_size,
        apply_softmax=apply_softmax, batch_size=batch_size, which=("insertion",),
    )[0]
