"""The zoo task (benchmarks/tasks/zoo.py) through the real app, on three tiny families (one of
keras.applications, the hand-written ViT, one of KerasHub's when it is installed) × two
methods at 32 px: the rows, a run killed mid-way that resumes without redoing finished units,
a rerun that computes nothing, the report's table; and the parts that need no model (the
experiment lists every tfcam method, KerasHub missing, unknown families, the table's marks)."""
import importlib.util

import numpy as np
import pytest

from benchmarks import results
from benchmarks.app import run
from benchmarks.tasks import zoo
from tests.benchmarks.conftest import compose

HAS_HUB = importlib.util.find_spec("keras_hub") is not None
FAMILIES = ["MobileNetV3Small", "ViT (hand-written)", *(["ResNet"] if HAS_HUB else [])]
METHODS = ["grad_cam", "lrp"]


def zoo_cfg(families=FAMILIES, methods=METHODS, extra=()):
    listed = ",".join(f'"{f}"' for f in families)
    return compose(["experiment=zoo", "dataset=synthetic32", "dataset.n_images=2", "progress=false",
                    "report.figures=false",
                    f"methods=[{','.join(methods)}]", f"metrics.zoo.families=[{listed}]", *extra])


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so no runner catches it."""


def counting(monkeypatch, kill_at=None):
    """Count the zoo's evaluate calls (the driver looks it up on the module at each unit);
    raise Killed at call ``kill_at``."""
    real, calls = zoo.evaluate, []

    def evaluate(run, unit, inputs):
        calls.append(unit.key)
        if len(calls) == kill_at:
            raise Killed()
        return real(run, unit, inputs)
    monkeypatch.setattr(zoo, "evaluate", evaluate)
    return calls


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory):
    """Killed at the third unit, then run to the end, then run again: (table, units computed
    by the second and third runs, total units, folder)."""
    cfg = zoo_cfg()
    out = tmp_path_factory.mktemp("zoo")
    quiet = lambda *a, **k: None
    total = len(FAMILIES) * len(METHODS)
    with pytest.MonkeyPatch.context() as mp:
        counting(mp, kill_at=3)
        with pytest.raises(Killed):
            run(cfg, out, log=quiet)
    partial = results.read_table(out / "results.csv")
    assert set(partial.unit) and len(set(partial.unit)) == 2
    computed = []
    for _ in range(2):
        with pytest.MonkeyPatch.context() as mp:
            calls = counting(mp)
            run(cfg, out, log=quiet)
            computed.append(list(calls))
    return results.read_table(out / "results.csv"), computed, total, out


def test_every_family_and_method_has_its_rows(zoo_run):
    table, _, total, _ = zoo_run
    z = table[table.task == "zoo"]
    assert not (z.metric == "error").any(), z[z.metric == "error"].error.tolist()
    assert len(set(z.unit)) == total
    sources = {"MobileNetV3Small": "keras.applications", "ViT (hand-written)": "Functional", "ResNet": "KerasHub"}
    for fam in FAMILIES:
        for method in METHODS:
            g = z[(z.model == fam) & (z.method == method)]
            value = lambda m, g=g: g.value[g.metric == m].to_numpy()
            assert value("works").tolist() == [1.0]
            assert value("first_call_seconds")[0] > 0 and value("seconds_per_image")[0] > 0
            assert len(value("map_std")) == 2 and set(g.image[g.metric == "map_std"]) == {0, 1}
            assert set(g.source) == {sources[fam]} and set(g.weights) == {"random"}
            assert (g.layer != "").all() if method == "grad_cam" else (g.layer == "").all()
            kept = value("relevance_kept")
            assert (len(kept) == 2 and np.isfinite(kept).all()) if method == "lrp" else not len(kept)
    # no model of `models` was loaded or trained: the zoo builds its own
    assert not (table.task == "model").any()


def test_an_interrupted_run_resumes_and_a_finished_one_computes_nothing(zoo_run):
    table, (second, third), total, _ = zoo_run
    assert len(second) == total - 2, "the two units finished before the kill are not redone"
    assert third == []
    key = ["model", "method", "image", "metric"]
    assert not table.duplicated(key).any()


def test_the_report_has_the_zoo_table(zoo_run):
    _, _, _, out = zoo_run
    summary = (out / "summary.md").read_text()
    assert "## Zoo" in summary and "### Every method" in summary
    for fam in FAMILIES:
        line = next(ln for ln in summary.splitlines() if ln.startswith(f"| {fam} |"))
        assert line.count("✓") + line.count("○") >= len(METHODS), line


def test_the_experiment_lists_every_tfcam_method():
    tfcam = pytest.importorskip("tfcam")
    from benchmarks.plan import method_configs
    cfg = compose(["experiment=zoo"])
    listed = {str(m.name) for m in method_configs(cfg) if str(m.library) == "tfcam"}
    assert listed == set(tfcam.methods())
    assert list(cfg.models) == [] and list(cfg.tasks) == ["zoo"]


def test_kerashub_missing_is_reported_not_run(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo, "hub_installed", lambda: False)
    run(zoo_cfg(["ViT"], ["grad_cam"]), tmp_path, log=lambda *a, **k: None)
    table = results.read_table(tmp_path / "results.csv")
    errors = table[table.metric == "error"]
    assert errors.error.tolist() == ["NotInstalled: keras-hub not installed (pip install keras-hub)"]
    summary = (tmp_path / "summary.md").read_text()
    assert "| ViT | KerasHub | – |" in summary


def test_unknown_family_fails_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="unknown.*Nope"):
        run(zoo_cfg(["Nope"]), tmp_path, log=lambda *a, **k: None)
    assert not (tmp_path / "results.csv").exists()


def test_the_table_marks_works_constant_fails_and_not_run(table):
    from benchmarks.report import zoo as section
    base = {"experiment": "zoo", "task": "zoo", "dataset": "d", "library": "tfcam", "image": -1}

    def unit(fam, method, source="keras.applications", **metrics):
        key = f"zoo|{fam}|{method}"
        return [{**base, "model": fam, "method": method, "source": source, "unit": key, "metric": m,
                 **({"error": v} if m == "error" else {"value": v})} for m, v in metrics.items()]
    rows = [*unit("A", "grad_cam", works=1, constant_map=0, seconds_per_image=0.02),
            *unit("A", "lrp", works=1, constant_map=0, seconds_per_image=0.03, relevance_kept=0.98),
            *unit("A", "saliency", works=1, constant_map=0),
            *unit("B", "grad_cam", works=1, constant_map=1),
            *unit("B", "lrp", error="ValueError: no rule for Foo"),
            *unit("B", "saliency", works=1, constant_map=0),
            *unit("C", "grad_cam", source="KerasHub", error="NotInstalled: keras-hub not installed"),
            *unit("C", "lrp", source="KerasHub", error="NotInstalled: keras-hub not installed"),
            *unit("C", "saliency", source="KerasHub", error="NotInstalled: keras-hub not installed")]
    text = "\n".join(section.compact(table(rows), methods=("grad_cam", "lrp")))
    lines = {ln.split(" | ")[0][2:]: ln for ln in text.splitlines() if ln.startswith("| ") and "---" not in ln}
    assert lines["A"] == "| A | keras.applications | ✓ 20 ms | ✓ 30 ms | 0.980 |"
    assert lines["B"] == "| B | keras.applications | ○ | ✗ [1] | – |"
    assert lines["C"] == "| C | KerasHub | – | – | – |"
    assert "1. `ValueError: no rule for Foo`" in text
    assert "- The other methods that run on every family: saliency." in text
    assert "## Zoo" in "\n".join(section.markdown(table(rows)))
