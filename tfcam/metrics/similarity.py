"""Similarity of two maps (the parameter randomization test's measures)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfcam._maps import host_minmax

from ._ranks import spearman
from .result import register_direction

SIMILARITIES = ("spearman_abs", "spearman", "ssim", "hog_spearman")
# in the randomization test a faithful method's maps drift away: low similarity is better
for _name in SIMILARITIES:
    register_direction(_name, higher_is_better=False)


def _unit(m: np.ndarray) -> np.ndarray:
    """Maps already in [0, 1] are kept; others are min-max normalized (0 if constant)."""
    return m if (m.min() >= 0 and m.max() <= 1) else host_minmax(m, axes=(-2, -1))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (H, W) maps on [0, 1] (skimage, Gaussian weights sigma 1.5, 11 × 11
    window, data_range 1, population covariance as in Wang et al.). For maps smaller
    than 11 px the Gaussian shrinks so the window fits (radius (min(H, W) - 1) // 2)."""
    from skimage.metrics import structural_similarity

    side = min(a.shape)
    sigma = 1.5 if side >= 11 else max((side - 1) // 2, 0) / 3.5
    return float(
        structural_similarity(
            _unit(a), _unit(b), data_range=1.0, gaussian_weights=True, sigma=sigma,
            use_sample_covariance=False,
        )
    )


def hog_features(m: np.ndarray) -> np.ndarray:
    """HOG of an (H, W) map (skimage.feature.hog defaults: 9 orientations, 8 × 8 px
    cells, 3 × 3 blocks, L2-Hys); cells shrink to ``min(H, W) // 3`` px on small maps."""
    from skimage.feature import hog

    cell = max(1, min(8, min(m.shape) // 3))
    block = 3 if min(m.shape) >= 3 * cell else 1
    return hog(_unit(m), pixels_per_cell=(cell, cell), cells_per_block=(block, block))


def similarities(a: np.ndarray, b: np.ndarray, which: Sequence[str] = SIMILARITIES) -> dict[str, float]:
    """Similarity of two (H, W) maps: ``spearman_abs`` (Spearman of |map|),
    ``spearman`` (signed), ``ssim`` and ``hog_spearman`` (Spearman of HOG features).
    All in [-1, 1], 1 for identical maps; constant inputs follow `spearman`'s rule
    (both constant -> 1, one constant -> 0)."""
    out = {}
    for name in which:
        if name == "spearman_abs":
            out[name] = spearman(np.abs(a), np.abs(b))
        elif name == "spearman":
            out[name] = spearman(a, b)
        elif name == "ssim":
            out[name] = ssim(a, b)
        elif name == "hog_spearman":
            out[name] = spearman(hog_features(a), hog_features(b))
        else:
            raise ValueError(f"unknown similarity {name!r}; choose from {SIMILARITIES}.")
    return out
