import numpy as np
import pytest

from tfcam import metrics


def test_metric_result_aggregates_and_frame():
    r = metrics.MetricResult("x", [1.0, 2.0, 4.0], higher_is_better=True)
    assert r.mean == pytest.approx(7 / 3)
    assert r.std == pytest.approx(np.std([1, 2, 4]))
    df = r.to_frame()
    assert list(df.columns) == ["image", "metric", "value", "higher_is_better"]
    assert df["value"].tolist() == [1.0, 2.0, 4.0] and (df["metric"] == "x").all()
    assert "higher is better" in repr(r)


def test_empty_result_has_no_nan():
    r = metrics.MetricResult("x", [], higher_is_better=False)
    assert r.mean == 0.0 and r.std == 0.0 and len(r) == 0
