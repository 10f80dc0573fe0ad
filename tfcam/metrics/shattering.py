"""Shattered-gradient analysis per layer: do gradients still carry channel importance?

The claim it tests (docs/reference.md): gradient weights lose their link to channel
importance at shallow layers, relevance weights keep it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tfcam.renamed import renamed

from ._inputs import as_images
from ._ranks import spearman
from ._scoring import top1_classes
from .result import MetricResult, register_direction, tidy_rows

# Directions: smooth, sign-coherent gradients that still rank channels by their ablation
# importance are not shattered. The noise floor is a reference and the share of negative
# Grad-CAM weights a description: neither has a direction. The headline, "shattering", is
# the autocorrelation averaged over the layers.
for _name, _higher in (("shattering", True), ("autocorrelation", True), ("sign_coherence", True),
                       ("sign_coherence_noise_floor", None), ("negative_weight_share", None),
                       ("spearman_gradcam_ablation", True),
                       ("spearman_relevancecam_ablation", True)):
    register_direction(_name, _higher)


def _tfcam_layer_gradients():
    """tfcam's layer gradients, one compiled explainer per layer for the whole analysis."""
    from tfcam.cam.base import LayerGradients  # lazy: the core may import tfcam.metrics

    explainers = {}

    def layer_gradients(model, images, layer, targets):
        # Keyed on the layer itself (names and layer objects hash), never on id(): an id
        # can be reused by another object once the first is freed.
        if layer not in explainers:
            explainers[layer] = LayerGradients(model, layer, batch_size=len(images),
                                               progress=False)
        out = explainers[layer].run(images, targets)
        return out["activations"], out["gradients"], out["scores"]

    return layer_gradients


def _tfcam_channel_weights(model, images, method, layer, targets):
    import tfcam

    return tfcam.explain(model, images, method=method, layer=layer, targets=targets).channel_weights


# --- statistics of g = dS/dA, (N, h, w, K) ---------------------------------------------

def lag1_autocorrelation(g) -> np.ndarray:
    """(N,) lag-1 spatial autocorrelation of (N, h, w, K) gradients.

    Per channel, the Pearson correlation over all pairs of horizontal (right) and
    vertical (down) neighbours ``(g[i, j], g[i, j+1])`` and ``(g[i, j], g[i+1, j])``;
    then the mean over channels. About 0 for white noise, towards 1 for smooth fields.
    Channels whose pairs are constant (no defined correlation) are left out of the
    mean; an image with no such channel (e.g. all-zero gradients, or a 1 × 1 layer)
    gets 0.
    """
    g = np.asarray(g, dtype=np.float64)
    n, _, _, k = g.shape
    xs = [g[:, :, :-1, :].reshape(n, -1, k), g[:, :-1, :, :].reshape(n, -1, k)]
    ys = [g[:, :, 1:, :].reshape(n, -1, k), g[:, 1:, :, :].reshape(n, -1, k)]
    x = np.concatenate(xs, axis=1)
    y = np.concatenate(ys, axis=1)
    if x.shape[1] < 2:
        return np.zeros(n)
    valid = (np.ptp(x, axis=1) > 0) & (np.ptp(y, axis=1) > 0)  # (n, k)
    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean(axis=1, keepdims=True)
    num = (dx * dy).sum(axis=1)
    den = np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    r = np.where(valid & (den > 0), num / np.where(den > 0, den, 1.0), 0.0)
    r = np.clip(r, -1.0, 1.0)
    count = (valid & (den > 0)).sum(axis=1)
    return np.where(count > 0, r.sum(axis=1) / np.maximum(count, 1), 0.0)


def sign_coherence(g) -> np.ndarray:
    """(N,) sign coherence ``|Σ_ij g| / Σ_ij |g|`` per channel, mean over channels.

    1 when every position of a channel has the same sign (the Grad-CAM weight is a
    coherent average), near the noise floor when signs cancel. Channels with all-zero
    gradients are left out; an image with none left gets 0.
    """
    g = np.asarray(g, dtype=np.float64)
    num = np.abs(g.sum(axis=(1, 2)))
    den = np.abs(g).sum(axis=(1, 2))
    valid = den > 0
    c = np.where(valid, num / np.where(valid, den, 1.0), 0.0)
    count = valid.sum(axis=1)
    return np.where(count > 0, c.sum(axis=1) / np.maximum(count, 1), 0.0)


def sign_coherence_noise_floor(h: int, w: int) -> float:
    """``sqrt(2 / (π Z))``, Z = h·w: the expected sign coherence of Z gradients of equal
    magnitude and independent random signs (E|Σ s_i| ≈ sqrt(2Z/π) for Z signs s_i = ±1)."""
    return float(np.sqrt(2.0 / (np.pi * h * w)))


def gradcam_weights(g) -> np.ndarray:
    """(N, K) Grad-CAM channel weights: the spatial mean of ``g``."""
    return np.asarray(g, dtype=np.float64).mean(axis=(1, 2))


# --- the analysis ----------------------------------------------------------------------

