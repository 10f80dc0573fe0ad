"""summary.md from a run folder's tables: the environment, then each task's section
(:mod:`benchmarks.report.sections`), the findings and the figures."""
from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

import pandas as pd

from ..configs import started_as
from ..report import figures as figs
from ..report import sections
from ..report.findings import findings
from ..results import CURVE_COLUMNS, read_table
from ..tasks import RESULT_COLUMNS


def _environment(command_line: str | None = None) -> list:
    lines = [f"- date: {datetime.datetime.now():%Y-%m-%d %H:%M}",
             f"- machine: {platform.platform()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
             f"- command: `{command_line or command()}`"]
    try:
        import keras
        lines.append(f"- keras {keras.__version__} ({keras.backend.backend()} backend)")
        lines.append(f"- device: {_device()}")
    except Exception:
        pass
    for mod in ("tfcam", "tensorflow", "tf_keras_vis"):
        try:
            m = __import__(mod)
            lines.append(f"- {mod} {getattr(m, '__version__', '?')}")
        except Exception:
            pass
    return lines


def command() -> str:
    """The command that is writing this summary, as typed: how the app was started
    (``tfcam bench``, ``python -m tfcam_benchmarks`` or ``python -m benchmarks``:
    :func:`~benchmarks.configs.started_as`) and Hydra's record of the overrides (``-m`` for a
    sweep) when Hydra is running, else ``python -m <module> <arguments>`` from ``sys.argv``
    and the ``-m`` module's name."""
    hydra = _hydra_runtime()
    if hydra is not None:
        sweep = "MULTIRUN" in str(hydra.mode)
        return " ".join([started_as(), *(["-m"] if sweep else []), *hydra.overrides.task])
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    module = getattr(spec, "name", "") or ""
    if module:
        module = module.removesuffix(".__main__")
        return " ".join(["python -m", module, *sys.argv[1:]])
    return " ".join(["python", Path(sys.argv[0]).name, *sys.argv[1:]])


def _hydra_runtime():
    """Hydra's runtime config (``HydraConfig.get()``) when Hydra is running, else None."""
    try:
        from hydra.core.hydra_config import HydraConfig
        return HydraConfig.get() if HydraConfig.initialized() else None
    except Exception:  # noqa: BLE001 - no Hydra: the command comes from sys.argv
        return None


def _device() -> str:
    """The accelerator Keras computes on (its kind, e.g. 'NVIDIA H100 80GB HBM3'), or 'CPU'.
    Asked through Keras and the backend module it loaded (``keras.backend.backend()``)."""
    import keras

    name = keras.backend.backend()
    devices = [d for d in keras.distribution.list_devices() if not str(d).lower().startswith("cpu")]
    if not devices:
        return "CPU"
    native = sys.modules.get(name)
    try:
        if name == "jax":
            device = native.devices()[0]
            return f"{device.device_kind} ({device.platform}, jax {native.__version__})"
        gpus = native.config.list_physical_devices("GPU")
        return native.config.experimental.get_device_details(gpus[0]).get("device_name", str(devices[0]))
    except Exception:  # noqa: BLE001 - the kind is a courtesy
        return str(devices[0])


def write_summary(folder: Path, results: pd.DataFrame, figures: list, title: str = "",
                  command_line: str | None = None) -> Path:
    """summary.md in ``folder``; ``command_line``: the command to print (default `command`)."""
    folder = Path(folder)
    parts = [f"# tfcam benchmark: {title or folder.name}\n", *_environment(command_line), ""]
    parts += sections.models(results)
    found = findings(results)
    if found:
        parts += ["## Findings\n", "Computed from the table below by `benchmarks/report/findings.py`; "
                  "paired tests are over independent units (the photo, on grids), n beside each "
                  "p.\n", *[f"- {f}" for f in found], ""]
    for section in sections.SECTIONS.values():
        parts += section(results)
    if figures:
        links = [f"- [{Path(f).name}]({Path(f).relative_to(folder).as_posix()})" for f in figures]
        parts += ["## Figures\n", *links, ""]
    n_err = int((results.metric == "error").sum())
    parts += [f"---\n{len(results)} rows in `results.csv` (one per image × model × method × layer × metric); "
              f"{n_err} error rows (failed batches are kept in the table with their message)."]
    path = folder / "summary.md"
    tmp = folder / "summary.md.tmp"
    tmp.write_text("\n".join(parts) + "\n")
    tmp.replace(path)
    return path


def write_report(folder, cfg=None, log=print) -> Path:
    folder = Path(folder)
    results = read_table(folder / "results.csv", RESULT_COLUMNS)
    curves = read_table(folder / "curves.csv", CURVE_COLUMNS)
    figures = []
    want_figures = True if cfg is None else bool(cfg.get("report", {}).get("figures", True))
    if want_figures:
        try:
            figures = figs.all_figures(folder, results, curves, cfg, log=log)
        except Exception as e:  # figures are a bonus: never lose the summary for them
            log(f"[tfcam-bench] figures failed: {type(e).__name__}: {e}")
    title = "" if cfg is None else str(cfg.get("experiment", {}).get("name", ""))
    return write_summary(folder, results, figures, title)
