"""Rank statistics of maps: pixel ranks in descending order and Spearman correlation."""

from __future__ import annotations

import numpy as np


def descending_ranks(maps: np.ndarray) -> np.ndarray:
    """(N, H, W) int: each pixel's position when the map is sorted in descending order.

    Ties keep row-major order (stable sort): of two equal pixels the one earlier in
    row-major order ranks first. Rank 0 is the most salient pixel.
    """
    n, h, w = maps.shape
    flat = maps.reshape(n, h * w)
    order = np.argsort(-flat, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(h * w)[None, :].repeat(n, axis=0), axis=1)
    return ranks.reshape(n, h, w)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two flattened arrays, never NaN.

    Defined as 1.0 when both are constant (identical, fully tied rankings) and 0.0
    when exactly one is constant.
    """
    from scipy.stats import spearmanr

    a = np.ravel(a)
    b = np.ravel(b)
    ca = a.size < 2 or np.all(a == a[0])
    cb = b.size < 2 or np.all(b == b[0])
    if ca and cb:
        return 1.0
    if ca or cb:
        return 0.0
    rho = spearmanr(a, b).statistic
    return float(rho) if np.isfinite(rho) else 0.0
