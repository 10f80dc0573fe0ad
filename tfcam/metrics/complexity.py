"""Complexity of explanations, from the maps alone (no model): how concentrated they are.

- `sparseness`: the Gini index of |map| (Chalasani et al., "Concise Explanations of Neural
  Networks using Adversarial Training", ICML 2020; Quantus' ``Sparseness``). Higher is better.
- `complexity`: the entropy of |map| / Σ|map| (Bhatt et al., "Evaluating and Aggregating
  Feature-based Model Explanations", IJCAI 2020; Quantus' ``Complexity``). Lower is better.

Both read each sample's values flattened, so maps (N, H, W), attributions (N, H, W, C) or
any (N, ...) array work; both are unchanged when a map is multiplied by a positive number.
"""

from __future__ import annotations

import numpy as np

from .result import MetricResult, register_direction

# directions (tfcam.metrics.HIGHER_IS_BETTER)
register_direction("sparseness", higher_is_better=True)
register_direction("complexity", higher_is_better=False)


def _flat_abs(maps, name: str = "maps") -> np.ndarray:
    """(N, D) float64 |values| of each sample, or a ValueError naming the problem."""
    arr = np.asarray(maps, dtype=np.float64)
    if arr.ndim < 2 or arr.shape[0] == 0 or arr[0].size == 0:
        raise ValueError(
            f"{name} must have shape (N, H, W) (or any (N, ...) with values per sample); "
            f"received shape {arr.shape}. Add a batch axis with maps[None]."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contain NaN or infinite values.")
    return np.abs(arr.reshape(arr.shape[0], -1))


def gini(values: np.ndarray) -> np.ndarray:
    """Gini index of each row of non-negative (N, D) values, in [0, 1 − 1/D].

    ``Σ_k (2k − D − 1) a_(k) / (D Σ a)`` with a_(1) <= ... <= a_(D) sorted (Quantus'
    formula, without its +1e-7 on every value). 0 for a uniform row, 1 − 1/D for one-hot;
    an all-zero row counts as uniform (0).
    """
    a = np.sort(values, axis=1)
    d = a.shape[1]
    coefficients = 2 * np.arange(1, d + 1) - d - 1
    total = a.sum(axis=1)
    return np.where(total > 0, (a @ coefficients) / (d * np.where(total > 0, total, 1.0)), 0.0)


def entropy(values: np.ndarray) -> np.ndarray:
    """Shannon entropy (natural log) of each row of non-negative (N, D) values normalized to
    sum to 1, in [0, log D]; 0 · log 0 = 0; an all-zero row counts as uniform (log D)."""
    total = values.sum(axis=1, keepdims=True)
    d = values.shape[1]
    p = np.where(total > 0, values / np.where(total > 0, total, 1.0), 1.0 / d)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=1)


def sparseness(maps) -> MetricResult:
    """Sparseness (Chalasani et al., ICML 2020): the Gini index of each sample's absolute,
    flattened map. Higher is better (attributions on few features).

    Args:
        maps: (N, H, W) maps, or any (N, ...) attributions; finite (signed values are taken
            as their absolute value).

    Returns:
        MetricResult ``"sparseness"``: values (N,) in [0, 1 − 1/D] (D values per sample):
        0 for a uniform map, 1 − 1/D for a single nonzero value; an all-zero map scores 0
        (``extras["all_zero"]`` marks those).
    """
    a = _flat_abs(maps)
    return MetricResult("sparseness", gini(a), extras={"all_zero": a.sum(axis=1) == 0})


def complexity(maps) -> MetricResult:
    """Complexity (Bhatt et al., IJCAI 2020): the entropy of each sample's absolute map
    normalized to a distribution, ``−Σ p log p`` with ``p = |a| / Σ|a|`` (natural log).
    Lower is better (attributions on few features).

    Args:
        maps: (N, H, W) maps, or any (N, ...) attributions; finite.

    Returns:
        MetricResult ``"complexity"``: values (N,) in nats, in [0, log D]: 0 for a single
        nonzero value, log D for a uniform map; an all-zero map scores log D (no feature
        singled out; ``extras["all_zero"]``).
    """
    a = _flat_abs(maps)
    return MetricResult("complexity", entropy(a), extras={"all_zero": a.sum(axis=1) == 0})
