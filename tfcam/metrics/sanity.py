"""Model parameter randomization test (Adebayo et al., 2018), on clones only."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import keras
import numpy as np
import pandas as pd

from ._arrays import as_images, as_maps, minmax, spearman
from ._model_calls import predict, resolve_targets

SIMILARITIES = ("spearman_abs", "spearman", "ssim", "hog_spearman")


# --- which layers and variables get re-drawn -------------------------------------------

def _leaf_layers(model) -> list:
    """Layers in graph order, descending into nested models (a nested model is
    replaced by its own layers)."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model) or hasattr(layer, "layers") and layer.layers:
            out.extend(_leaf_layers(layer))
        else:
            out.append(layer)
    return out


def _randomizable(variable) -> bool:
    """Float variables other than BatchNorm's moving statistics (which are kept)."""
    name = variable.name.split("/")[-1]
    return "float" in str(variable.dtype) and not name.startswith("moving_")


def weighted_layers(model) -> list:
    """Leaf layers holding at least one variable that randomization re-draws, in
    graph order (input to output)."""
    return [l for l in _leaf_layers(model) if any(_randomizable(v) for v in l.weights)]


def _initializer_for(layer, variable):
    """The layer's own initializer of `variable`, or None.

    Matches ``layer.<name>_initializer`` to the variable's name (``kernel`` ->
    ``kernel_initializer``), then ``<prefix>_kernel`` -> ``<prefix>_initializer``
    (SeparableConv's depthwise/pointwise kernels), then the layer's single initializer
    left unclaimed by its other variables (DepthwiseConv2D's ``kernel`` ->
    ``depthwise_initializer``).
    """
    name = variable.name.split("/")[-1]
    for attr in (f"{name}_initializer", f"{name.removesuffix('_kernel')}_initializer"):
        init = getattr(layer, attr, None)
        if init is not None:
            return init
    names = {v.name.split("/")[-1] for v in layer.weights}
    claimed = {f"{n}_initializer" for n in names}
    claimed |= {f"{n.removesuffix('_kernel')}_initializer" for n in names}
    free = [
        a for a in dir(layer)
        if a.endswith("_initializer") and not a.startswith(("_", "moving_")) and a not in claimed
        and getattr(layer, a, None) is not None
    ]
    return getattr(layer, free[0]) if len(free) == 1 else None


def _seeded(initializer, seed: int):
    """A copy of `initializer` drawing from `seed` (initializers without a seed, e.g.
    Zeros or Ones, are returned as they are)."""
    init = keras.initializers.get(initializer)
    config = init.get_config()
    if "seed" in config:
        config["seed"] = int(seed)
        return init.__class__.from_config(config)
    return init


def randomize_layer(layer, seed: int) -> list[str]:
    """Re-draw every randomizable variable of `layer` in place from its own
    initializer (seeded). Variables without a known initializer get a random
    permutation of their values (a warning names them). Returns the variable paths."""
    rng = np.random.default_rng(seed)
    done = []
    for j, v in enumerate(layer.weights):
        if not _randomizable(v):
            continue
        init = _initializer_for(layer, v)
        if init is not None:
            value = _seeded(init, seed * 1009 + j)(tuple(v.shape), dtype=v.dtype)
        else:
            warnings.warn(
                f"no initializer found for {v.path}; randomizing it by permuting its values.",
                stacklevel=3,
            )
            value = rng.permutation(keras.ops.convert_to_numpy(v).reshape(-1)).reshape(v.shape)
        v.assign(value)
        done.append(v.path)
    return done


def _clone(model, weights) -> keras.Model:
    try:
        clone = keras.models.clone_model(model)
    except Exception as err:  # subclassed models cannot be cloned
        raise ValueError(
            f"randomization_test needs keras.models.clone_model to copy the model "
            f"({type(model).__name__}); it failed with: {err}. Use a Functional or "
            "Sequential model."
        ) from err
    clone.set_weights(weights)
    return clone


def _layer_index(layers: list, key) -> int:
    for i, l in enumerate(layers):
        if l is key or l.name == key or getattr(key, "name", None) == l.name:
            return i
    raise ValueError(
        f"layer {getattr(key, 'name', key)!r} is not a layer with weights of the model; "
        f"available: {[l.name for l in layers]}."
    )


