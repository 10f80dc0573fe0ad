"""`explain()`: the one-call front of every method, with explainers reused across calls."""

from __future__ import annotations

import difflib
import weakref

from tfcam.attribution.gradients import InputXGradient, Saliency
from tfcam.attribution.guided import Deconvnet, GuidedBackprop, GuidedGradCAM
from tfcam.attribution.integrated_gradients import IntegratedGradients
from tfcam.attribution.occlusion import Occlusion
from tfcam.attribution.smoothgrad import SmoothGrad
from tfcam.cam.ablationcam import AblationCAM
from tfcam.cam.cam import CAM
from tfcam.cam.gradcam import GradCAM
from tfcam.cam.gradcampp import GradCAMPlusPlus
from tfcam.cam.layercam import LayerCAM
from tfcam.cam.relevancecam import RelevanceCAM
from tfcam.cam.scorecam import ScoreCAM
from tfcam.cam.xgradcam import XGradCAM
from tfcam.explanation import Explanation
from tfcam.lrp.methods import LRP
from tfcam.options import check_options

REGISTRY = {
    cls.method: cls
    for cls in (CAM, GradCAM, GradCAMPlusPlus, XGradCAM, LayerCAM, ScoreCAM, AblationCAM,
                RelevanceCAM, Saliency, InputXGradient, SmoothGrad, IntegratedGradients, Occlusion,
                LRP, GuidedBackprop, Deconvnet, GuidedGradCAM)
}

# Explainers keep their compiled functions; reusing them avoids recompiling on every call.
_EXPLAINERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def method_class(method: str):
    """The explainer class registered under `method` (a clear error for unknown names)."""
    key = method.lower().replace("-", "_").replace("+", "p") if isinstance(method, str) else method
    if key not in REGISTRY:
        close = difflib.get_close_matches(str(method), list(REGISTRY), n=3, cutoff=0.4)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(f"unknown method '{method}'.{hint} Available: {sorted(REGISTRY)}.")
    return REGISTRY[key]


def explain(model, inputs, method: str = "gradcam", layer=None, targets=None,
            batch_size: int = 32, progress: bool | None = None, **options) -> Explanation:
    """Explain `model`'s decision on `inputs` (N, H, W, C) with `method`; also sequences
    (N, T, C) and volumes (N, D, H, W, C), whose maps are (N, T) and (N, D, H, W).

    inputs: one array, or for a model with several inputs a list (model input order) or a
        dict by input name; maps then come back as a list, one per input (CAM methods:
        None for inputs without the layer's spatial rank; `input=NAME` keeps one).

    layer: name (nested models are searched; "outer/inner" paths disambiguate), layer
        object, or None for the last layer with the input's spatial rank (a 4-D output for
        images, 3-D for sequences, 5-D for volumes). Ignored by input-space methods.
    targets: None (top-1 class), an int, one int per sample, or a callable
        `score(outputs) -> (N,)` on the model's outputs (multi-output models, regression).
    batch_size: model inputs per call; progress: show a progress bar (None: on terminals,
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
            cache[key] = explainer
    return explainer.attribute(inputs, targets)


def methods() -> list[str]:
    """Names accepted by `explain(method=...)`."""
    return sorted(REGISTRY)
