"""One interface over tfcam, tf-keras-vis and the reference maps:
``explainer(images, targets, ids) -> maps`` (N, H, W) float32 in [0, 1]."""
from __future__ import annotations

import numpy as np

from benchmarks import api
from benchmarks.baselines.reference import ReferenceExplainer
from benchmarks.baselines.tf_keras_vis import TfKerasVisExplainer

LIBRARIES = ("tfcam", "tf-keras-vis", "baseline")


class TfcamExplainer:
    library = "tfcam"

    def __init__(self, name: str, model, layer: str | None, options: dict | None = None,
                 batch_size: int = 32):
        self.name, self.model, self.layer = name, model, layer
        self.options = dict(options or {})
        self.batch_size = batch_size
        self.last = None

    def explanation(self, images, targets):
        return api.tfcam().explain(self.model, images, method=self.name, layer=self.layer,
                                   targets=targets, batch_size=self.batch_size, progress=False,
                                   **self.options)

    def __call__(self, images, targets, ids=None) -> np.ndarray:
        self.last = self.explanation(images, np.asarray(targets))
        return np.asarray(self.last.maps, np.float32)


def _plain(node) -> dict:
    try:
        from omegaconf import OmegaConf
        if OmegaConf.is_config(node):
            return OmegaConf.to_container(node, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return dict(node or {})


def make_explainer(method_cfg, model, layer: str | None, batch_size: int = 32):
    """The explainer a method config (conf/method/*.yaml) describes, for ``model`` at ``layer``.

    Raises what the library raises when it cannot even be set up (tf-keras-vis:
    :class:`~benchmarks.baselines.tf_keras_vis.BaselineError`), and a KeyError for a layer
    the model config could not name (``Context.plan`` marks it ``"!<why>"``)."""
    if layer is not None and str(layer).startswith("!"):
        raise KeyError(str(layer)[1:])
    library = str(method_cfg.library)
    options = _plain(method_cfg.get("options"))
    name = str(method_cfg.name)
    layer = layer if method_cfg.get("layerwise", True) else None
    if library == "tfcam":
        return TfcamExplainer(name, model, layer, options, batch_size)
    if library == "tf-keras-vis":
        explainer = TfKerasVisExplainer(name, model, layer, options)
        return _IgnoringIds(explainer)
    if library == "baseline":
        return ReferenceExplainer(name, options)
    raise ValueError(f"method {method_cfg.get('id')}: unknown library {library!r}; known: {LIBRARIES}")


class _IgnoringIds:
    """Adapts ``f(images, targets)`` to the ``(images, targets, ids)`` call."""

    def __init__(self, inner):
        self.inner = inner
        self.library = inner.library

    def __call__(self, images, targets, ids=None):
        return self.inner(images, targets)


def unit_maps(maps, n: int, hw: tuple) -> np.ndarray:
    """Check shape, replace non-finite values, clip to [0, 1]."""
    maps = np.asarray(maps, np.float32)
    if maps.shape != (n, *hw):
        raise ValueError(f"explainer returned maps of shape {maps.shape}, expected {(n, *hw)}")
    return np.clip(np.nan_to_num(maps, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