# --- similarities ----------------------------------------------------------------------

def _unit(m: np.ndarray) -> np.ndarray:
    """Maps already in [0, 1] are kept; others are min-max normalized (0 if constant)."""
    return m if (m.min() >= 0 and m.max() <= 1) else minmax(m)


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


# --- the test --------------------------------------------------------------------------

def randomization_test(
    model,
    images,
    explain_fn: Callable,
    targets=None,
    mode: str = "cascading",
    layers=None,
    seed: int = 0,
    metrics: Sequence[str] = SIMILARITIES,
    batch_size: int = 64,
) -> pd.DataFrame:
    """Model parameter randomization test. Higher similarity is *worse* for the
    explanation method: a faithful method's maps should drift away from the trained
    model's as its weights are destroyed.

    The user's model is never modified: each step explains a fresh
    ``keras.models.clone_model`` copy (given the trained weights with ``set_weights``),
    so an explainer that compiles functions per model object cannot serve stale
    weights. A layer is randomized by re-drawing each of its variables from the
    layer's own initializer (``kernel_initializer``, ``bias_initializer``,
    ``gamma_initializer``, ...; seeded from ``seed`` and the layer's position);
    BatchNorm moving mean/variance are kept.

    - ``mode="cascading"``: from the output layer downward, step k has the top k
      weighted layers randomized.
    - ``mode="independent"``: step k randomizes only the k-th layer (same order),
      starting each time from the trained weights.

    Args:
        model: a Functional or Sequential Keras model (nested models are walked).
        images: (N, H, W, C).
        explain_fn: ``explain_fn(model, images, targets) -> (N, H, W)`` maps.
        targets: None (the trained model's top-1 class, then kept fixed for every
            step), a class index or (N,) class indices; passed to ``explain_fn``.
        layers: None (every leaf layer with weights, output to input) or a list of
            layer names / layers, randomized in the order given.
        seed: base seed of the re-drawn weights.
        metrics: similarities to compute (see `similarities`).
        batch_size: images per model call when predicting top-1 targets.

    Returns:
        Tidy DataFrame, one row per step × image × metric, columns ``mode, step,
        layer, image, metric, value``: ``step`` 1.. (number of randomization steps),
        ``layer`` the layer randomized at that step, ``value`` the similarity of the
        step's map to the trained model's map (in [-1, 1]; 1 = unchanged).
        `summarize_randomization` gives mean ± std per step.
    """
    if mode not in ("cascading", "independent"):
        raise ValueError(f'mode must be "cascading" or "independent"; received {mode!r}.')
    x = as_images(images)
    n, h, w = x.shape[:3]
    trained = model.get_weights()
    if targets is None:  # fixed once, so every step explains the same classes
        targets = resolve_targets(None, np.asarray(predict(model, x, batch_size)).reshape(n, -1))

    def explain(clone):
        return as_maps(explain_fn(clone, x, targets), n, (h, w), "explain_fn's maps")

    base_maps = explain(_clone(model, trained))
    pool = weighted_layers(model)
    if layers is None:
        order = list(range(len(pool)))[::-1]
    else:
        order = [_layer_index(pool, key) for key in layers]

    rows = []
    weights = trained
    for step, idx in enumerate(order, start=1):
        clone = _clone(model, trained if mode == "independent" else weights)
        randomize_layer(weighted_layers(clone)[idx], seed=seed * 100_003 + idx)
        if mode == "cascading":
            weights = clone.get_weights()
        maps = explain(clone)
        for i in range(n):
            for metric, value in similarities(base_maps[i], maps[i], metrics).items():
                rows.append((mode, step, pool[idx].name, i, metric, value))
    return pd.DataFrame(rows, columns=["mode", "step", "layer", "image", "metric", "value"])


def summarize_randomization(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over images per step, layer and metric of a `randomization_test`
    table: columns ``mode, step, layer, metric, mean, std`` (std with ddof=0)."""
    keys = [k for k in ("mode", "step", "layer", "metric") if k in frame.columns]
    g = frame.groupby(keys, sort=True)["value"]
    return g.agg(mean="mean", std=lambda v: float(np.std(v))).reset_index()
