"""ROAD: RemOve And Debias (Rong et al., "A Consistent and Efficient Evaluation Strategy for
Attribution Methods", ICML 2022; the authors' `road/imputations.py`, as pytorch-grad-cam's
`ROADMostRelevantFirst` / `ROADLeastRelevantFirst` use it).

A share of the pixels, chosen by the map, is *removed* and filled by noisy linear imputation:
every removed pixel becomes the weighted mean of its 8 neighbours (1/6 for the 4 direct ones,
1/12 for the diagonals; the weights of neighbours outside the image are dropped and the rest
renormalized), solved jointly for all removed pixels as one sparse linear system per image,
plus Gaussian noise. Unlike a constant fill, the imputed pixels do not reveal by their shape
which pixels were removed (the "class information leakage" ROAD debiases).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

from ._inputs import as_images, as_maps
from ._ranks import descending_ranks
from ._scoring import ClassScorer
from .result import MetricResult, register_direction

# directions (tfcam.metrics.HIGHER_IS_BETTER)
register_direction("road_morf", higher_is_better=False)
register_direction("road_lerf", higher_is_better=True)

#: (row offset, column offset, weight) of the 8 neighbours, as in the authors' code
NEIGHBOURS = (
    (-1, -1, 1 / 12), (-1, 0, 1 / 6), (-1, 1, 1 / 12),
    (0, -1, 1 / 6), (0, 1, 1 / 6),
    (1, -1, 1 / 12), (1, 0, 1 / 6), (1, 1, 1 / 12),
)

ORDERS = ("morf", "lerf")


@functools.lru_cache(maxsize=8)
def _grid_system(h: int, w: int) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """(L, W) over all h·w pixels of an image: W the neighbour weights (inside the image),
    L = diag(Σ_j W_ij) − W. Built once per image size; each imputation slices it."""
    rows, cols = np.divmod(np.arange(h * w), w)
    r_all, c_all, v_all = [], [], []
    for dr, dc, weight in NEIGHBOURS:
        r, q = rows + dr, cols + dc
        inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
        r_all.append(np.flatnonzero(inside))
        c_all.append(r[inside] * w + q[inside])
        v_all.append(np.full(int(inside.sum()), weight))
    weights = sparse.csr_matrix(
        (np.concatenate(v_all), (np.concatenate(r_all), np.concatenate(c_all))), shape=(h * w, h * w)
    )
    lap = sparse.diags(np.asarray(weights.sum(axis=1)).ravel()) - weights
    return lap.tocsr(), weights


def noisy_linear_imputation(image, removed, noise_std=0.0, rng=None) -> np.ndarray:
    """ROAD's imputation of one image: the removed pixels solved from their neighbours.

    Each removed pixel v_i satisfies ``v_i = Σ_j w_ij v_j / Σ_j w_ij`` over its neighbours j
    inside the image (removed ones are unknowns too), w = 1/6 direct, 1/12 diagonal; the
    system is sparse and solved exactly (SuperLU, `scipy.sparse.linalg.splu`, all channels
    at once). Then ``noise_std`` × N(0, 1) is added to every removed value (0: no noise).

    Args:
        image: (H, W, C) float.
        removed: (H, W) bool, True where the pixel is removed (all its channels). At least
            one pixel must be kept, or nothing anchors the system.
        noise_std: the noise's standard deviation, in the image's units.
        rng: a `np.random.Generator` for the noise (None: a fresh default one).

    Returns:
        (H, W, C) float64: the kept pixels unchanged, the removed ones imputed.
    """
    img = np.asarray(image, dtype=np.float64)
    mask = np.asarray(removed, dtype=bool)
    if img.ndim != 3 or mask.shape != img.shape[:2]:
        raise ValueError(
            f"image must be (H, W, C) and removed (H, W); received {img.shape} and {mask.shape}."
        )
    h, w, c = img.shape
    idx = np.flatnonzero(mask)
    out = img.copy()
    if idx.size == 0:
        return out
    if idx.size == h * w:
        raise ValueError("noisy_linear_imputation needs at least one kept pixel; all are removed.")
    lap, weights = _grid_system(h, w)
    kept = np.flatnonzero(~mask.reshape(-1))
    flat = img.reshape(h * w, c)
    # (Σ_j w_ij) v_i − Σ_{removed j} w_ij v_j = Σ_{kept j} w_ij v_j: the grid's system, sliced.
    # It is symmetric and diagonally dominant, so SuperLU may keep diagonal pivots and a
    # symmetric ordering (about half spsolve's time, the same solution to 1e-14).
    a = lap[idx][:, idx].tocsc()
    rhs = weights[idx][:, kept] @ flat[kept]
    lu = splu(a, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    solved = lu.solve(np.ascontiguousarray(rhs)).reshape(idx.size, c)
    if noise_std:
        rng = np.random.default_rng() if rng is None else rng
        solved = solved + noise_std * rng.standard_normal(solved.shape)
    out.reshape(h * w, c)[idx] = solved
    return out


def _checked_percentages(percentages) -> np.ndarray:
    p = np.asarray(percentages, dtype=np.float64).reshape(-1)
    if p.size == 0 or not np.all(np.isfinite(p)) or np.any((p <= 0) | (p >= 100)):
        raise ValueError(
            f"percentages must be shares of pixels to remove in (0, 100), e.g. [10, 20, ..., "
            f"90]; received {list(np.ravel(percentages))}."
        )
    return p


def _removed_counts(percentages: np.ndarray, hw: int) -> np.ndarray:
    """Pixels removed at each percentage: floor(H·W·p/100), as the authors' int(H·W·p)."""
    return np.array([math.floor(hw * p / 100 + 1e-9) for p in percentages], dtype=np.int64)


