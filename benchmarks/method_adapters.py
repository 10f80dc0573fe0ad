"""The method adapters: a method config (``conf/method/*.yaml``) becomes an explainer with
one interface over tfcam, tf-keras-vis and the reference maps,
``explainer(images, targets, ids) -> maps`` (N, H, W) float32 in [0, 1].

:func:`make_explainer` builds one (``hydra.utils.instantiate`` of the config, whose
``_target_`` may name only :func:`build_explainer`, ``EXPLAINER_FACTORY``); the masking fill
(``metrics.masking.fill``) reaches the tfcam methods that mask (:func:`with_fill`);
:func:`unit_maps` checks and clips what an explainer returns. A tfcam explainer keeps its last
``tfcam.Explanation`` (``last``: raw and signed maps, channel weights, ...)."""
from __future__ import annotations

import numpy as np

from . import api
from .baselines.reference import ReferenceExplainer
from .baselines.tf_keras_vis import TfKerasVisExplainer

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


def fill_option(method_cfg) -> str | None:
    """The option of ``method_cfg`` that takes the masking fill (`tfcam.fill`): ``fill``, for
    the tfcam methods that take one (those that mask their input: Score-CAM, occlusion, and
    any new one); None for the others and other libraries (tf-keras-vis' Score-CAM has no
    such option: it multiplies the input by the mask, black)."""
    if str(method_cfg.get("library", "tfcam")) != "tfcam":
        return None
    from tfcam.options import method_options
    from tfcam.registry import lookup
    return "fill" if "fill" in method_options(lookup(str(method_cfg.get("name")))) else None


def masking_fill(cfg):
    """The run's ``metrics.masking.fill`` as plain Python (black where the config has none),
    checked: a ValueError naming the choices (:func:`tfcam.fill.check_fill`)."""
    from omegaconf import OmegaConf

    from tfcam.fill import check_fill
    fill = OmegaConf.select(cfg, "metrics.masking.fill", default="black")
    fill = OmegaConf.to_container(fill) if OmegaConf.is_config(fill) else fill
    check_fill(fill, "metrics.masking.fill")
    return fill


def fill_label(fill) -> str:
    """The ``fill`` column: the name, or the number(s) as written (``[0.485, 0.456, 0.406]``)."""
    return fill if isinstance(fill, str) else str(fill)


def with_fill(method_cfg, fill):
    """``method_cfg`` with the run's masking fill (``metrics.masking.fill``) as the option of a
    tfcam method that masks; other methods, and a config that sets the option itself, as
    they are."""
    import copy

    from omegaconf import open_dict
    option = None if fill is None else fill_option(method_cfg)
    if option is None or option in (method_cfg.get("options") or {}):
        return method_cfg
    filled = copy.deepcopy(method_cfg)  # the loaded config is cached: never changed in place
    with open_dict(filled):  # the schema types options as a dict; struct mode forbids new keys
        filled.options = {**(filled.get("options") or {}), option: fill}
    return filled


# What a method config's `_target_` may name: this module's factory, nothing else.
EXPLAINER_FACTORY = f"{__name__}.build_explainer"


def make_explainer(method_cfg, model, layer: str | None, batch_size: int = 32, fill=None):
    """The explainer a method config (conf/method/*.yaml) describes, for ``model`` at ``layer``:
    ``hydra.utils.instantiate`` of the config (its ``_target_``: :func:`build_explainer`);
    ``fill`` (``metrics.masking.fill``; None: the method's default, black) reaches the tfcam
    methods that mask (:func:`with_fill`).

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
        method_cfg = OmegaConf.merge({"_target_": EXPLAINER_FACTORY}, method_cfg)
    elif method_cfg._target_ != EXPLAINER_FACTORY:
        # instantiate calls whatever _target_ names: a config file must not run code.
        raise ValueError(f"method {method_cfg.get('id')}: _target_ must be {EXPLAINER_FACTORY} (the "
                         f"only factory of explainers), got {method_cfg._target_!r}; a method config "
                         "names a library, a method and its options, never code to call")
    method_cfg = with_fill(method_cfg, fill)
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
