"""`MetricResult`: per-sample values of one metric plus their aggregate."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

#: Direction of every metric name tfcam.metrics reports (MetricResult.name, and the
#: similarity names of `randomization_test`, where a faithful method scores low).
HIGHER_IS_BETTER = {
    "average_drop": False,
    "increase_in_confidence": True,
    "win_percent": True,
    "deletion": False,
    "insertion": True,
    "iou": True,
    "box_accuracy": True,
    "pointing_game": True,
    "energy_pointing_game": True,
    "loc_delta": True,
    "loc_delta_curve": True,
    "class_sensitivity": True,
    "spearman_abs": False,
    "spearman": False,
    "ssim": False,
    "hog_spearman": False,
    "infidelity": False,
    "max_sensitivity": False,
    "road_morf": False,
    "road_lerf": True,
    "sparseness": True,
    "complexity": False,
    "completeness": False,
}


@dataclasses.dataclass
class MetricResult:
    """Per-sample values of one metric, their mean and standard deviation.

    Attributes:
        name: metric name, e.g. ``"average_drop"``.
        values: (N,) float64, one value per sample, in the metric's unit (the
            metric's docstring says which: percent, fraction, AUC in [0, 1], ...).
        higher_is_better: whether a larger value means a better explanation.
        curves: optional (N, T) float64 curves behind the values (deletion and
            insertion: probability of the explained class after each step).
        extras: optional named arrays with one entry per sample (for example the
            per-image IoU behind a box accuracy, the threshold used) or scalars.
        mean: mean of ``values`` (0.0 for an empty result, never NaN).
        std: population standard deviation of ``values`` (ddof=0; 0.0 when empty).
    """

    name: str
    values: np.ndarray
    higher_is_better: bool
    curves: np.ndarray | None = None
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)
    mean: float = dataclasses.field(init=False)
    std: float = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64).reshape(-1)
        if self.curves is not None:
            self.curves = np.asarray(self.curves, dtype=np.float64)
        n = self.values.size
        self.mean = float(self.values.mean()) if n else 0.0
        self.std = float(self.values.std()) if n else 0.0

    def __len__(self) -> int:
        return self.values.size

    def __repr__(self) -> str:
        arrow = "higher is better" if self.higher_is_better else "lower is better"
        return (
            f"MetricResult({self.name}: {self.mean:.4g} ± {self.std:.4g} "
            f"over {self.values.size} samples, {arrow})"
        )

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per sample, columns ``image, metric, value,
        higher_is_better``."""
        return pd.DataFrame(
            {
                "image": np.arange(self.values.size),
                "metric": self.name,
                "value": self.values,
                "higher_is_better": self.higher_is_better,
            }
        )
