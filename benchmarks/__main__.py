"""The Hydra app: ``python -m benchmarks [overrides]`` in a checkout; installed, ``tfcam bench
[overrides]`` or ``python -m tfcam_benchmarks [overrides]`` (pyproject.toml installs this
package under that name). Configs: ``$TFCAM_CONF``, the packaged ``conf``, or the repo's
``conf/`` (:func:`benchmarks.configs.default_conf_dir`). TensorFlow's native log lines are
kept off the console (`tfcam_console`); ``TFCAM_NATIVE_LOGS=1`` shows them."""
from __future__ import annotations

import os
import sys
import warnings

from tfcam_console import quiet_native_logs

quiet_native_logs()  # before TensorFlow is imported: only our output on the console

import hydra  # noqa: E402 - after the console filter
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from . import schema  # noqa: F401, E402 - registers the config schemas
from .configs import STARTED_AS, default_conf_dir  # noqa: E402


@hydra.main(version_base="1.3", config_path=str(default_conf_dir()), config_name="config")
def main(cfg: DictConfig) -> None:
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    import logging
    # TensorFlow's retracing notices and absl chatter drown the progress bars
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    from .app import run
    run(cfg, HydraConfig.get().runtime.output_dir)


def run_as(command: str, arguments: list) -> int:
    """Run the app on ``arguments`` (what Hydra reads from the command line: overrides, ``-m``,
    ``--cfg job``, ``--help``) as if typed after ``command``, the name the summaries give the
    run (``tfcam bench``). Hydra reads ``sys.argv``, so it is set for the call. Returns the
    exit status (Hydra exits 1 on a bad override)."""
    os.environ[STARTED_AS] = command
    saved = sys.argv
    sys.argv = [command, *arguments]
    try:
        main()
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = saved
    return 0


if __name__ == "__main__":
    os.environ[STARTED_AS] = f"python -m {__package__}"
    main()
