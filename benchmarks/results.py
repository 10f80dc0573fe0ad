"""Append-only results with resume.

The run's work is cut into *units* (one model × method × layer × batch of images, for
example). A unit's rows are appended to the CSV files in one write and flushed to disk; only
then is the unit's key appended to ``done.txt``. On a rerun into the same folder:

- units listed in ``done.txt`` are skipped;
- rows of a unit that never reached ``done.txt`` (the run was killed between the two
  writes), and a torn last line (killed inside a write), are removed before going on,

so an interrupted run resumes losing at most the unit in flight, with no duplicate row.
A unit that recorded an error (``done.txt`` line ``<unit>\terror``) is retried on the next
run unless ``retry_errors=False``: the error may have been fixed since.
A run whose configuration fingerprint differs from the folder's, or whose table has other
columns than the folder's (a newer version of the benchmark), starts afresh (the old files are
renamed ``*.stale-<time>``).
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

KEY_COLUMNS = ["experiment", "task", "model", "dataset", "method", "library", "layer_choice",
               "layer", "image", "metric"]
# Typed columns some rows fill (empty elsewhere): ``targets``, the class every row of a model
# explains (label | predicted: ``dataset.targets``, or predicted where the model has no
# labels to follow, see benchmarks.schema.Targets); the model rows' ``weights`` (imagenet |
# trained | cached | shipped | random, "cached (resnet_small)" for a view) and
# ``on_inaccurate``; the tasks' own (``Task.columns``: benchmarks.tasks.COLUMNS).
RUN_COLUMNS = ["targets"]
MODEL_COLUMNS = ["weights", "on_inaccurate"]
NUMERIC = {"value", "fraction", "image", "step", "batch_size", "n_images", "first_image", "delta", "cell"}


def result_columns(task_columns=()) -> list:
    extra = [c for c in dict.fromkeys([*RUN_COLUMNS, *MODEL_COLUMNS, *task_columns]) if c not in KEY_COLUMNS]
    return [*KEY_COLUMNS, "value", "error", *extra, "unit"]


RESULT_COLUMNS = result_columns()
CURVE_COLUMNS = ["task", "model", "method", "library", "layer_choice", "layer", "image", "curve",
                 "step", "fraction", "value", "unit"]


def _fsync_append(path: Path, text: str) -> None:
    with open(path, "a", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _complete_lines(path: Path) -> list:
    """Lines of ``path`` that end in a newline (a torn last line is dropped)."""
    if not path.exists():
        return []
    data = path.read_text()
    lines = data.split("\n")
    return lines[:-1]  # the piece after the last "\n" is "" or a torn line


class ResultStore:
    """The run folder's tables (``results.csv``, ``curves.csv``) and ``done.txt``."""

    def __init__(self, folder, fingerprint: dict | None = None, resume: bool = True, log=print,
                 retry_errors: bool = True, columns: list | None = None):
        self.tables = {"results": list(columns or RESULT_COLUMNS), "curves": CURVE_COLUMNS}
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.paths = {name: self.folder / f"{name}.csv" for name in self.tables}
        self.done_path = self.folder / "done.txt"
        self.fingerprint_path = self.folder / "fingerprint.json"
        self.log = log
        fingerprint = json.loads(json.dumps(fingerprint or {}, sort_keys=True, default=str))
        old = json.loads(self.fingerprint_path.read_text()) if self.fingerprint_path.exists() else None
        if resume and old is not None and old != fingerprint:
            log(f"[tfcam-bench] {self.folder}: configuration changed since the last run; starting afresh")
            resume = False
        header = self._header("results")
        if resume and header is not None and header != self.tables["results"]:
            log(f"[tfcam-bench] {self.folder}: results.csv has other columns than this version writes; "
                "starting afresh")
            resume = False
        if not resume:
            self._retire()
        self.fingerprint_path.write_text(json.dumps(fingerprint, indent=1, sort_keys=True))
        self.done = set()
        retried = 0
        for line in _complete_lines(self.done_path):
            unit, _, status = line.partition("\t")
            if status == "error" and retry_errors:
                retried += 1
            else:
                self.done.add(unit)
        self._repair()
        if retried:
            log(f"[tfcam-bench] {retried} items that ended in an error will be retried")
        for name, cols in self.tables.items():
            if not self.paths[name].exists():
                _fsync_append(self.paths[name], ",".join(cols) + "\n")
        if self.done:
            log(f"[tfcam-bench] resuming in {self.folder}: {len(self.done)} finished items are kept")

    def _header(self, name: str) -> list | None:
        """The columns of the folder's table ``name`` (None: no table, or not even a header)."""
        lines = _complete_lines(self.paths[name])
        return next(csv.reader(lines[:1]), None) if lines else None

    def _retire(self) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for path in [*self.paths.values(), self.done_path]:
            if path.exists():
                path.rename(path.with_name(f"{path.name}.stale-{stamp}"))

    def _repair(self) -> None:
        """Drop rows of unfinished (or to be retried) units and torn lines; rewrite only when needed."""
        done_lines = [line for line in _complete_lines(self.done_path) if line.partition("\t")[0] in self.done]
        if self.done_path.exists() and sum(len(line) + 1 for line in done_lines) != self.done_path.stat().st_size:
            self._atomic_write(self.done_path, "".join(line + "\n" for line in done_lines))
        for name, cols in self.tables.items():
            path = self.paths[name]
            if not path.exists():
                continue
            lines = _complete_lines(path)
            if not lines:
                path.unlink()
                continue
            header, body = lines[0], lines[1:]
            keep, dropped = [header], 0
            unit_at = cols.index("unit")
            for row in csv.reader(body):
                if len(row) == len(cols) and row[unit_at] in self.done:
                    keep.append(row)
                else:
                    dropped += 1
            torn = path.stat().st_size != sum(len(line) + 1 for line in lines)
            if dropped or torn:
                buf = io.StringIO()
                buf.write(header + "\n")
                csv.writer(buf, lineterminator="\n").writerows(keep[1:])
                self._atomic_write(path, buf.getvalue())
                self.log(f"[tfcam-bench] {path.name}: removed {dropped} rows of unfinished or retried items")

    @staticmethod
    def _atomic_write(path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

    # -------------------------------------------------------------- writing
    def is_done(self, unit: str) -> bool:
        return unit in self.done

    def write(self, unit: str, rows: list, curves: list | None = None) -> None:
        """Append a finished unit: its result rows (dicts), its curve rows, then its key."""
        if any(c in unit for c in "\n\t,"):
            raise ValueError(f"a unit key may not hold commas or newlines: {unit!r}")
        if unit in self.done:
            raise ValueError(f"unit {unit!r} is already recorded")
        for name, items in (("results", rows), ("curves", curves or [])):
            if not items:
                continue
            cols = self.tables[name]
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            for item in items:
                item = {**item, "unit": unit}
                w.writerow([_cell(item.get(c)) for c in cols])
            _fsync_append(self.paths[name], buf.getvalue())
        failed = any(str(r.get("metric")) == "error" for r in rows)
        _fsync_append(self.done_path, unit + ("\terror\n" if failed else "\n"))
        self.done.add(unit)

    # -------------------------------------------------------------- reading
    def table(self, name: str = "results") -> pd.DataFrame:
        return read_table(self.paths[name], self.tables[name])

    def export(self) -> list:
        """Write ``results.parquet`` next to the CSV when pyarrow/fastparquet is installed."""
        written = []
        try:
            self.table().to_parquet(self.folder / "results.parquet", index=False)
            written.append(self.folder / "results.parquet")
        except (ImportError, ValueError):
            pass
        return written


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else repr(float(value))
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def read_table(path, columns=RESULT_COLUMNS) -> pd.DataFrame:
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=columns)
    df = pd.read_csv(path, keep_default_na=False, na_values=[""],
                     dtype={c: str for c in columns if c not in NUMERIC})
    for c in columns:
        if c not in df:
            df[c] = np.nan if c in NUMERIC else ""
    for c in NUMERIC - {"image"}:
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    for c in df.columns:
        if c not in NUMERIC:
            df[c] = df[c].fillna("").astype(str)
    if "image" in df:  # dataset ids are ints for the built-in data, file stems for folders
        as_int = pd.to_numeric(df["image"], errors="coerce")
        if as_int.notna().all():
            df["image"] = as_int.astype(int)
    return df
