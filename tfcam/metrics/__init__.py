"""Evaluation metrics for explanations: faithfulness, localization, sanity checks,
shattered-gradient analysis, robustness, complexity and the attribution axioms.

Every metric returns one result type, `MetricResult`: per-sample values, their aggregate,
curves where the metric has them, and its direction (declared once in the metric's module
with `register_direction`). Metrics with several values per sample (the randomization
test, the shattering analysis) keep them all in ``result.rows`` (``result.to_frame()``),
each with its own direction.

A metric is a function over ``(model, images, maps, targets)`` (localization metrics:
``(maps, masks)``), one concern per module:

==========================  ===========================================================
``faithfulness.py``         Average Drop, Increase in Confidence, Win %
``deletion_insertion.py``   deletion / insertion curves and their AUC
``road.py``                 ROAD: MoRF / LeRF curves with noisy linear imputation
``infidelity.py``           infidelity of attributions (Yeh et al. 2019)
``sensitivity.py``          max-sensitivity of an explanation method (Yeh et al. 2019)
``completeness.py``         completeness: Σ attributions vs f(x) − f(baseline)
``complexity.py``           sparseness (Gini) and complexity (entropy) of the maps alone
``localization.py``         IoU, box accuracy, pointing games, Loc(δ), class sensitivity
``sanity.py``               the parameter randomization test
``randomize.py``            which layers it re-draws (`weighted_layers`) and how
``similarity.py``           the map similarities it reports
``shattering.py``           shattered-gradient statistics per layer
``result.py``               `MetricResult`, `register_direction`, `HIGHER_IS_BETTER`
``_inputs.py``              checks and coercion of images and maps
``_ground_truth.py``        boxes and masks
``_ranks.py``               pixel ranks, Spearman correlation
``_scoring.py``             `ClassScorer`: the explained class's probability
``_logits.py``              `LogitScorer`: the explained class's logit (what methods explain)
``_attributions.py``        checks of attributions and baselines
``_forward.py``             compiled, batched model calls (through `tfcam.backend`)
==========================  ===========================================================

The metrics stand on the core: models are compiled by `tfcam.backend`, targets are
checked by `tfcam.targets` (the explainers' rules and messages), the softmax head and the
layers are read from the traced graph (`tfcam.graph.trace`). No backend code lives here.

Adding a metric is a one-file job. Write ``tfcam/metrics/my_metric.py``::

    import numpy as np

    from ._inputs import as_images, as_unit_maps
    from ._scoring import ClassScorer
    from .result import MetricResult, register_direction

    register_direction("my_metric", higher_is_better=True)

    def my_metric(model, inputs, maps, targets=None, *, apply_softmax=None, batch_size=32):
        # docstring: what it measures, its unit and range; higher or lower is better
        x = as_images(inputs)                    # (N, H, W, C) float32, or a clear error
        n, h, w = x.shape[:3]
        scorer = ClassScorer(model, x, targets, apply_softmax, batch_size)
        m = as_unit_maps(scorer.maps(maps), n, (h, w))  # maps, or an explain function's
        kept = scorer.scores(lambda a, b: x[a:b] * m[a:b, ..., None], np.arange(n))
        return MetricResult("my_metric", kept / scorer.original)

`ClassScorer` resolves the targets once (None: the top-1 class), scores the unmodified
images (``scorer.original``) and any images you build (``scorer.scores(make_batch,
image_index)``, batched and compiled; ``scorer.prepared_scores`` builds them on the
device, see `deletion_insertion`). A metric without a model (localization) takes numpy
arrays only. Then export the function below and test it in
``tests/metrics/test_metrics_my_metric.py`` against a value computed by hand on a tiny
model (``tests/metrics/metrics_helpers.py``).
"""

from tfcam.fill import gaussian_blur  # the blur of the "blur" fill (RISE's substrate)

from ._forward import forward as compiled_forward
from ._forward import predict
from ._ground_truth import boxes_to_masks
from ._ranks import spearman
from .completeness import completeness
from .complexity import complexity, sparseness
from .deletion_insertion import (
    auc,
    deletion,
    deletion_insertion,
    insertion,
)
from .faithfulness import average_drop, increase_in_confidence, win_percent
from .infidelity import infidelity
from .localization import (
    box_accuracy,
    class_sensitivity,
    energy_pointing_game,
    iou,
    largest_component_boxes,
    loc_delta,
    loc_delta_curve,
    mask_iou,
    pointing_game,
    threshold_maps,
)
from .randomize import randomize_layer, weighted_layers
from .result import HIGHER_IS_BETTER, MetricResult, higher_is_better, register_direction
from .road import noisy_linear_imputation, road
from .sanity import randomization_test, summarize_randomization
from .sensitivity import max_sensitivity
from .shattering import (
    gradcam_weights,
    lag1_autocorrelation,
    shattering,
    sign_coherence,
    sign_coherence_noise_floor,
)
from .similarity import similarities

__all__ = [
    "HIGHER_IS_BETTER",
    "MetricResult",
    "auc",
    "average_drop",
    "box_accuracy",
    "boxes_to_masks",
    "compiled_forward",
    "class_sensitivity",
    "completeness",
    "complexity",
    "deletion",
    "deletion_insertion",
    "energy_pointing_game",
    "gaussian_blur",
    "gradcam_weights",
    "higher_is_better",
    "increase_in_confidence",
    "infidelity",
    "insertion",
    "iou",
    "lag1_autocorrelation",
    "largest_component_boxes",
    "loc_delta",
    "loc_delta_curve",
    "mask_iou",
    "max_sensitivity",
    "noisy_linear_imputation",
    "pointing_game",
    "predict",
    "randomization_test",
    "randomize_layer",
    "register_direction",
    "road",
    "shattering",
    "sign_coherence",
    "sign_coherence_noise_floor",
    "similarities",
    "sparseness",
    "spearman",
    "summarize_randomization",
    "threshold_maps",
    "weighted_layers",
    "win_percent",
]
