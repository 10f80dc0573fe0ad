"""The complexity task (issue 26 §3): sparseness and complexity of the shared maps, no model
pass. Known answers: the centred Gaussian's are those of `centered_gaussian` itself, and a
map of uniform noise has the Gini index of U(0, 1), 1/3, and the entropy
log D + log E[a] − E[a log a] / E[a] = log D − log 2 + ½ (a ~ U(0, 1), D pixels)."""
import numpy as np
import pytest

from benchmarks.app import run
from benchmarks.baselines.reference import centered_gaussian
from benchmarks.results import read_table
from tests.benchmarks.conftest import compose, tiny_overrides

SIDE = 32    # the tiny data's images


@pytest.fixture(scope="module")
def table(tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("complexity")
    cfg = compose(tiny_overrides([
        "experiment=layers", "methods=[grad_cam,gaussian,random]", "layers=[last]", "tasks=[complexity]",
        f"cache_dir={cache_dir}", "report.figures=false",
    ]))
    run(cfg, out, log=lambda *a, **k: None)
    return read_table(out / "results.csv"), (out / "summary.md").read_text()


def of(table, method, metric):
    return table[(table.method == method) & (table.metric == metric)].value.to_numpy(float)


def test_the_centred_gaussian_scores_its_own_gini_and_entropy(table):
    from tfcam.metrics import complexity, sparseness
    results, _ = table
    g = centered_gaussian(1, SIDE, SIDE)
    assert len(of(results, "gaussian", "sparseness")) == 16, "every image the map tasks score"
    np.testing.assert_allclose(of(results, "gaussian", "sparseness"), sparseness(g).values[0], rtol=1e-5)
    np.testing.assert_allclose(of(results, "gaussian", "complexity"), complexity(g).values[0], rtol=1e-5)


def test_uniform_noise_has_the_gini_and_entropy_of_the_uniform_distribution(table):
    results, _ = table
    d = SIDE * SIDE
    assert of(results, "random", "sparseness").mean() == pytest.approx(1 / 3, abs=0.01)
    assert of(results, "random", "complexity").mean() == pytest.approx(np.log(d) - np.log(2) + 0.5, abs=0.01)


def test_rows_name_their_unit_and_the_summary_has_the_section(table):
    results, summary = table
    rows = results[results.task == "complexity"]
    assert set(rows.metric) == {"sparseness", "complexity", "explain_seconds_per_image"}
    assert (rows[rows.metric != "explain_seconds_per_image"].source.astype(str) != "").all()
    assert "## Complexity of the maps" in summary
