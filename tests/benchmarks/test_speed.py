"""The speed task through the real app: two batch sizes, float32 and mixed_bfloat16, on the
tiny VGG; the rows, ratios and the goals table, and a rerun that measures nothing again.
The ratios are checked on a run whose clock is fake: timings known in advance."""
import types

import numpy as np
import pytest

from benchmarks import results
from benchmarks.app import run
from tests.benchmarks.conftest import compose, tiny_overrides


@pytest.fixture(scope="module")
def speed_run(cache_dir, tmp_path_factory):
    cfg = compose(tiny_overrides([
        "experiment=speed", "model=vgg_small", "model.widths=[4,8,8,16,16]",
        "methods=[grad_cam,score_cam,relevance_cam,tkv_grad_cam]",
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


# ---------------------------------------------------------------------- known timings
# A fake clock for the speed task (its `time.perf_counter`): only the calls below move it, by
# amounts fixed here, so every timing, ratio and goal of the table is known in advance.
PER_INPUT = {"forward": 0.001, "forward_backward": 0.003}  # seconds per input of the pass
PER_IMAGE = {"grad_cam": 0.0036, "relevance_cam": 0.009}   # seconds per image explained
SCORE_CAM_PER_PERTURBED = 0.0025                            # seconds per masked input
COMPILE, BUILD = 7.0, 1.0  # every function's first call; making an explainer
# the timed calls after the first cost these multiples of the cost: median 1, mean 11/6
SPREAD = (0.5, 1.0, 4.0)


class FakeClock:
    def __init__(self):
        self.now, self.calls = 0.0, {}

    def perf_counter(self):
        return self.now

    def charge(self, who, seconds):
        """The n-th call of `who` (a pass at an input shape, or an explainer): n = 0 compiles."""
        n = self.calls[who] = self.calls.get(who, -1) + 1
        self.now += seconds + COMPILE if n == 0 else seconds * SPREAD[(n - 1) % len(SPREAD)]


@pytest.fixture
def timed_run(cache_dir, tmp_path, monkeypatch):
    from benchmarks import passes
    from benchmarks.tasks import speed

    clock, perturbed = FakeClock(), {}
    monkeypatch.setattr(speed, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))

    def pass_of(kind, compiled):
        def make(model):
            fn = compiled(model)

            def call(x, *rest):
                out = fn(x, *rest)
                clock.charge((call, len(x)), PER_INPUT[kind] * len(x))  # compiles per shape
                return out
            return call
        return make

    for kind in PER_INPUT:
        name = f"compiled_{kind}"
        monkeypatch.setattr(passes, name, pass_of(kind, getattr(passes, name)))
    make_explainer = speed.make_explainer

    class Timed:
        def __init__(self, method_cfg, inner):
            self.method, self.inner = str(method_cfg.id), inner

        def __call__(self, images, targets, ids=None):
            maps = self.inner(images, targets, ids)
            if self.method == "score_cam":
                n = float(np.sum(self.inner.last.perturbed_inputs))
                perturbed[len(images)] = n  # per batch size: what the explainer ran
                clock.charge(self, SCORE_CAM_PER_PERTURBED * n)
            else:
                clock.charge(self, PER_IMAGE[self.method] * len(images))
            return maps

        def __getattr__(self, attribute):
            return getattr(self.inner, attribute)

    def timed_explainer(method_cfg, *args, **kwargs):
        clock.now += BUILD
        return Timed(method_cfg, make_explainer(method_cfg, *args, **kwargs))

    monkeypatch.setattr(speed, "make_explainer", timed_explainer)
    cfg = compose(tiny_overrides([
        "experiment=speed", "model=vgg_small", "model.widths=[4,8,8,16,16]",
        "methods=[grad_cam,score_cam,relevance_cam]", f"cache_dir={cache_dir}",
        "report.figures=false", "metrics.speed.batch_sizes=[2,4]",
        "metrics.speed.precisions=[float32,mixed_bfloat16]",
        "metrics.speed.sweep_methods=[grad_cam,score_cam]", "metrics.speed.repeats=3",
        "metrics.speed.perturbation_chunk=8",
    ]))
    run(cfg, tmp_path, log=lambda *a, **k: None)
    return results.read_table(tmp_path / "results.csv"), perturbed


def test_timings_and_ratios_are_the_known_ones(timed_run):
    table, perturbed = timed_run
    speed = table[table.task == "speed"]
    approx = lambda expected: pytest.approx(expected, rel=1e-9)  # noqa: E731
    for setting, batch in (("b2-float32", 2), ("b4-float32", 4), ("b2-mixed_bfloat16", 2),
                           ("b4-mixed_bfloat16", 4)):
        # the plain passes: the median of the timed calls, the first call on its own
        forward, fwd_bwd = PER_INPUT["forward"] * batch, PER_INPUT["forward_backward"] * batch
        assert value(speed, "forward", setting, "seconds") == approx(forward)
        assert value(speed, "forward", setting, "first_call_seconds") == approx(COMPILE + forward)
        assert value(speed, "forward_backward", setting, "seconds") == approx(fwd_bwd)
        assert value(speed, "forward_chunk", setting, "seconds") == approx(8 * PER_INPUT["forward"])
        assert value(speed, "forward", setting, "images_per_second") == approx(1 / PER_INPUT["forward"])
        # Grad-CAM: its time over one forward+backward of the batch
        seconds = PER_IMAGE["grad_cam"] * batch
        assert value(speed, "grad_cam", setting, "seconds") == approx(seconds)
        assert value(speed, "grad_cam", setting, "first_call_seconds") == approx(BUILD + COMPILE + seconds)
        assert value(speed, "grad_cam", setting, "images_per_second") == approx(1 / PER_IMAGE["grad_cam"])
        assert value(speed, "grad_cam", setting, "reference_seconds") == approx(fwd_bwd)
        assert value(speed, "grad_cam", setting, "ratio_to_reference") == approx(1.2)
        # Score-CAM: its masked inputs (as many as the explainer ran) times one forward each
        n = perturbed[batch]
        assert 0 < n <= batch * 16  # the tiny VGG's last layer has 16 channels
        assert value(speed, "score_cam", setting, "perturbed_inputs") == n
        assert value(speed, "score_cam", setting, "reference_seconds") == approx(n * PER_INPUT["forward"])
        assert value(speed, "score_cam", setting, "ratio_to_reference") == approx(2.5)
        assert value(speed, "score_cam", setting, "ratio_to_forward") == approx(
            SCORE_CAM_PER_PERTURBED * n / forward)
    assert value(speed, "relevance_cam", "b2-float32", "ratio_to_reference") == approx(3.0)

    # the report's goals, from those ratios
    from benchmarks.report.speed import goal_table, speed_table
    goals = goal_table(speed_table(table)).set_index(["setting", "goal"])
    ratio_goals = {("b4-float32", "grad_cam ≤ 1.3× forward+backward"): ("1.2", "yes"),
                   ("b4-float32", "score_cam ≤ 1.2× perturbed inputs × forward"): ("2.5", "**no**"),
                   ("b2-float32", "relevance_cam ≤ 2.0× grad_cam"): ("2.5", "**no**")}
    for key, (measured, met) in ratio_goals.items():
        assert (goals.loc[key, "measured"], goals.loc[key, "met"]) == (measured, met), key


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
