"""What the report's modules share: metric directions, orders, markdown helpers."""
from __future__ import annotations

import numpy as np
import pandas as pd

HIGHER_IS_BETTER = {
    "iou": True, "pointing_game": True, "energy_pointing_game": True, "loc_delta": True,
    "class_sensitivity": True, "average_drop": False, "increase_in_confidence": True,
    "deletion": False, "insertion": True, "win_percent": True, "best_of_all": True, "spearman_vs_tfcam": True,
    "images_per_second": True, "ratio_to_reference": False, "first_call_seconds": False,
}
TASK_METRICS = {
    "localization": ["iou", "pointing_game", "energy_pointing_game", "loc_delta", "class_sensitivity"],
    "faithfulness": ["average_drop", "increase_in_confidence", "win_percent", "best_of_all", "deletion",
                     "insertion"],
}
LAYER_ORDER = {"shallow": 0, "mid": 1, "middle": 1, "last": 2, "input": 3}
LIB_ORDER = {"tfcam": 0, "tf-keras-vis": 1, "baseline": 2}


def md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_(no rows)_\n"
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(v) for v in r.values) + " |")
    return "\n".join(lines) + "\n"


def fmt(mean, std, n, digits=3) -> str:
    if n == 0 or not np.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def sort_key(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["_l"] = df["layer_choice"].map(lambda x: LAYER_ORDER.get(x, 1.5))
    df["_lib"] = df["library"].map(lambda x: LIB_ORDER.get(x, 3))
    return df.sort_values(["model", "_l", "_lib", "method"]).drop(columns=["_l", "_lib"])
