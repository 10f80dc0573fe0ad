"""``python -m benchmarks [overrides]`` -- the Hydra app. Configs: the repo's ``conf/``
(or ``$TFCAM_CONF``). TensorFlow's native log lines are kept off the console
(`tfcam_console`); ``TFCAM_NATIVE_LOGS=1`` shows them."""
from __future__ import annotations

import warnings

from tfcam_console import quiet_native_logs

quiet_native_logs()  # before TensorFlow is imported: only our output on the console

import hydra  # noqa: E402 - after the console filter
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from . import schema  # noqa: F401 - registers the config schemas
from .configs import default_conf_dir


@hydra.main(version_base="1.3", config_path=str(default_conf_dir()), config_name="config")
def main(cfg: DictConfig) -> None:
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    import logging
    # TensorFlow's retracing notices and absl chatter drown the progress bars
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    from .app import run
    run(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    main()
