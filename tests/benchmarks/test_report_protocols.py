"""The report measures what the papers measure: pairwise Win % (Chattopadhyay et al., 2018),
a sweep's combined speed rows, the summary's details (tests on few images, the command, the
seed paper by name) and the metrics that cannot tell the methods apart. Synthetic tables only:
no experiment runs."""
import sys
import types

import numpy as np
import pandas as pd
import pytest

from benchmarks.report import findings, render, sections, speed, stats
from benchmarks.report.common import md_table


def faith(model, method, choice, values, metric="average_drop", library=None):
    library = library or ("baseline" if method == "gaussian" else
                          "tf-keras-vis" if method.startswith("tkv_") else "tfcam")
    return [{"experiment": "t", "task": "faithfulness", "model": model, "method": method, "library": library,
             "layer_choice": choice, "layer": "" if choice == "input" else f"{choice}_conv", "image": i,
             "metric": metric, "value": float(v)} for i, v in enumerate(values)]


def loc(model, method, choice, values, metric="pointing_game"):
    rows = faith(model, method, choice, values, metric)
    for r in rows:
        r["task"] = "localization"
    return rows


def lookup(wins, method, choice, column="win_percent"):
    sel = wins[(wins.method == method) & (wins.layer_choice == choice)]
    assert len(sel) == 1, (method, choice, sel)
    v = sel[column].iloc[0]
    return v if isinstance(v, str) else float(v)


# 1. Win % -----------------------------------------------------------------------------------

GRAD = [50, 50, 50, 50, 50, 50, 50, 50]
A = [10, 10, 10, 90, 90, 50, 10, 10]     # beats Grad-CAM on 5, loses on 2, ties on 1
B = [5, 5, 5, 5, 5, 5, 5, 5]             # lowest drop everywhere


def test_win_percent_is_pairwise_against_grad_cam_and_does_not_move_when_a_method_is_added(table):
    two = table(faith("m", "grad_cam", "last", GRAD) + faith("m", "score_cam", "last", A))
    three = table(faith("m", "grad_cam", "last", GRAD) + faith("m", "score_cam", "last", A)
                  + faith("m", "relevance_cam", "last", B))
    w2, w3 = stats.win_percent(two), stats.win_percent(three)
    # ties count half, as in tfcam.metrics.win_percent: (5 + 0.5) / 8
    assert lookup(w2, "score_cam", "last") == pytest.approx(100 * 5.5 / 8)
    assert lookup(w3, "score_cam", "last") == pytest.approx(100 * 5.5 / 8)
    assert lookup(w3, "relevance_cam", "last") == pytest.approx(100.0)
    assert set(w3.against) == {"grad_cam@last"}
    # the N-way share moves when relevance_cam joins: it has the lowest drop on every image
    b2, b3 = stats.best_of_all(two), stats.best_of_all(three)
    assert lookup(b2, "score_cam", "last", "best_of_all") > 50
    assert lookup(b3, "score_cam", "last", "best_of_all") == 0
    # the summary's columns: the pairwise figure is "Win %", the N-way share has its own name
    text = "".join(sections.faithfulness(three))
    assert "Win % vs grad_cam ↑" in text and "Best of all % ↑" in text
    assert "69" in text  # 68.75 rounded


def test_input_space_methods_and_other_layers_are_compared_with_grad_cam_at_their_own_layer(table):
    rows = (faith("m", "grad_cam", "last", GRAD) + faith("m", "grad_cam", "mid", [20] * 8)
            + faith("m", "relevance_cam", "mid", A) + faith("m", "gaussian", "input", A)
            + faith("m", "tkv_grad_cam", "mid", [20] * 8))
    wins = stats.win_percent(table(rows))
    assert lookup(wins, "relevance_cam", "mid") == pytest.approx(100 * 5 / 8)     # vs grad_cam@mid (20)
    assert lookup(wins, "gaussian", "input") == pytest.approx(100 * 5.5 / 8)    # vs grad_cam@last
    assert lookup(wins, "tkv_grad_cam", "mid") == pytest.approx(50.0)           # all ties
    assert lookup(wins, "relevance_cam", "mid", "against") == "grad_cam@mid"
    assert lookup(wins, "gaussian", "input", "against") == "grad_cam@last"
    assert "grad_cam" not in set(wins.method)                                   # not against itself


def test_the_per_image_rule_is_tfcam_metrics_win_percent(table):
    """Fed the drops tfcam.metrics.win_percent computed, the report gives its mean."""
    import keras

    from tfcam import metrics
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3),
                              keras.layers.Softmax()])
    x = rng.random((12, 8, 8, 1)).astype("float32")
    maps_a, maps_b = rng.random((12, 8, 8)), rng.random((12, 8, 8))
    maps_a[:3] = maps_b[:3]  # exact ties on three images
    r = metrics.win_percent(model, x, maps_a, maps_b)
    rows = faith("m", "score_cam", "last", r.extras["drop_a"]) + faith("m", "grad_cam", "last", r.extras["drop_b"])
    assert lookup(stats.win_percent(table(rows)), "score_cam", "last") == pytest.approx(r.mean)


