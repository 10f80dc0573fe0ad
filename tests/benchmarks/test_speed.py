"""The speed task through the real app: two batch sizes, float32 and mixed_bfloat16, on the
tiny VGG; the rows, ratios and the goals table, and a rerun that measures nothing again."""
import numpy as np
import pytest

from benchmarks import results
from benchmarks.app import run
from tests.benchmarks.conftest import compose, tiny_overrides


@pytest.fixture(scope="module")
def speed_run(cache_dir, tmp_path_factory):
    cfg = compose(tiny_overrides([
        "experiment=speed", "model=vgg_small", "model.widths=[4,8,8,16,16]", "methods=[grad_cam,score_cam,relevance_cam,tkv_grad_cam]",
        f"cache_dir={cache_dir}", "report.figures=false", "metrics.speed.batch_sizes=[2,4]",
        "metrics.speed.precisions=[float32,mixed_bfloat16]",
        "metrics.speed.sweep_methods=[grad_cam,score_cam]", "metrics.speed.repeats=1",
        "metrics.speed.perturbation_chunk=8",
    ]))
    out = tmp_path_factory.mktemp("speed")
    run(cfg, out, log=lambda *a, **k: None)
    return cfg, out, results.read_table(out / "results.csv")


def setting_of(table):
    return "b" + table.batch_size.astype(int).astype(str) + "-" + table.precision


def value(table, method, setting, metric):
    sel = table[(table.method == method) & (setting_of(table) == setting) & (table.metric == metric)]
    assert len(sel) == 1, (method, setting, metric, len(sel))
    return float(sel.value.iloc[0])


def test_every_setting_has_its_reference_passes_and_methods(speed_run):
    _, _, table = speed_run
    speed = table[table.task == "speed"]
    settings = ["b2-float32", "b4-float32", "b2-mixed_bfloat16", "b4-mixed_bfloat16"]
    for setting in settings:
        for reference in ("forward", "forward_backward", "forward_chunk"):
            assert value(speed, reference, setting, "seconds") > 0
        for method in ("grad_cam", "score_cam"):
            assert value(speed, method, setting, "seconds") > 0
    # relevance_cam is not among the sweep_methods: the first setting only
    assert set(setting_of(speed[speed.method == "relevance_cam"])) == {"b2-float32"}
    tkv = speed[speed.method == "tkv_grad_cam"]
    assert len(tkv) and set(setting_of(tkv)) == {"b2-float32"}


def test_ratios_divide_by_the_passes_the_method_is_made_of(speed_run):
    _, _, table = speed_run
    speed = table[table.task == "speed"]
    for setting, batch in (("b2-float32", 2), ("b4-mixed_bfloat16", 4)):
        seconds = value(speed, "grad_cam", setting, "seconds")
        assert value(speed, "grad_cam", setting, "images_per_second") == pytest.approx(batch / seconds)
        fwd_bwd = value(speed, "forward_backward", setting, "seconds")
        assert value(speed, "grad_cam", setting, "reference_seconds") == pytest.approx(fwd_bwd)
        assert value(speed, "grad_cam", setting, "ratio_to_reference") == pytest.approx(seconds / fwd_bwd)
        # Score-CAM: its masked inputs times one forward per input, timed in chunks of 8
        perturbed = value(speed, "score_cam", setting, "perturbed_inputs")
        assert 0 < perturbed <= batch * 16  # the tiny VGG's last layer has 16 channels
        per_input = value(speed, "forward_chunk", setting, "seconds") / 8
        assert value(speed, "score_cam", setting, "reference_seconds") == pytest.approx(perturbed * per_input)


def test_bfloat16_maps_are_compared_with_float32(speed_run):
    _, _, table = speed_run
    agree = table[(table.metric == "spearman_to_float32")]
    assert set(setting_of(agree)) == {"b2-mixed_bfloat16", "b4-mixed_bfloat16"}
    assert set(agree.method) == {"grad_cam", "score_cam"}
    b4 = agree[setting_of(agree) == "b4-mixed_bfloat16"]
    # one row per image of the batch, but for images whose two maps are both constant
    for method in ("grad_cam", "score_cam"):
        images = b4[b4.method == method].image
        assert set(images) <= {0, 1, 2, 3} and not images.duplicated().any()
    assert agree.value.between(-1, 1).all() and np.isfinite(agree.value).all()


def test_summary_has_the_goals_and_a_rerun_measures_nothing_again(speed_run):
    cfg, out, table = speed_run
    summary = (out / "summary.md").read_text()
    assert "### Goals" in summary and "grad_cam ≤ 1.3× forward+backward" in summary
    assert "maps vs float32: mean Spearman" in summary
    run(cfg, out, log=lambda *a, **k: None)
    again = results.read_table(out / "results.csv")
    assert len(again) == len(table)
