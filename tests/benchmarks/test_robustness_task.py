"""The robustness task (issue 26 §3) and ROAD in faithfulness, through the real app on the tiny
VGG (32 px, 16 images): the known answers of the metrics hold on the benchmark's rows."""
import numpy as np
import pytest

from benchmarks.app import run
from benchmarks.report.figures import make_road_curves
from benchmarks.results import read_table
from benchmarks.tasks import robustness
from tests.benchmarks.conftest import compose, tiny_overrides

N_ROBUST = 4      # robustness scores the first 4 of the 16 images


@pytest.fixture(scope="module")
def rows(tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("robustness")
    cfg = compose(tiny_overrides([
        "experiment=layers", "methods=[grad_cam,integrated_gradients,gaussian,random]", "layers=[last]",
        "tasks=[localization,faithfulness,robustness]", f"cache_dir={cache_dir}", "report.figures=false",
        f"metrics.robustness.n_images={N_ROBUST}", "metrics.robustness.perturbations=[square,gaussian]",
        "metrics.robustness.n_perturbations=4", "metrics.robustness.sensitivity_perturbations=2",
        "metrics.robustness.phi=attributions", "metrics.faithfulness.road_percentages=[25,75]",
        "metrics.faithfulness.road_n_images=4",
    ]))
    run(cfg, out, log=lambda *a, **k: None)
    return read_table(out / "results.csv"), read_table(out / "curves.csv"), (out / "summary.md").read_text()


def values(table, method, metric, **columns):
    sel = table[(table.task == "robustness") & (table.method == method) & (table.metric == metric)]
    for column, value in columns.items():
        sel = sel[sel[column] == value]
    return sel.sort_values("image").value.to_numpy(float)


def test_an_image_blind_map_has_max_sensitivity_zero(rows):
    """The centred Gaussian does not look at the image: moving the image cannot move it."""
    table, _, _ = rows
    assert not (table.metric == "error").any(), table[table.metric == "error"].error.tolist()
    np.testing.assert_array_equal(values(table, "gaussian", "max_sensitivity"), np.zeros(N_ROBUST))
    assert (values(table, "grad_cam", "max_sensitivity") > 0).all()


def test_integrated_gradients_is_complete_and_only_attribution_methods_are_tested(rows):
    """IG's attributions sum to f(x) − f(0) up to its integration error (32 steps): a small
    relative error on most images (on an image whose f(x) − f(0) is near 0 the relative error
    is large whatever the method); Grad-CAM and the Gaussian have no input-space
    attributions, so no completeness row."""
    table, _, _ = rows
    ig = values(table, "integrated_gradients", "completeness")
    assert len(ig) == N_ROBUST and np.isfinite(ig).all() and np.median(ig) < 0.1, ig
    assert not len(values(table, "grad_cam", "completeness")) and not len(values(table, "gaussian", "completeness"))


def test_rows_name_their_unit_perturbation_and_phi_and_only_the_first_images(rows):
    table, _, _ = rows
    rob = table[(table.task == "robustness") & (table.metric != "explain_seconds_per_image")]
    assert set(rob.image) == set(range(N_ROBUST)), "robustness scores the first n_images"
    loc = table[(table.task == "localization") & (table.metric == "iou")]
    assert loc.groupby("method").image.nunique().eq(16).all(), "its n_images does not narrow the others'"
    assert (rob.source.astype(str) != "").all()
    infid = rob[rob.metric == "infidelity"]
    assert set(infid.perturbation) == {"square", "gaussian"}
    assert (infid.value >= 0).all()
    # phi: attributions where the method has them (IG), its maps elsewhere
    assert set(rob[rob.method == "integrated_gradients"].phi) == {"attributions"}
    assert set(rob[rob.method.isin(["grad_cam", "gaussian"])].phi) == {"maps"}
    assert not rob.duplicated(["method", "image", "metric", "perturbation"]).any()


def test_road_rows_and_curves_beside_deletion(rows):
    table, curves, summary = rows
    road = table[(table.task == "faithfulness") & table.metric.isin(["road_morf", "road_lerf"])]
    assert set(road.image) == set(range(4)) and road.value.between(0, 1).all()
    assert road.groupby(["method", "metric"]).size().eq(4).all()
    c = curves[curves.curve.isin(["road_morf", "road_lerf"])]
    assert sorted(set(c.fraction.round(3))) == [0.25, 0.75]
    # the value is the curve's mean, per image
    mean = c[c.curve == "road_morf"].groupby(["method", "image"]).value.mean()
    got = road[road.metric == "road_morf"].set_index(["method", "image"]).value
    np.testing.assert_allclose(got.sort_index(), mean.sort_index(), rtol=1e-6)
    assert "## Robustness" in summary and "road_morf" in summary and "Rank stability" in summary
    ((name, fig),) = make_road_curves(curves)
    assert name == "road_vgg_small.png"
    assert [ax.get_title() for ax in fig.axes] == ["vgg_small road_morf @ last", "vgg_small road_lerf @ last"]
    assert {line.get_label() for line in fig.axes[0].get_lines()} == {"grad_cam", "integrated_gradients", "gaussian",
                                                                     "random"}


@pytest.mark.parametrize("bad, why", [({"phi": "raw"}, "phi"), ({"perturbations": ["blur"]}, "perturbations")])
def test_a_bad_setting_is_named(bad, why):
    s = robustness.Settings(**bad)
    with pytest.raises(ValueError, match=why):
        robustness.check(s)


def test_the_random_map_has_no_max_sensitivity(rows):
    """Regression (review, 2026-12-06): the random reference map is keyed by image id, and a
    perturbed copy was explained with its batch position for an id, so its "sensitivity" was
    noise that changed with batch_size. It has none; its infidelity still counts."""
    table, _, _ = rows
    assert not len(values(table, "random", "max_sensitivity"))
    assert len(values(table, "random", "infidelity", perturbation="square")) == N_ROBUST


def test_the_table_counts_images_not_the_timing_row():
    """Regression (review, 2026-12-06): the explain-time row (image −1) that a robustness unit
    may carry was counted as one more image in the table's n."""
    import pandas as pd

    from benchmarks.report import sections
    base = {"task": "robustness", "model": "m", "method": "grad_cam", "library": "tfcam",
            "layer_choice": "last", "perturbation": "", "phi": "maps", "error": ""}
    rows_ = [{**base, "image": i, "metric": "max_sensitivity", "value": 0.1 * i} for i in range(4)]
    rows_.append({**base, "image": -1, "metric": "explain_seconds_per_image", "value": 0.01, "phi": ""})
    table = sections.robustness(pd.DataFrame(rows_))[-1]
    assert table.splitlines()[-1].rstrip(" |").endswith("| 4"), table


def test_a_road_failure_keeps_the_batch_s_other_metrics(tmp_path, cache_dir):
    """Regression (review, 2026-12-06): an exception in ROAD turned the whole faithfulness unit
    (Average Drop, deletion, insertion) into one error row. Now ROAD fails alone, named."""
    cfg = compose(tiny_overrides([
        "experiment=layers", "methods=[grad_cam]", "layers=[last]", "tasks=[faithfulness]",
        f"cache_dir={cache_dir}", "report.figures=false", "dataset.n_images=4",
        "metrics.faithfulness.road_percentages=[150]",   # out of (0, 100): tfcam.metrics.road refuses it
    ]))
    run(cfg, tmp_path, log=lambda *a, **k: None)
    table = read_table(tmp_path / "results.csv")
    errors = table[table.metric == "error"]
    assert len(errors) == 1 and errors.error.iloc[0].startswith("road: ValueError"), errors.error.tolist()
    assert (table.metric == "average_drop").sum() == 4 and (table.metric == "deletion").sum() == 4
