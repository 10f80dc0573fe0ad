"""``python -m benchmarks [overrides]`` -- the Hydra app. Configs: the repo's ``conf/``
(or ``$TFCAM_CONF``)."""
from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from benchmarks import schema  # noqa: F401 - registers the config schemas
from benchmarks.configs import default_conf_dir


@hydra.main(version_base="1.3", config_path=str(default_conf_dir()), config_name="config")
def main(cfg: DictConfig) -> None:
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    import logging
    # TensorFlow's retracing notices and absl chatter drown the progress bars
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    from benchmarks.app import run
    run(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    main()
