import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"

# Small enough for a 2-core CPU: a VGG-11-shaped net with few channels, 32 px images.
TINY = [
    "dataset=synthetic32", "dataset.n_images=16", "dataset.num_classes=3",
    "train.n_train=16", "train.n_val=16", "train.epochs=1", "train.batch_size=8",
    "train.min_accuracy=0", "models=[vgg_small]", "model.widths=[4,8,8,16,16]",
    "progress=false", "batch_size=8", "metrics.faithfulness.deletion_steps=4",
    "metrics.faithfulness.insertion_steps=4", "report.n_images=2",
]


def tiny_overrides(extra=()):
    """TINY without ``model.widths`` when no ``model=`` group is chosen."""
    out = [o for o in TINY if not o.startswith("model.")]
    return out + list(extra)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One model cache for the session: the tiny model is trained once."""
    return tmp_path_factory.mktemp("tfcam_cache")


def compose(overrides=()):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import benchmarks.configs  # noqa: F401 - registers the configs' resolvers
    import benchmarks.schema  # noqa: F401 - registers the config schemas
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


@pytest.fixture
def table(tmp_path):
    """Rows (dicts) → a results table typed as ``read_table`` types a run's results.csv."""
    import pandas as pd

    from benchmarks.results import read_table
    from benchmarks.tasks import RESULT_COLUMNS

    def make(rows):
        path = tmp_path / "results.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        return read_table(path, RESULT_COLUMNS)
    return make
