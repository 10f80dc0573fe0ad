"""Interrupt a run (mid-unit, and inside a write), rerun: no duplicate and no lost rows.

tfcam's methods are replaced by a small stand-in (``benchmarks.api.use``) so the test checks
the runner's bookkeeping, fast; the metrics are tfcam's own.
"""
import importlib
import types

import numpy as np
import pytest

from benchmarks import api, results
from benchmarks.app import run
from tests.benchmarks.conftest import compose, tiny_overrides

KEY = ["task", "model", "method", "layer_choice", "image", "metric", "first_image", "delta"]  # one Loc row per δ


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so no runner catches it."""


def stand_in(kill_at=None):
    calls = {"n": 0}

    def explain(model, images, method, layer=None, targets=None, **kw):
        calls["n"] += 1
        if kill_at is not None and calls["n"] == kill_at:
            raise Killed()
        x = np.asarray(images, np.float32).mean(-1)
        x = x if method == "grad_cam" else 1.0 - x
        lo, hi = x.min(axis=(1, 2), keepdims=True), x.max(axis=(1, 2), keepdims=True)
        return types.SimpleNamespace(maps=(x - lo) / np.maximum(hi - lo, 1e-6))

    return types.SimpleNamespace(explain=explain, metrics=importlib.import_module("tfcam.metrics"), calls=calls)


@pytest.fixture
def cfg(cache_dir):
    pytest.importorskip("tfcam.metrics")
    return compose(tiny_overrides([
        "experiment=layers", "methods=[grad_cam,layer_cam,gaussian]", "layers=[mid,last]",
        f"cache_dir={cache_dir}", "report.figures=false",
    ]))


def test_interrupted_run_resumes_without_duplicates_or_losses(cfg, tmp_path, monkeypatch):
    quiet = lambda *a, **k: None
    with api.use(stand_in()):
        run(cfg, tmp_path / "reference", log=quiet)
    reference = results.read_table(tmp_path / "reference" / "results.csv")
    assert len(reference) and not reference.duplicated(KEY).any()

    out = tmp_path / "interrupted"
    with api.use(stand_in(kill_at=4)), pytest.raises(Killed):
        run(cfg, out, log=quiet)
    partial = results.read_table(out / "results.csv")
    assert 0 < len(partial) < len(reference)

    # second interruption: killed in the middle of appending a unit's rows (a torn line)
    real_append = results._fsync_append
    state = {"n": 0}

    def torn(path, text):
        state["n"] += 1
        if state["n"] == 3 and path.name == "results.csv":
            real_append(path, text[: len(text) // 2])
            raise Killed()
        real_append(path, text)

    monkeypatch.setattr(results, "_fsync_append", torn)
    with api.use(stand_in()), pytest.raises(Killed):
        run(cfg, out, log=quiet)
    monkeypatch.setattr(results, "_fsync_append", real_append)

    with api.use(stand_in()) as fake:
        run(cfg, out, log=quiet)
    final = results.read_table(out / "results.csv")
    assert not final.duplicated(KEY).any(), "no duplicate row"
    reference = reference[reference.task != "model"]  # its weights say trained/cached
    final_rows = final[final.task != "model"]
    assert (final.task == "model").sum() == 2  # val and eval accuracy, once
    ref_keys = set(map(tuple, reference[KEY].astype(str).values))
    got_keys = set(map(tuple, final_rows[KEY].astype(str).values))
    timing = ("explain_seconds_per_image",)
    assert {k for k in ref_keys if k[5] not in timing} == {k for k in got_keys if k[5] not in timing}
    merged = final_rows.merge(reference, on=KEY, suffixes=("", "_ref"))
    sel = ~merged.metric.isin(timing)
    np.testing.assert_allclose(merged.value[sel], merged.value_ref[sel], rtol=1e-5, atol=1e-6)
    # the last run recomputed only what was missing
    n_total = len(reference[reference.metric == "explain_seconds_per_image"])
    assert 0 < fake.calls["n"] < n_total
    assert (out / "summary.md").exists()
