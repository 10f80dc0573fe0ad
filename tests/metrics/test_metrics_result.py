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


def test_every_metric_carries_its_registered_direction():
    """Directions are declared once, in each metric's module: a result of that name takes it,
    a contradicting one is refused, and an undeclared name says how to declare it."""
    assert metrics.HIGHER_IS_BETTER["average_drop"] is False
    assert metrics.MetricResult("insertion", [0.5]).higher_is_better is True
    assert metrics.MetricResult("deletion", [0.5]).higher_is_better is False
    with pytest.raises(ValueError, match="registered as higher_is_better=True"):
        metrics.MetricResult("iou", [0.5], higher_is_better=False)
    with pytest.raises(KeyError, match="register_direction"):
        metrics.MetricResult("not_a_metric_anywhere", [0.5])
    with pytest.raises(ValueError, match="another name"):
        metrics.register_direction("iou", False)
    # every exported metric function's result name is registered
    for name in ("infidelity", "max_sensitivity", "road_morf", "road_lerf", "sparseness", "complexity",
                 "completeness", "randomization", "shattering", "win_percent", "loc_delta_curve"):
        assert isinstance(metrics.higher_is_better(name), bool), name


def test_a_new_metric_is_its_file():
    """A metric registered outside tfcam (the user's, or the benchmark's) is a first-class
    result: direction, frame and repr, without editing tfcam."""
    name = metrics.register_direction("test_only_user_metric", higher_is_better=True)
    r = metrics.MetricResult(name, [1.0, 3.0])
    assert r.higher_is_better and r.to_frame()["higher_is_better"].all() and r.mean == 2.0
    floor = metrics.register_direction("test_only_reference", None)
    assert "no direction" in repr(metrics.MetricResult(floor, [1.0]))


def test_select_reads_one_series_of_the_rows():
    from tfcam.metrics.result import tidy_rows

    rows = tidy_rows([(1, "a", "iou", 0.2), (0, "a", "iou", 0.1), (0, "b", "iou", 0.9),
                      (1, "b", "iou", 0.8), (0, "a", "deletion", 0.3)], ["layer"])
    r = metrics.MetricResult("iou", [0.5, 0.5], rows=rows)
    assert r.to_frame().equals(rows)
    a = r.select("iou", layer="a")
    assert a.values.tolist() == [0.1, 0.2] and a.higher_is_better is True  # in image order
    assert r.select("deletion", layer="a").higher_is_better is False
    with pytest.raises(ValueError, match="several values per image"):
        r.select("iou")
    with pytest.raises(KeyError, match="no rows"):
        r.select("iou", layer="c")
    with pytest.raises(ValueError, match="one value per sample"):
        metrics.MetricResult("iou", [1.0]).select("iou")
