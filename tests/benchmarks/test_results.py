"""The append-only store: torn writes and unfinished items are dropped on resume."""
import pandas as pd

from benchmarks.results import ResultStore


def rows(unit, n=3, metric="m"):
    return [{"task": "t", "model": "a", "method": unit, "image": i, "metric": metric, "value": i / 2}
            for i in range(n)]


def test_write_resume_and_repair(tmp_path):
    s = ResultStore(tmp_path, {"x": 1}, log=lambda *_: None)
    s.write("u1", rows("u1"))
    s.write("u2", rows("u2"), [{"task": "t", "image": 0, "curve": "deletion", "step": 0, "value": 1.0}])
    # a crash after the rows of u3 but before its done mark, and inside a row of u4
    with open(tmp_path / "results.csv", "a") as f:
        cols = len(s.tables["results"])
        f.write(",".join(["x", "t", "a", "d", "u3", "", "", "", "0", "m", "0.5"] + [""] * (cols - 12) + ["u3"]) + "\n")
        f.write("x,t,a,d,u4,,,,0,m,0.")
    s2 = ResultStore(tmp_path, {"x": 1}, log=lambda *_: None)
    assert s2.is_done("u1") and s2.is_done("u2") and not s2.is_done("u3")
    t = s2.table()
    assert sorted(t.unit.unique()) == ["u1", "u2"] and len(t) == 6
    assert len(s2.table("curves")) == 1
    s2.write("u3", rows("u3"))
    t = ResultStore(tmp_path, {"x": 1}, log=lambda *_: None).table()
    assert len(t) == 9 and not t.duplicated(["unit", "image", "metric"]).any()


def test_changed_fingerprint_starts_afresh(tmp_path):
    s = ResultStore(tmp_path, {"x": 1}, log=lambda *_: None)
    s.write("u1", rows("u1"))
    s2 = ResultStore(tmp_path, {"x": 2}, log=lambda *_: None)
    assert not s2.is_done("u1") and s2.table().empty
    assert list(tmp_path.glob("results.csv.stale-*"))


def test_no_resume_and_error_retry(tmp_path):
    s = ResultStore(tmp_path, {}, log=lambda *_: None)
    s.write("ok", rows("ok"))
    s.write("bad", [{"task": "t", "metric": "error", "error": "boom, with comma"}])
    again = ResultStore(tmp_path, {}, log=lambda *_: None)
    assert again.is_done("ok") and not again.is_done("bad")
    assert set(again.table().unit) == {"ok"}
    kept = ResultStore(tmp_path, {}, log=lambda *_: None, retry_errors=False)
    assert not kept.is_done("bad")  # its rows were already dropped by the retry above
    fresh = ResultStore(tmp_path, {}, resume=False, log=lambda *_: None)
    assert not fresh.is_done("ok") and fresh.table().empty


def test_values_round_trip(tmp_path):
    from benchmarks.results import result_columns
    s = ResultStore(tmp_path, {}, log=lambda *_: None, columns=result_columns(["mode"]))
    s.write("u", [{"task": "t", "metric": "m", "value": 0.1 + 0.2, "image": 3, "mode": "a:1,b"},
                  {"task": "t", "metric": "error", "error": 'quote " and, comma', "image": -1}])
    t = s.table()
    assert t.value.iloc[0] == 0.1 + 0.2 and pd.isna(t.value.iloc[1])
    assert t.error.iloc[1] == 'quote " and, comma' and t["mode"].iloc[0] == "a:1,b"
