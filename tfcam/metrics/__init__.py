"""Evaluation metrics for explanations: faithfulness, localization, sanity checks and
shattered-gradient analysis.

Every metric returns per-sample values and their aggregate (`MetricResult`) or a tidy
pandas DataFrame, and declares whether higher is better.
"""

from ._arrays import boxes_to_masks, spearman
from .deletion_insertion import auc, deletion, deletion_insertion, gaussian_blur, insertion
from .faithfulness import average_drop, increase_in_confidence, win_percent
from .localization import (
    box_accuracy,
    class_sensitivity,
    energy_pointing_game,
    iou,
    largest_component_boxes,
    loc_delta,
    mask_iou,
    pointing_game,
    threshold_maps,
)
from .result import HIGHER_IS_BETTER, MetricResult
from .sanity import (
    randomization_test,
    randomize_layer,
    similarities,
    summarize_randomization,
    weighted_layers,
)
from .shattering import (
    gradcam_weights,
    lag1_autocorrelation,
    shattering,
    sign_coherence,
    sign_coherence_noise_floor,
)

__all__ = [
    "HIGHER_IS_BETTER",
    "MetricResult",
    "auc",
    "average_drop",
    "box_accuracy",
    "boxes_to_masks",
    "class_sensitivity",
    "deletion",
    "deletion_insertion",
    "energy_pointing_game",
    "gaussian_blur",
    "gradcam_weights",
    "increase_in_confidence",
    "insertion",
    "iou",
    "lag1_autocorrelation",
    "largest_component_boxes",
    "loc_delta",
    "mask_iou",
    "pointing_game",
    "randomization_test",
    "randomize_layer",
    "shattering",
    "sign_coherence",
    "sign_coherence_noise_floor",
    "similarities",
    "spearman",
    "summarize_randomization",
    "threshold_maps",
    "weighted_layers",
    "win_percent",
]