# 2. a sweep's combined table ------------------------------------------------------------------

def speed_rows(job, method, choice, seconds, library="tfcam", ratio=None):
    base = {"experiment": "sweep", "task": "speed", "model": "vgg_small", "method": method, "library": library,
            "layer_choice": choice, "layer": "", "image": -1, "batch_size": 8, "precision": "float32",
            "unit": f"job{job}"}
    out = [dict(base, metric="seconds", value=seconds), dict(base, metric="images_per_second", value=8 / seconds),
           dict(base, metric="first_call_seconds", value=1.0)]
    if ratio is not None:
        out += [dict(base, metric="ratio_to_reference", value=ratio)]
    return out


def test_the_speed_report_reads_a_sweeps_combined_table(table):
    """``-m model=… method=grad_cam,relevance_cam layer=shallow,mid,last``: every job timed the
    reference passes again, and each method at its own layer choice."""
    rows = []
    for job, (method, choice) in enumerate([(m, c) for m in ("grad_cam", "relevance_cam")
                                            for c in ("shallow", "mid", "last")]):
        for ref, s in (("forward", 0.02), ("forward_backward", 0.04), ("forward_chunk", 0.1)):
            rows += speed_rows(job, ref, "input", s * (1 + 0.01 * job), library="keras")
        seconds = 0.03 if method == "grad_cam" else 0.03 * {"shallow": 3.0, "mid": 1.5, "last": 1.2}[choice]
        rows += speed_rows(job, method, choice, seconds, ratio=seconds / 0.04)
    results = table(rows)
    parts = speed.markdown(results, md_table)   # raised "truth value of a Series is ambiguous"
    t = speed.speed_table(results)
    for ref in ("forward", "forward_backward", "forward_chunk"):
        assert (t.method == ref).sum() == 1     # one reference row per model × setting
    assert t.loc[t.method == "forward_backward", "seconds"].iloc[0] == pytest.approx(
        np.median([0.04 * (1 + 0.01 * j) for j in range(6)]))
    goals = speed.goal_table(t)
    rel = goals[goals.goal.str.startswith("relevance_cam")]
    assert len(rel) == 3                        # one per layer choice, against grad_cam at the same one
    assert sorted(rel.met) == sorted(["**no**", "yes", "yes"])
    assert any("shallow" in g for g in rel.goal)
    text = "".join(parts)
    assert "grad_cam@shallow" in text


# 3. summary.md details ------------------------------------------------------------------------

def test_a_test_on_too_few_images_says_so_instead_of_nan(table):
    rows = (loc("m", "grad_cam", "last", [1, 1, 0, 1]) + loc("m", "gaussian", "input", [0, 0, 0, 1])
            + loc("m", "grad_cam", "last", [0.5, 0.4, 0.3, 0.6], metric="iou")
            + loc("m", "gaussian", "input", [0.5, 0.4, 0.3, 0.6], metric="iou"))
    lines = findings.localization_findings(table(rows))
    text = "\n".join(lines)
    assert "nan" not in text
    assert "too few images for a test (n=4)" in text
    assert "identical on all 4 images" in text
    # a difference on 2 of 4 images is no evidence that Grad-CAM beats the Gaussian
    assert "beats" not in text


def test_p_value_text():
    assert stats.p_text(0.0123, 32) == "Wilcoxon p=0.012"
    assert stats.p_text(np.nan, 4) == "too few images for a test (n=4)"
    assert stats.p_text(0.125, 4) == "too few images for a test (n=4)"
    d, p, n = stats.paired(pd.Series([1.0] * 10), pd.Series([1.0] * 10))
    assert stats.p_text(p, n, d) == "identical on all 10 images"


def test_the_command_is_the_one_typed(monkeypatch):
    from hydra.core.hydra_config import HydraConfig
    fake_main = types.ModuleType("__main__")
    fake_main.__spec__ = types.SimpleNamespace(name="benchmarks.__main__")
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    monkeypatch.setattr(sys, "argv", ["/work/main/benchmarks/__main__.py", "progress=false"])
    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: False))
    assert render.command() == "python -m benchmarks progress=false"
    hydra = types.SimpleNamespace(overrides=types.SimpleNamespace(task=["model=vgg_small,resnet_small",
                                                                        "method=grad_cam,relevance_cam"]),
                                  mode="RunMode.MULTIRUN")
    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: hydra))
    assert render.command() == "python -m benchmarks -m model=vgg_small,resnet_small method=grad_cam,relevance_cam"
    assert any("python -m benchmarks -m model=vgg_small" in line for line in render._environment())


