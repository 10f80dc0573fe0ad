"""`tfcam bench [overrides]`: the benchmark suite as installed (`tfcam_benchmarks`, with its
configs inside it), started from any folder.

Everything after `bench` goes to Hydra unchanged: `key=value` overrides, `-m` for a sweep,
`--cfg job`, `--help`. The suite needs the `bench` extra (Hydra); without it the command says
which install to run. In a checkout, `python -m benchmarks` runs the same app from the repo's
files (docs/install.md).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

from tfcam.cli.errors import UsageError

SUITE = "tfcam_benchmarks"   # the name pyproject.toml installs benchmarks/ under
COMMAND = "tfcam bench"      # what the run's summary.md says was typed
NEEDS = ("hydra", "omegaconf")  # the bench extra's modules the app imports first
INSTALL = "pip install \"tfcam[bench]\""
EXAMPLE = """examples (Hydra overrides; docs/benchmarks.md lists the experiments):
  tfcam bench                                   # experiment=smoke
  tfcam bench experiment=shattered_gradients
  tfcam bench -m model=vgg_small,resnet_small   # a sweep
  tfcam bench --cfg job                         # the composed config, nothing run
  tfcam bench --help                            # Hydra's help: the config groups"""


def add_arguments(parser) -> None:
    """For `tfcam --help` only: `tfcam.cli.main` hands everything after `bench` to
    :func:`main` before argparse could read Hydra's own flags as tfcam's."""
    parser.epilog = EXAMPLE
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # the examples' lines kept
    parser.add_argument("overrides", nargs="*", metavar="OVERRIDE",
                        help="Hydra overrides, e.g. experiment=shattered_gradients")


def missing_extra() -> list:
    """The modules of the bench extra this environment lacks."""
    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


def suite():
    """The installed suite's app module (importing it quiets TensorFlow's native logs)."""
    missing = missing_extra()
    if missing:
        raise UsageError(f"the benchmark suite needs {', '.join(missing)}, from the bench extra: "
                         f"{INSTALL}")
    if importlib.util.find_spec(SUITE) is None:
        raise UsageError(f"the benchmark suite ({SUITE}) is not installed with this tfcam: "
                         f"reinstall it ({INSTALL}; in a checkout: pip install -e \".[bench]\", "
                         "or python -m benchmarks from the repository root)")
    return importlib.import_module(f"{SUITE}.__main__")


def main(arguments) -> int:
    """Run the suite on ``arguments`` (Hydra's command line); its exit status."""
    return suite().run_as(COMMAND, list(arguments))


def run(args) -> int:
    return main(args.overrides)
