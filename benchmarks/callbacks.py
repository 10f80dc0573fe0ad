"""Hydra callbacks. After a sweep (``-m``), gather every job's results into one table and
one summary in the sweep folder, so a sweep over models/methods/layers reads as one run."""
from __future__ import annotations

from pathlib import Path

from hydra.experimental.callback import Callback


def sweep_command(config) -> str | None:
    """``<how the run was started> -m <the sweep's overrides>`` (``tfcam bench``, ``python -m
    benchmarks``, ...): the sweep's own overrides (Hydra's runtime holds the last job's by
    then)."""
    from .configs import started_as
    try:
        return " ".join([started_as(), "-m", *config.hydra.overrides.task])
    except Exception:  # noqa: BLE001 - the summary falls back on sys.argv
        return None


class AggregateSweep(Callback):
    def on_multirun_end(self, config, **kwargs) -> None:
        from .report.sweep import aggregate_sweep
        try:
            path = aggregate_sweep(Path(config.hydra.sweep.dir), sweep_command(config))
            if path is not None:
                print(f"[tfcam-bench] sweep summary: {path}")
        except Exception as e:  # a broken aggregate must not hide the jobs' own results
            print(f"[tfcam-bench] could not aggregate the sweep: {type(e).__name__}: {e}")