@renamed(images="inputs")
def shattering(
    model,
    inputs,
    layers: Sequence,
    targets=None,
    *,
    layer_gradients: Callable | None = None,
    channel_weights: Callable | None = None,
    relevance_method: str | None = "relevance_cam",
    ablation_method: str | None = "ablation_cam",
    batch_size: int = 32,
) -> MetricResult:
    """Shattered-gradient statistics per image × layer.

    For each layer, with ``A`` its activations (N, h, w, K) and ``g = dS/dA`` the
    gradient of the explained class's logit (same shape):

    - ``autocorrelation``: `lag1_autocorrelation` of g, in [-1, 1];
    - ``sign_coherence``: `sign_coherence` of g, in [0, 1];
    - ``sign_coherence_noise_floor``: ``sqrt(2/(π h w))`` for comparison;
    - ``negative_weight_share``: share of channels whose Grad-CAM weight (spatial
      mean of g) is negative, in [0, 1];
    - ``spearman_gradcam_ablation``: Spearman correlation, over the K channels, of the
      Grad-CAM weights with ablation importance ``(S − S_{A^k=0}) / S`` (Ablation-CAM's
      channel weights), in [-1, 1], higher means gradients still rank channels by
      importance;
    - ``spearman_relevancecam_ablation``: the same for Relevance-CAM's weights.

    Spearman of constant vectors follows the library rule (both constant -> 1, one
    constant -> 0), so no value is NaN.

    Args:
        model: a Keras model.
        inputs: (N, H, W, C).
        layers: layer names (or layer objects) to analyse.
        targets: None (top-1 class, fixed once for all layers), a class index or (N,)
            class indices.
        layer_gradients: ``f(model, images, layer, targets) -> (activations,
            gradients, scores)`` with activations and gradients (N, h, w, K); default
            ``tfcam.layer_gradients``.
        channel_weights: ``f(model, images, method, layer, targets) -> (N, K)``;
            default ``tfcam.explain(...).channel_weights``.
        relevance_method: the method name passed to ``channel_weights`` for the
            relevance statistic; None skips it.
        ablation_method: the method name passed to ``channel_weights`` for the ablation
            importance; None skips the statistics that need it.
        batch_size: images per call of the two callables.

    Returns:
        MetricResult ``"shattering"`` (higher is better: less shattered): ``values`` (N,)
        the autocorrelation averaged over ``layers``, ``curves`` (N, layers) the
        autocorrelation per layer, in the order given. ``rows`` (``to_frame()``): one row
        per image × layer × statistic, columns ``image, layer, metric, value,
        higher_is_better`` (the statistic in ``metric``); ``result.select("sign_coherence",
        layer="conv1")`` one layer's values.
    """
    x = as_images(inputs)
    n = x.shape[0]
    layer_gradients = layer_gradients or _tfcam_layer_gradients()
    channel_weights = channel_weights or _tfcam_channel_weights
    if targets is None:
        targets = top1_classes(model, x, batch_size)
    targets_arr = np.asarray(targets)
    per_sample = targets_arr.ndim == 1 and targets_arr.shape[0] == n

    rows = []
    for layer in layers:
        name = layer if isinstance(layer, str) else getattr(layer, "name", str(layer))
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            xb = x[start:stop]
            tb = targets_arr[start:stop] if per_sample else targets
            _, g, _ = layer_gradients(model, xb, layer, tb)
            g = np.asarray(g, dtype=np.float64)
            if g.ndim != 4 or g.shape[0] != stop - start:
                raise ValueError(
                    f"layer_gradients must return gradients of shape ({stop - start}, h, w, K) "
                    f"for layer {name!r}; received {g.shape}."
                )
            _, h, w, k = g.shape
            stats = {
                "autocorrelation": lag1_autocorrelation(g),
                "sign_coherence": sign_coherence(g),
                "sign_coherence_noise_floor": np.full(stop - start, sign_coherence_noise_floor(h, w)),
            }
            wg = gradcam_weights(g)
            stats["negative_weight_share"] = (wg < 0).mean(axis=1)
            if ablation_method is not None:
                ablation = _weights(channel_weights, model, xb, ablation_method, layer, tb, stop - start, k)
                stats["spearman_gradcam_ablation"] = np.array(
                    [spearman(wg[i], ablation[i]) for i in range(stop - start)]
                )
                if relevance_method is not None:
                    rel = _weights(channel_weights, model, xb, relevance_method, layer, tb, stop - start, k)
                    stats["spearman_relevancecam_ablation"] = np.array(
                        [spearman(rel[i], ablation[i]) for i in range(stop - start)]
                    )
            for i in range(stop - start):
                for stat, values in stats.items():
                    rows.append((start + i, name, stat, float(values[i])))
    table = tidy_rows(rows, ["layer"])
    auto = table[table.metric == "autocorrelation"]
    names = list(dict.fromkeys(auto.layer))  # the layers' order
    curves = auto.pivot(index="image", columns="layer", values="value").reindex(index=range(n), columns=names)
    return MetricResult("shattering", curves.mean(axis=1).to_numpy(), curves=curves.to_numpy(),
                        rows=table, extras={"layers": names})


def _weights(fn, model, xb, method, layer, targets, m, k) -> np.ndarray:
    wts = np.asarray(fn(model, xb, method, layer, targets), dtype=np.float64)
    if wts.shape != (m, k):
        raise ValueError(
            f"channel_weights({method!r}) must return shape ({m}, {k}) for layer "
            f"{getattr(layer, 'name', layer)!r}; received {wts.shape}."
        )
    return wts
