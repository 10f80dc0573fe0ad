"""`tfcam --version` and `tfcam bench`'s own plumbing (the suite itself runs from a wheel in
tests/package/test_wheel.py): Hydra's flags reach Hydra, a missing extra names its install."""
import sys

import pytest

import tfcam
from tests.cli.conftest import tfcam_command
from tfcam.cli import main
from tfcam.cli.main import _bench_arguments, parser


def test_version_is_tfcams_one_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"tfcam {tfcam.__version__}\n"


@pytest.mark.parametrize("argv, hydra_gets", [
    (["bench"], []),
    (["bench", "-m", "model=vgg_small,resnet_small"], ["-m", "model=vgg_small,resnet_small"]),
    (["--debug", "bench", "--cfg", "job", "--help"], ["--cfg", "job", "--help"]),
    (["explain", "bench"], None),  # an image named bench: explain's argument
    (["methods"], None),
    ([], None),
])
def test_everything_after_bench_goes_to_hydra(argv, hydra_gets):
    assert _bench_arguments(argv) == hydra_gets


def test_help_lists_bench():
    assert "bench" in parser().format_help()


@pytest.mark.parametrize("module", ["hydra", "omegaconf"])
def test_bench_without_the_bench_extra_says_what_to_install(monkeypatch, capsys, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: find_spec gives None
    assert main(["bench", "experiment=shattered_gradients"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tfcam bench: error:") and module in err
    assert 'pip install "tfcam[bench]"' in err


def test_bench_without_the_suite_says_how_to_get_it(monkeypatch, capsys):
    from tfcam.cli import bench_command
    monkeypatch.setattr(bench_command, "SUITE", "tfcam_benchmarks_not_installed")
    assert main(["bench"]) == 2
    err = capsys.readouterr().err
    assert "not installed" in err and "python -m benchmarks" in err


def test_bench_hands_hydra_its_flags_in_this_install(tmp_path):
    """The dev install (editable) has the suite too; `--cfg job` composes without running."""
    done = tfcam_command("bench", "--cfg", "job", "experiment=shattered_gradients", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "name: shattered_gradients" in done.stdout
    assert not (tmp_path / "outputs").exists()