def test_the_seed_paper_is_named(table):
    rows = []
    for method in ("grad_cam", "relevance_cam"):
        for choice in ("shallow", "mid", "last"):
            rows += loc("m", method, choice, np.linspace(0, 1, 8) + (choice == "last"), metric="iou")
    text = "\n".join(findings.localization_findings(table(rows)))
    assert "seed paper" not in text
    assert 'Lee et al., "Relevance-CAM: Your Model Already Knows Where to Look", CVPR 2021' in text


# 4. metrics that cannot tell the methods apart -------------------------------------------------

def test_a_saturated_metric_is_not_presented_as_a_ranking(table):
    rng = np.random.default_rng(1)
    n = 32
    all_or_nothing = np.where(np.arange(n) % 4 == 0, 0.0, 100.0)
    rows = []
    for k, (method, choice) in enumerate((("grad_cam", "last"), ("relevance_cam", "last"), ("layer_cam", "last"),
                                          ("saliency", "input"), ("gaussian", "input"))):
        drop = all_or_nothing.copy()
        if method == "gaussian":
            drop[1:3] = 60.0          # the Gaussian: best mean, by two images
        rows += faith("m", method, choice, drop)
        # insertion separates them: each method by 0.1, the Gaussian clearly worst
        ins = rng.normal(0.2 if method == "gaussian" else 0.5 + 0.1 * k, 0.02, n)
        rows += faith("m", method, choice, ins, metric="insertion")
    lines = findings.separability_findings(table(rows))
    drop_lines = [ln for ln in lines if "average_drop" in ln]
    assert len(drop_lines) == 1
    line = drop_lines[0]
    assert "cannot separate" in line
    assert "all-or-nothing" in line           # the reason: per-image values at 0 or 100
    assert "gaussian" in line.lower()         # and the image-blind baseline ranks first on it
    assert not any("insertion" in ln and "cannot separate" in ln for ln in lines)
    assert "nan" not in "\n".join(lines)
    assert findings.separability_findings in findings.FINDINGS


def test_a_metric_that_separates_the_methods_gets_no_warning(table):
    rng = np.random.default_rng(2)
    rows = []
    for k, (method, choice) in enumerate((("grad_cam", "last"), ("relevance_cam", "last"),
                                          ("layer_cam", "last"), ("gaussian", "input"))):
        rows += faith("m", method, choice, rng.normal(20 + 15 * k, 3, 32))
    assert findings.separability_findings(table(rows)) == []


@pytest.mark.parametrize("confidence, says", [(0.8, "not saturated (Y median 0.80"),
                                               (0.999, "confidences are saturated (the unmasked Y")])
def test_the_all_or_nothing_line_says_whether_the_confidences_are_saturated(table, confidence, says):
    # The layers run: Average Drop 85% all-or-nothing while the unmasked confidence's median
    # was 0.81; the line said "as when the model's confidences are saturated" regardless.
    n = 32
    rows = []
    for method, choice in (("grad_cam", "last"), ("relevance_cam", "last"), ("gaussian", "input")):
        rows += faith("m", method, choice, np.where(np.arange(n) % 4 == 0, 0.0, 100.0))
        rows += faith("m", method, choice, np.full(n, confidence), metric="original_confidence")
    (line,) = [ln for ln in findings.separability_findings(table(rows)) if "average_drop" in ln]
    assert says in line


# 5. Metric directions ------------------------------------------------------------------------

def test_every_metric_the_report_shows_has_a_direction_and_one_home():
    """tfcam's metrics carry their directions (tfcam.metrics.register_direction), the tasks'
    own metrics theirs (a task's ``directions``), the report only the columns it derives; no
    metric has two homes, and each metric a table shows with an arrow has a direction."""
    from benchmarks.report import common
    from tfcam.metrics import HIGHER_IS_BETTER
    assert not set(common.directions()) & set(HIGHER_IS_BETTER), "a direction kept twice"
    assert common.higher_is_better("spearman_vs_tfcam") is True  # the agreement task's
    assert common.higher_is_better("first_call_seconds") is False  # speed's and zoo's, agreeing
    shown = {m for metrics in common.TASK_METRICS.values() for m in [*metrics, *common.paper_metrics(metrics)]}
    missing = []
    for metric in sorted(shown):
        try:
            assert isinstance(common.higher_is_better(metric), bool)
        except KeyError:
            missing.append(metric)
    assert not missing, f"no direction for {missing}"
    assert common.higher_is_better("average_drop") is False and common.higher_is_better("iou") is True
    with pytest.raises(KeyError):
        common.higher_is_better("no_such_metric")