def road(
    model, inputs, maps, targets=None, *, order="morf",
    percentages=(10, 20, 30, 40, 50, 60, 70, 80, 90), noise_std=0.01, seed=0,
    apply_softmax=None, batch_size=32,
) -> MetricResult:
    """ROAD curve of each image (Rong et al., ICML 2022): the explained class's probability
    after removing a share of the pixels by noisy linear imputation.

    - ``order="morf"`` (most relevant first): at p %, the ``floor(H·W·p/100)`` pixels ranked
      highest by the map are removed. A faithful map makes the probability fall fast:
      **lower is better** (``"road_morf"``).
    - ``order="lerf"`` (least relevant first): the same number of the lowest-ranked pixels
      are removed. A faithful map keeps the probability: **higher is better**
      (``"road_lerf"``).

    Ranks are the map's descending order, ties in row-major order (`descending_ranks`). The
    imputation (`noisy_linear_imputation`) runs on the host per image and percentage; the
    imputed images are scored in batched, compiled model calls, built batch by batch.

    Args:
        model: a Keras model, as in `average_drop`.
        inputs: (N, H, W, C) float, as the model takes them.
        maps: (N, H, W) finite values at the input resolution (only their order counts), or
            an explain function ``explain_fn(model, inputs, targets) -> maps``.
        targets: None (the top-1 class), a class index, (N,) indices, or a callable
            target, which replaces the class probability as the score.
        apply_softmax: as in `average_drop` (the score is the class probability).
        batch_size: images per model call.
        order: ``"morf"`` or ``"lerf"``.
        percentages: shares of pixels removed, each in (0, 100) (pytorch-grad-cam's
            10, 20, ..., 90 by default).
        noise_std: the imputation noise's standard deviation in the inputs' units (the
            authors' 0.01, on images in [0, 1]); 0 for none.
        seed: the noise of input (image i, percentage t) is drawn from
            ``np.random.default_rng([seed, i, t])``: reproducible at any batch size.

    Returns:
        MetricResult ``"road_morf"`` or ``"road_lerf"``: values (N,) the mean probability
        over the percentages (the curve's average height, an AUC on the percentages' axis);
        curves (N, T) the probability at each percentage; ``extras``: ``"percentages"``
        (T,), ``"removed_pixels"`` (T,), ``"original"`` (N,) the unmodified probability.
        pytorch-grad-cam's ``ROAD...Average`` reports the mean *change*, values − original.
    """
    if order not in ORDERS:
        raise ValueError(f'order must be "morf" or "lerf"; received {order!r}.')
    p = _checked_percentages(percentages)
    if not (np.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be a number >= 0; received {noise_std!r}.")
    x = as_images(inputs)
    n, h, w = x.shape[:3]
    scorer = ClassScorer(model, x, targets, apply_softmax, batch_size)
    ranks = descending_ranks(as_maps(scorer.maps(maps), n, (h, w))).reshape(n, h, w)
    counts = _removed_counts(p, h * w)
    t = p.size

    def removed(i: int, step: int) -> np.ndarray:
        k = counts[step]
        return ranks[i] < k if order == "morf" else ranks[i] >= h * w - k

    def make_batch(a, b):
        batch = np.empty((b - a, *x.shape[1:]), np.float32)
        for flat in range(a, b):  # imputation on the host; the model runs once per batch
            i, step = divmod(flat, t)
            rng = np.random.default_rng([seed, i, step])
            batch[flat - a] = noisy_linear_imputation(x[i], removed(i, step), noise_std, rng)
        return batch

    curves = scorer.scores(make_batch, np.repeat(np.arange(n), t)).reshape(n, t)
    name = f"road_{order}"
    return MetricResult(
        name, curves.mean(axis=1), curves=curves,
        extras={"percentages": p, "removed_pixels": counts, "original": scorer.original},
    )
