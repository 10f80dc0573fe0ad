"""Average Drop %, Increase in Confidence % and Win % (Grad-CAM++ protocol, Chattopadhay
et al., WACV 2018): the explained class's probability on the image masked by its map.

The masked image is ``X ⊙ L + fill ⊙ (1 − L)`` (`tfcam.fill`): ``fill="black"`` (the
default) is the paper's ``X ⊙ L`` on the images as the model takes them; codes that mask the
*normalized* tensor fill with the data set's mean colour (``fill=[0.485, 0.456, 0.406]`` on
ImageNet images in [0, 1]); ``"mean"`` uses each image's own mean colour, ``"blur"`` a
blurred copy.
"""

from __future__ import annotations

import numpy as np

from tfcam.fill import blend, fill_values
from tfcam.renamed import renamed

from ._inputs import as_images, as_unit_maps
from ._ranks import descending_ranks
from ._scoring import ClassScorer
from .result import MetricResult, register_direction

# directions (tfcam.metrics.HIGHER_IS_BETTER)
register_direction("average_drop", higher_is_better=False)
register_direction("increase_in_confidence", higher_is_better=True)
register_direction("win_percent", higher_is_better=True)


def _explanation_masks(maps: np.ndarray, top_percent: float | None) -> np.ndarray:
    """(N, H, W) float32 multipliers: the soft map itself, or the binary top-p% mask."""
    if top_percent is None:
        return maps.astype(np.float32)
    p = float(top_percent)
    if not 0.0 < p <= 100.0:
        raise ValueError(f"top_percent must lie in (0, 100]; received {top_percent}.")
    _, h, w = maps.shape
    keep = round(p / 100.0 * h * w)
    return (descending_ranks(maps) < keep).astype(np.float32)


def _drop(y: np.ndarray, o: np.ndarray) -> np.ndarray:
    """100 * max(0, Y - O) / Y per image; 0 where Y <= 0 (nothing left to drop)."""
    safe = np.where(y > 0, y, 1.0)
    return np.where(y > 0, 100.0 * np.maximum(0.0, y - o) / safe, 0.0)


def _scores_with_maps(model, images, maps_list, targets, top_percent, apply_softmax, batch_size,
                      fill="black"):
    """Original scores Y (N,) and explanation-masked scores O (len(maps_list), N), all
    masked images evaluated in one stack of batched calls."""
    x = as_images(images)
    filler = fill_values(fill, x)  # None for black: the plain product X ⊙ L
    n, h, w = x.shape[:3]
    scorer = ClassScorer(model, x, targets, apply_softmax, batch_size)
    masks = np.stack(
        [
            _explanation_masks(as_unit_maps(scorer.maps(m), n, (h, w), name), top_percent)
            for name, m in maps_list
        ]
    )
    k = len(maps_list)
    flat = np.arange(k * n)
    which, image = flat // n, flat % n

    def make_batch(a, b):
        rows = image[a:b]
        return blend(x[rows], masks[which[a:b], rows][..., None],
                     None if filler is None else filler[rows])

    o = scorer.scores(make_batch, image).reshape(k, n)
    return scorer.original, o, scorer


