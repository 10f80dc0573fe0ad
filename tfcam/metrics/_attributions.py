"""Checks of what the attribution metrics take: attributions (or an `Explanation` holding
them) and baselines, against the images (numpy only)."""

from __future__ import annotations

import numpy as np


def unpack_explanation(attributions, targets):
    """``(array, targets)``: an `Explanation` gives its unnormalized ``attributions``
    (input-space methods: gradients, Input×Gradient, IG, LRP relevance) and, when
    ``targets`` is None, the classes it explained; anything else passes through."""
    if hasattr(attributions, "attributions") and hasattr(attributions, "maps"):
        explanation = attributions
        if explanation.attributions is None:
            raise ValueError(
                f"the '{explanation.method}' explanation has no input-space attributions "
                "(Explanation.attributions is None: CAM methods make layer maps only). Pass "
                "the attributions of an input-space method (saliency, input_x_gradient, "
                "integrated_gradients, lrp, ...) or an array."
            )
        if targets is None and explanation.targets is not None:
            targets = np.asarray(explanation.targets)
        return explanation.attributions, targets
    return attributions, targets


def attribution_array(attributions, x: np.ndarray, name: str = "attributions") -> np.ndarray:
    """(N, H, W, C) or (N, H, W) float64 finite attributions for images x (N, H, W, C)."""
    arr = np.asarray(attributions, dtype=np.float64)
    n, h, w, c = x.shape
    if arr.shape not in ((n, h, w, c), (n, h, w)):
        raise ValueError(
            f"{name} must have the inputs' shape {(n, h, w, c)} or be maps of shape "
            f"{(n, h, w)}; received shape {arr.shape}. Pass one attribution per input "
            "value (Explanation.attributions) or one per pixel."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contain NaN or infinite values.")
    return arr


def baseline_like(baseline, x: np.ndarray, name: str = "baseline") -> np.ndarray:
    """(N, H, W, C) float32 baseline: a number, one per channel, or an array that
    broadcasts to the images' shape."""
    b = np.asarray(baseline, dtype=np.float32)
    try:
        out = np.ascontiguousarray(np.broadcast_to(b, x.shape))
    except ValueError:
        raise ValueError(
            f"{name} must broadcast to the inputs' shape {x.shape}; received shape {b.shape}."
        ) from None
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return out


def positive_int(value, name: str) -> int:
    """``value`` as an int >= 1, or a ValueError naming the argument."""
    try:
        ok = not isinstance(value, bool) and float(value).is_integer() and value >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an integer >= 1; received {value!r}.")
    return int(value)
