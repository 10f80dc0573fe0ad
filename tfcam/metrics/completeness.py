"""Completeness (the axiom of Integrated Gradients, Sundararajan et al., "Axiomatic
Attribution for Deep Networks", ICML 2017; LRP's conservation, Bach et al., PLoS ONE 2015):
the attributions of an input sum to the change of the explained score from the baseline,

    Σ φ(x) = f(x) − f(baseline).

Reported per image as the relative error |Σφ − Δf| / |Δf|; lower is better.
"""

from __future__ import annotations

import numpy as np

from ._attributions import attribution_array, baseline_like, unpack_explanation
from ._inputs import as_images
from ._logits import LogitScorer
from .result import MetricResult, register_direction

# directions (tfcam.metrics.HIGHER_IS_BETTER)
register_direction("completeness", higher_is_better=False)


def completeness(
    model, inputs, attributions, targets=None, *, baseline=0.0, apply_softmax=False,
    batch_size=32,
) -> MetricResult:
    """How far the attributions' sum is from ``f(x) − f(baseline)``. Lower is better.

    Per image: ``|Σφ − Δf| / |Δf|`` with ``Δf = f(x) − f(baseline)``; where Δf is 0 the
    absolute error |Σφ| is reported instead (nothing to compare it with). f is the explained
    class's **logit** by default (``apply_softmax=False``): what tfcam's Integrated Gradients
    and LRP attributions explain, read before the model's softmax when it ends in one
    (``True``: the probability; a callable target: its value).

    The attributions must be the method's own, unnormalized ones: `Explanation.attributions`
    (or the Explanation itself), never its [0, 1] ``maps``. Integrated Gradients is complete
    up to its integration error (pass the ``baseline`` it ran from); Input×Gradient on a
    linear model and LRP-0 on a bias-free ReLU network are exactly complete. LRP conserves
    the relevance it *starts* with: tfcam's default ``start="one_hot"`` starts with 1, so its
    attributions sum to about 1 whatever the logit; explain with ``start="logit"`` (relevance
    in the score's units) to test LRP against f(x) − f(0).

    Args:
        model: a Keras model mapping (B, H, W, C) images to (B, classes) outputs.
        inputs: (N, H, W, C) float, as the model takes them.
        attributions: (N, H, W, C) attributions, (N, H, W) attributions already summed over
            the channels (e.g. ``Explanation.signed`` of an input-space method), or an
            `Explanation` (its ``attributions``; its ``targets`` when ``targets`` is None).
        targets: None (the top-1 class), a class index, (N,) indices, or a callable.
        baseline: the reference input: a number (0: black), one per channel, or an array
            that broadcasts to the inputs; the one the attributions were computed from.
        apply_softmax: see above.
        batch_size: images per model call.

    Returns:
        MetricResult ``"completeness"``: values (N,) relative error (0: complete);
        ``extras``: ``"attribution_sum"`` Σφ, ``"score_change"`` Δf, ``"score"`` f(x),
        ``"baseline_score"`` f(baseline), ``"absolute_error"`` |Σφ − Δf|, all (N,).
    """
    attributions, targets = unpack_explanation(attributions, targets)
    x = as_images(inputs)
    n = x.shape[0]
    phi = attribution_array(attributions, x)
    base = baseline_like(baseline, x)
    scorer = LogitScorer(model, x, targets, apply_softmax, batch_size)
    at_baseline = scorer.scores(lambda a, b: base[a:b], np.arange(n))
    change = scorer.original - at_baseline
    total = phi.reshape(n, -1).sum(axis=1)
    error = np.abs(total - change)
    relative = np.where(change != 0, error / np.where(change != 0, np.abs(change), 1.0), error)
    return MetricResult(
        "completeness", relative, extras={"attribution_sum": total, "score_change": change, "score": scorer.original,
                "baseline_score": at_baseline, "absolute_error": error},
    )
