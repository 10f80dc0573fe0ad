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


def make_explainer(method_cfg, model, layer: str | None, batch_size: int = 32):
    """The explainer a method config (conf/method/*.yaml) describes, for ``model`` at ``layer``:
    ``hydra.utils.instantiate`` of the config (its ``_target_``: :func:`build_explainer`).

    Raises what the library raises when it cannot even be set up (tf-keras-vis:
    :class:`~benchmarks.baselines.tf_keras_vis.BaselineError`), and a KeyError for a layer
    the model config could not name (the plan marks it ``"!<why>"``)."""
    if layer is not None and str(layer).startswith("!"):
        raise KeyError(str(layer)[1:])
    from hydra.utils import instantiate
    from omegaconf import OmegaConf
    if not OmegaConf.is_config(method_cfg):
        method_cfg = OmegaConf.create(dict(method_cfg))
    if "_target_" not in method_cfg:
        method_cfg = OmegaConf.merge({"_target_": f"{__name__}.build_explainer"}, method_cfg)
    from hydra.errors import InstantiationException
    try:
        return instantiate(method_cfg, _convert_="all", model=model, layer=layer, batch_size=batch_size)
    except InstantiationException as e:  # the library's own error, for the table
        raise (e.__cause__ or e) from None


def build_explainer(*, library: str, name: str, model, layer: str | None = None, options: dict | None = None,
                    layerwise: bool = True, batch_size: int = 32, id: str | None = None,
                    counterpart: str | None = None):
    """The factory the method configs name (``_target_``): an ``explainer(images, targets,
    ids) -> maps`` of ``library``'s method ``name``."""
    del counterpart  # read by the agreement task
    options = dict(options or {})
    layer = layer if layerwise else None
    if library == "tfcam":
        return TfcamExplainer(name, model, layer, options, batch_size)
    if library == "tf-keras-vis":
        return _IgnoringIds(TfKerasVisExplainer(name, model, layer, options))
    if library == "baseline":
        return ReferenceExplainer(name, options)
    raise ValueError(f"method {id}: unknown library {library!r}; known: {LIBRARIES}")


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
