"""After a sweep (``-m``): every job's tables gathered into one, summarized once."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..report import figures as figs
from ..report.render import write_summary
from ..results import CURVE_COLUMNS, read_table
from ..tasks import RESULT_COLUMNS


def aggregate_sweep(sweep_dir: Path, command_line: str | None = None) -> Path | None:
    """Concatenate the jobs' results.csv under ``sweep_dir`` and summarize them;
    ``command_line``: the sweep's command, for the summary."""
    sweep_dir = Path(sweep_dir)
    tables = [read_table(p) for p in sorted(sweep_dir.rglob("results.csv")) if p.parent != sweep_dir]
    if not tables:
        return None
    results = pd.concat(tables, ignore_index=True).drop_duplicates(
        subset=[c for c in RESULT_COLUMNS if c not in ("value", "error")])
    results.to_csv(sweep_dir / "results.csv", index=False)
    curves = [read_table(p, CURVE_COLUMNS) for p in sorted(sweep_dir.rglob("curves.csv")) if p.parent != sweep_dir]
    curves = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    figures = []
    try:
        map_dirs = sorted(p for p in sweep_dir.rglob("maps") if p.is_dir())
        figures = figs.all_figures(sweep_dir, results, curves, None, map_dirs=map_dirs)
    except Exception as e:
        print(f"[tfcam-bench] sweep figures failed: {type(e).__name__}: {e}")
    return write_summary(sweep_dir, results, figures, f"sweep {sweep_dir.name}", command_line)
