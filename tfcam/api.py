"""The one-call API: `explain()` and `methods()`, with explainers reused across calls.

Methods are found in `tfcam.registry`, where each method class registers itself
(`@register`); `tfcam/__init__` imports every method module, so all are there.
"""

from __future__ import annotations

import weakref

from tfcam import registry
from tfcam.explanation import Explanation
from tfcam.options import check_options

# Explainers keep their compiled functions; reusing them avoids recompiling on every call.
# Weak keys, and explainers that hold their model weakly: a model the user drops is
# collected with everything made for it.
_EXPLAINERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_MAX_EXPLAINERS_PER_MODEL = 16


def method_class(method: str):
    """The explainer class registered under `method`, a canonical id or an old alias (a
    clear error for unknown names)."""
    return registry.lookup(method)


def explain(model, inputs, method: str = "grad_cam", layer=None, targets=None,
            batch_size: int = 32, progress: bool | None = None, **options) -> Explanation:
    """Explain `model`'s decision on `inputs` (N, H, W, C) with `method`; also sequences
    (N, T, C) and volumes (N, D, H, W, C), whose maps are (N, T) and (N, D, H, W).

    method: a snake_case id of `methods()` ("grad_cam", "score_cam", ...); the old ids
        ("gradcam", "scorecam", ...) are accepted too.
    inputs: one array, or for a model with several inputs a list (model input order) or a
        dict by input name; maps then come back as a list, one per input (CAM methods:
        None for inputs without the layer's spatial rank; `input=NAME` keeps one).

    layer: name (nested models are searched; "outer/inner" paths disambiguate), layer
        object, or None for the last layer with the input's spatial rank (a 4-D output for
        images, 3-D for sequences, 5-D for volumes). Ignored by input-space methods.
    targets: None (top-1 class), an int, one int per sample, or a callable
        `score(outputs) -> (N,)` on the model's outputs (multi-output models, regression).
    batch_size: images per call, for every method (32 by default; Integrated Gradients
        and SmoothGrad may take fewer, to keep their copies of each image within
        `chunk_size` model inputs); progress: show a progress bar (None: on terminals,
        when there is more than one batch). options: the method's own (e.g. max_channels=);
        an unknown one is a TypeError listing them.
    """
    cls = method_class(method)
    check_options(cls, options)
    key = (cls.method, layer, batch_size, progress, tuple(sorted(options.items())))
    try:
        cache = _EXPLAINERS.setdefault(model, {})
        explainer = cache.get(key)
    except TypeError:  # unhashable option or model: no reuse
        cache, explainer = None, None
    if explainer is None:
        explainer = cls(model, layer, batch_size=batch_size, progress=progress, **options)
        if cache is not None:
            explainer.hold_model_weakly()  # the cache's key must not keep its model alive
            cache[key] = explainer
            while len(cache) > _MAX_EXPLAINERS_PER_MODEL:  # least recently used first
                cache.pop(next(iter(cache)))
    elif cache is not None:
        cache[key] = cache.pop(key)  # most recently used last
    return explainer.attribute(inputs, targets)


def methods() -> list[str]:
    """The canonical ids accepted by `explain(method=...)` (old aliases work too)."""
    return registry.names()
