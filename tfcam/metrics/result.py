"""`MetricResult`, the one result type of every metric, and the metrics' directions.

A metric declares its direction where it is defined, with `register_direction` (one line at
the top of its module); a `MetricResult` of that name takes it, so adding a metric is its
file, its export and its test. Metrics with several values per image (the randomization
test: one per step and similarity; the shattering analysis: one per layer and statistic)
return a `MetricResult` too: a headline value per image, its curve, and every value in
``rows``, each with its own direction.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

#: Whether a larger value is better, per metric name (None: a reference value with no
#: direction, such as a noise floor). Filled by `register_direction` where each metric is
#: defined; read it through `higher_is_better`.
HIGHER_IS_BETTER: dict[str, bool | None] = {}


def register_direction(name: str, higher_is_better: bool | None) -> str:
    """Declare metric ``name``'s direction (None: no direction); returns ``name``.

    Registering a name twice with another direction is an error: one metric, one direction.
    """
    if higher_is_better is not None and not isinstance(higher_is_better, bool):
        raise TypeError(f"higher_is_better of {name!r} must be True, False or None.")
    known = HIGHER_IS_BETTER.get(name, higher_is_better)
    if known is not higher_is_better:
        raise ValueError(
            f"metric {name!r} is registered as higher_is_better={known}; it cannot also be "
            f"{higher_is_better}. Give the new metric another name."
        )
    HIGHER_IS_BETTER[name] = higher_is_better
    return name


def higher_is_better(name: str) -> bool | None:
    """The registered direction of metric ``name``; a KeyError naming the fix if none is."""
    try:
        return HIGHER_IS_BETTER[name]
    except KeyError:
        raise KeyError(
            f"metric {name!r} has no registered direction; declare it with "
            f"tfcam.metrics.register_direction({name!r}, higher_is_better=True or False)."
        ) from None


@dataclasses.dataclass
class MetricResult:
    """Per-sample values of one metric, their mean and standard deviation.

    Attributes:
        name: metric name, e.g. ``"average_drop"``.
        values: (N,) float64, one value per sample, in the metric's unit (the
            metric's docstring says which: percent, fraction, AUC in [0, 1], ...).
        higher_is_better: whether a larger value means a better explanation; None (the
            default) takes the direction registered for ``name`` (`register_direction`).
        curves: optional (N, T) float64 curves behind the values (deletion and
            insertion: probability of the explained class after each step; the
            randomization test: similarity after each step).
        extras: optional named arrays with one entry per sample (for example the
            per-image IoU behind a box accuracy, the threshold used) or scalars.
        rows: optional tidy table of every value behind ``values`` when a metric reports
            several per sample: columns ``image, metric, value, higher_is_better`` and the
            keys that tell them apart (``layer``, ``step``, ...). `to_frame` returns it.
        mean: mean of ``values`` (0.0 for an empty result, never NaN).
        std: population standard deviation of ``values`` (ddof=0; 0.0 when empty).
    """

    name: str
    values: np.ndarray
    higher_is_better: bool | None = None
    curves: np.ndarray | None = None
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)
    rows: pd.DataFrame | None = None
    mean: float = dataclasses.field(init=False)
    std: float = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        registered = HIGHER_IS_BETTER.get(self.name, self.higher_is_better)
        if self.higher_is_better is None:
            self.higher_is_better = higher_is_better(self.name)
        elif registered is not self.higher_is_better:
            raise ValueError(
                f"metric {self.name!r} is registered as higher_is_better={registered}; "
                f"received {self.higher_is_better}."
            )
        self.values = np.asarray(self.values, dtype=np.float64).reshape(-1)
        if self.curves is not None:
            self.curves = np.asarray(self.curves, dtype=np.float64)
        n = self.values.size
        self.mean = float(self.values.mean()) if n else 0.0
        self.std = float(self.values.std()) if n else 0.0

    def __len__(self) -> int:
        return self.values.size

    def __repr__(self) -> str:
        arrow = {True: "higher is better", False: "lower is better", None: "no direction"}[
            self.higher_is_better
        ]
        return (
            f"MetricResult({self.name}: {self.mean:.4g} ± {self.std:.4g} "
            f"over {self.values.size} samples, {arrow})"
        )

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per sample (or per sample and key, see ``rows``), columns
        ``image, metric, value, higher_is_better`` (and the keys)."""
        if self.rows is not None:
            return self.rows.copy()
        return pd.DataFrame(
            {
                "image": np.arange(self.values.size),
                "metric": self.name,
                "value": self.values,
                "higher_is_better": self.higher_is_better,
            }
        )

    def select(self, metric: str, **keys) -> MetricResult:
        """One metric of ``rows`` at the given keys (e.g. ``layer="conv1"``), as its own
        result: per-image values in image order, with that metric's direction."""
        if self.rows is None:
            raise ValueError(f"{self.name} has one value per sample; use .values.")
        frame = self.rows[self.rows.metric == metric]
        for key, value in keys.items():
            if key not in frame.columns:
                raise KeyError(f"{self.name}'s rows have no column {key!r}: {list(frame.columns)}.")
            frame = frame[frame[key] == value]
        if frame.empty:
            raise KeyError(
                f"{self.name} has no rows for metric {metric!r} at {keys}; metrics: "
                f"{sorted(self.rows.metric.unique())}."
            )
        if frame.image.duplicated().any():
            raise ValueError(
                f"{metric!r} has several values per image at {keys}; name the keys that tell "
                f"them apart (columns {[c for c in frame.columns if c not in _BASE]})."
            )
        frame = frame.sort_values("image")
        return MetricResult(metric, frame.value.to_numpy())  # its registered direction


_BASE = ("image", "metric", "value", "higher_is_better")


def tidy_rows(records, keys: list[str]) -> pd.DataFrame:
    """A ``rows`` table from ``(image, *keys, metric, value)`` records, each row given the
    registered direction of its metric."""
    frame = pd.DataFrame(list(records), columns=["image", *keys, "metric", "value"])
    directions = {m: higher_is_better(m) for m in frame.metric.unique()}
    frame["higher_is_better"] = frame.metric.map(directions).astype(object)
    return frame
