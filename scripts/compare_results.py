"""Compare two benchmark result tables row for row: a refactoring must not change a number.

    python scripts/compare_results.py BEFORE/results.csv AFTER/results.csv [--tol 1e-6]

Rows are matched on their keys (experiment, task, model, dataset, method, library,
layer_choice, layer, image, metric) and the settings that tell rows apart; values must agree
to `--tol` and error texts exactly. Timings (task `speed`, `explain_seconds_per_image`) are
matched by key only, being the one thing that changes between runs.

Tables of tfcam 0.1 compare too: their packed `param` column is rebuilt from the typed
columns of the newer table (`legacy_param`), and their method ids are renamed to the
snake_case ids (`RENAMED`). Exit status 1 when a row is missing on either side or a value or
an error text differs.
"""

from __future__ import annotations

import argparse
import re
import sys

import numpy as np
import pandas as pd

KEYS = ["experiment", "task", "model", "dataset", "method", "library", "layer_choice", "layer",
        "image", "metric"]
SETTINGS = ["weights", "on_inaccurate", "first_image", "n_images", "delta", "fill", "cell",
            "counterpart", "mode", "step", "randomized_layer", "relevance_method",
            "ablation_method", "batch_size", "precision"]

# Method ids of tfcam 0.1 -> the snake_case ids (tf-keras-vis' ids keep their tkv_ prefix).
RENAMED = {"gradcampp": "grad_cam_pp", "scorecam_fast": "score_cam_fast",
           "guided_gradcam": "guided_grad_cam", "gradcam": "grad_cam", "layercam": "layer_cam",
           "scorecam": "score_cam", "ablationcam": "ablation_cam", "xgradcam": "xgrad_cam",
           "smoothgrad": "smooth_grad"}
_OLD_ID = re.compile(r"(?<![\w.])(tkv_)?(" + "|".join(sorted(RENAMED, key=len, reverse=True))
                     + r")(?![\w])")


def renamed(text: str) -> str:
    return _OLD_ID.sub(lambda m: (m.group(1) or "") + RENAMED[m.group(2)], text)


def legacy_param(row) -> str:
    """The 0.1 `param` string of a row written with typed columns."""
    def get(column):
        value = row.get(column, "")
        return "" if pd.isna(value) else str(value)

    def whole(column):
        return str(int(float(get(column)))) if get(column) else ""

    task, metric = row["task"], row["metric"]
    if task == "model":
        return get("on_inaccurate") if metric == "not_accurate_enough" else get("weights")
    if task == "agreement":
        return get("counterpart")
    if task == "sanity":
        if metric == "error":
            return get("mode")
        return f"{get('mode')}:{whole('step')}:{get('randomized_layer')}"
    if task == "speed":
        return f"b{whole('batch_size')}-{get('precision')}"
    if task == "shattered_gradients" and metric == "error":
        return (f"relevance={get('relevance_method') or None},"
                f"ablation={get('ablation_method') or None}")
    if metric == "explain_seconds_per_image":
        return f"batch:{whole('first_image')}:{whole('n_images')}"
    if metric == "error" and get("n_images"):
        return f"{whole('n_images')} images"
    return ""


def read(path: str) -> pd.DataFrame:
    table = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str)
    table["value"] = pd.to_numeric(table["value"], errors="coerce")
    return table.fillna({c: "" for c in table.columns if c != "value"})


def aligned(before: pd.DataFrame, after: pd.DataFrame):
    """Both tables with the same key columns and the snake_case method ids; a 0.1 table is
    compared through its `param` column."""
    before, after = _renamed_ids(before), _renamed_ids(after)
    if "param" in before and "param" not in after:
        after = after.assign(param=after.apply(legacy_param, axis=1))
        return before, after, [*KEYS, "param"]
    settings = [c for c in (*SETTINGS, "param") if c in before and c in after]
    return before, after, [*KEYS, *settings]


def _renamed_ids(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    for column in ("method", "counterpart", "param"):
        if column in table:
            table[column] = table[column].map(renamed)
    return table


def compare(before: pd.DataFrame, after: pd.DataFrame, tol: float) -> list[str]:
    before, after, keys = aligned(before, after)
    problems = []
    for name, table in (("before", before), ("after", after)):
        repeated = table.duplicated(keys)
        if repeated.any():
            problems.append(f"{repeated.sum()} rows of {name} repeat a key, e.g.\n"
                            f"{table[repeated][keys].head(3).to_string()}")
    joined = before.merge(after, on=keys, how="outer", suffixes=("_before", "_after"),
                          indicator=True)
    for side, label in (("left_only", "only before"), ("right_only", "only after")):
        missing = joined[joined._merge == side]
        if len(missing):
            counts = missing.groupby(["task", "metric"]).size().to_dict()
            problems.append(f"{len(missing)} rows {label}: {counts}")
    both = joined[joined._merge == "both"]
    timing = (both.task == "speed") | (both.metric == "explain_seconds_per_image")
    values = both[~timing]
    a, b = values.value_before.to_numpy(float), values.value_after.to_numpy(float)
    differs = ~np.isclose(a, b, rtol=0, atol=tol, equal_nan=True)
    if differs.any():
        worst = values.assign(difference=np.abs(a - b))[differs]
        worst = worst.sort_values("difference", ascending=False)
        problems.append(f"{differs.sum()} of {len(values)} values differ by more than {tol}:\n"
                        f"{worst[[*keys, 'value_before', 'value_after']].head(10).to_string()}")
    errors = values.error_before != values.error_after
    if errors.any():
        problems.append(f"{errors.sum()} error texts differ, e.g.\n"
                        f"{values[errors][[*keys, 'error_before', 'error_after']].head(3)}")
    largest = np.nanmax(np.abs(a - b)) if len(values) else 0.0
    print(f"{len(before)} rows before, {len(after)} after; {len(values)} values compared "
          f"(largest difference {largest:.3g}), {int(timing.sum())} timings matched by key")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--tol", type=float, default=1e-6)
    args = parser.parse_args(argv)
    problems = compare(read(args.before), read(args.after), args.tol)
    for problem in problems:
        print(problem)
    print("agree" if not problems else "DIFFER")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
