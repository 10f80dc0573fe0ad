"""Model parameter randomization test (Adebayo et al., 2018), on clones only."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import pandas as pd

from tfcam.renamed import renamed

from ._inputs import as_images, as_maps
from ._scoring import top1_classes
from .randomize import randomize_layer, weighted_layers
from .result import MetricResult, register_direction, tidy_rows
from .similarity import SIMILARITIES, similarities

# the headline: mean similarity over the steps (Quantus' return_average_correlation)
register_direction("randomization", higher_is_better=False)


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
    for i, layer in enumerate(layers):
        if layer is key or layer.name == key or getattr(key, "name", None) == layer.name:
            return i
    raise ValueError(
        f"layer {getattr(key, 'name', key)!r} is not a layer with weights of the model; "
        f"available: {[layer.name for layer in layers]}."
    )



@renamed(images="inputs", layers="randomized_layers")
def randomization_test(
    model,
    inputs,
    explain_fn: Callable,
    targets=None,
    mode: str = "cascading",
    randomized_layers=None,
    seed: int = 0,
    metrics: Sequence[str] = SIMILARITIES,
    batch_size: int = 32,
) -> MetricResult:
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
        inputs: (N, H, W, C).
        explain_fn: ``explain_fn(model, inputs, targets) -> (N, H, W)`` maps.
        targets: None (the trained model's top-1 class, then kept fixed for every
            step), a class index or (N,) class indices; passed to ``explain_fn``.
        randomized_layers: None (every leaf layer with weights, output to input) or a
            list of layer names / layers, randomized in the order given (`layers=` is
            its old name).
        seed: base seed of the re-drawn weights.
        metrics: similarities to compute (see `similarities`).
        batch_size: images per model call when predicting top-1 targets.

    Returns:
        MetricResult ``"randomization"`` (lower is better): ``values`` (N,) the first
        similarity of ``metrics`` averaged over the steps (Quantus'
        ``return_average_correlation``); ``curves`` (N, steps) that similarity after each
        step. ``rows`` (``to_frame()``): one row per image × step × similarity, columns
        ``image, mode, step, layer, metric, value, higher_is_better``: ``step`` 1..
        (number of randomization steps), ``layer`` the layer randomized at that step,
        ``value`` the similarity of the step's map to the trained model's map (in
        [-1, 1]; 1 = unchanged). `summarize_randomization` gives mean ± std per step;
        ``result.select("ssim", step=2)`` one step's values.
    """
    if mode not in ("cascading", "independent"):
        raise ValueError(f'mode must be "cascading" or "independent"; received {mode!r}.')
    x = as_images(inputs)
    n, h, w = x.shape[:3]
    trained = model.get_weights()
    if targets is None:  # fixed once, so every step explains the same classes
        targets = top1_classes(model, x, batch_size)

    def explain(clone):
        return as_maps(explain_fn(clone, x, targets), n, (h, w), "explain_fn's maps")

    base_maps = explain(_clone(model, trained))
    pool = weighted_layers(model)
    if randomized_layers is None:
        order = list(range(len(pool)))[::-1]
    else:
        order = [_layer_index(pool, key) for key in randomized_layers]

    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not metrics:
        raise ValueError(f"metrics must name at least one similarity of {SIMILARITIES}.")
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
                rows.append((i, mode, step, pool[idx].name, metric, value))
    table = tidy_rows(rows, ["mode", "step", "layer"])
    first = table[table.metric == metrics[0]]
    curves = first.pivot(index="image", columns="step", values="value").reindex(range(n))
    return MetricResult("randomization", curves.mean(axis=1).to_numpy(),
                        curves=curves.to_numpy(), rows=table)


def summarize_randomization(result: MetricResult | pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over images per step, layer and metric of a `randomization_test`
    result (or its ``to_frame()`` table): columns ``mode, step, layer, metric, mean, std``
    (std with ddof=0)."""
    frame = result.to_frame() if isinstance(result, MetricResult) else result
    keys = [k for k in ("mode", "step", "layer", "metric") if k in frame.columns]
    g = frame.groupby(keys, sort=True)["value"]
    return g.agg(mean="mean", std=lambda v: float(np.std(v))).reset_index()