@renamed(images="inputs")
def average_drop(
    model, inputs, maps, targets=None, *, top_percent=None, fill="black", apply_softmax=None,
    batch_size=32,
) -> MetricResult:
    """Average Drop %: ``100 * mean_i max(0, Y_i - O_i) / Y_i``. Lower is better.

    ``Y_i`` is the probability of the explained class for image i and ``O_i`` the
    probability of the same class for the explanation-masked image: ``X ⊙ L`` with the
    map L in [0, 1] (soft mask, Grad-CAM++ / Score-CAM protocol), or, with
    ``top_percent=p``, ``X`` with only the top p% pixels of L kept (others set to the
    fill; ``round(p/100·H·W)`` pixels, ties broken in row-major order). With a ``fill``
    other than black the masked image is ``X ⊙ L + fill ⊙ (1 − L)``.

    Args:
        model: a Keras model mapping (B, H, W, C) images to (B, classes) outputs.
        inputs: (N, H, W, C) float, as the model takes them.
        maps: (N, H, W) in [0, 1] at the input resolution, or an explain function
            ``explain_fn(model, inputs, targets) -> maps`` (called with the resolved
            (N,) class indices).
        targets: None (top-1 class of the unmasked image), a class index, (N,) class
            indices, or a callable ``score(outputs) -> (N,)`` used instead of the
            probability.
        top_percent: None for the soft mask, or p in (0, 100] for the binary variant.
        fill: what masked pixels become (`tfcam.fill`): ``"black"`` (0, the default),
            ``"mean"`` (each image's mean colour, per channel), ``"blur"`` (RISE's
            Gaussian blur), a number or one number per channel (e.g. ImageNet's mean
            ``[0.485, 0.456, 0.406]``: the authors' codes mask the normalized tensor,
            whose 0 is that colour).
        apply_softmax: None detects whether the outputs already are probabilities:
            from the last layer when it is a softmax (no) or linear (yes), otherwise
            from the outputs (non-negative rows summing to 1 need none); True/False
            forces the choice.
        batch_size: images per model call.

    Returns:
        MetricResult: values (N,) drop in percent, in [0, 100] (0 where Y = 0);
        ``extras["original"]`` Y and ``extras["masked"]`` O (probabilities).
    """
    y, o, _ = _scores_with_maps(
        model, inputs, [("maps", maps)], targets, top_percent, apply_softmax, batch_size, fill
    )
    return MetricResult(
        "average_drop", _drop(y, o[0]), extras={"original": y, "masked": o[0]},
    )


@renamed(images="inputs")
def increase_in_confidence(
    model, inputs, maps, targets=None, *, top_percent=None, fill="black", apply_softmax=None,
    batch_size=32,
) -> MetricResult:
    """Increase in Confidence (Average Increase) %: ``100 * mean_i 1[Y_i < O_i]``.
    Higher is better.

    Same protocol and arguments as `average_drop`. Values (N,) are 100 where the
    explanation-masked image scores strictly higher than the original, else 0.
    """
    y, o, _ = _scores_with_maps(
        model, inputs, [("maps", maps)], targets, top_percent, apply_softmax, batch_size, fill
    )
    return MetricResult(
        "increase_in_confidence", 100.0 * (y < o[0]), extras={"original": y, "masked": o[0]},
    )


@renamed(images="inputs")
def win_percent(
    model, inputs, maps_a, maps_b, targets=None, *, top_percent=None, fill="black",
    apply_softmax=None, batch_size=32, tie_tolerance=1e-6,
) -> MetricResult:
    """Win % of method A over method B: share of images on which A's drop is smaller.
    Higher is better (for A).

    The drop is the per-image term of `average_drop`, ``100·max(0, Y − O)/Y``, with
    both methods scored on the same class. Per image the value is 100 when A's drop is
    smaller, 0 when larger, and 50 for a tie (|difference| <= ``tie_tolerance``
    percentage points, which absorbs floating-point noise): ties count half, so the
    Win % of A over B plus that of B over A is always 100. ``maps_a`` and ``maps_b``
    are (N, H, W) in [0, 1] or explain functions; other arguments as in `average_drop`.

    Returns:
        MetricResult: values (N,) in {0, 50, 100}; ``extras["drop_a"]``, ``["drop_b"]``.
    """
    y, o, _ = _scores_with_maps(
        model, inputs, [("maps_a", maps_a), ("maps_b", maps_b)], targets, top_percent,
        apply_softmax, batch_size, fill,
    )
    da, db = _drop(y, o[0]), _drop(y, o[1])
    diff = db - da
    values = np.where(np.abs(diff) <= tie_tolerance, 50.0, np.where(diff > 0, 100.0, 0.0))
    return MetricResult("win_percent", values, extras={"drop_a": da, "drop_b": db})
