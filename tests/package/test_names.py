"""The names the suite goes by, in a checkout (``benchmarks``) and installed
(``tfcam_benchmarks``): where its configs come from, the targets built from its name, and the
command a run's summary says was typed."""
import types
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig

from benchmarks import configs
from benchmarks.method_adapters import EXPLAINER_FACTORY
from benchmarks.report import render
from benchmarks.schema import MethodConfig

REPO = Path(__file__).resolve().parents[2]


def test_configs_in_a_checkout_are_the_repos(monkeypatch, tmp_path):
    monkeypatch.delenv("TFCAM_CONF", raising=False)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text("defaults: [not_this_one]\n")
    monkeypatch.chdir(tmp_path)  # the current folder's conf/ is never read
    assert configs.default_conf_dir() == REPO / "conf"


def test_configs_installed_are_the_packaged_ones(monkeypatch, tmp_path):
    monkeypatch.delenv("TFCAM_CONF", raising=False)
    package = tmp_path / "site-packages" / "tfcam_benchmarks"
    (package / "conf").mkdir(parents=True)
    (package / "conf" / "config.yaml").write_text("{}\n")
    monkeypatch.setattr(configs, "PACKAGE_ROOT", package)
    assert configs.default_conf_dir() == package / "conf"
    (package / "conf" / "config.yaml").unlink()
    with pytest.raises(FileNotFoundError, match="configs are missing.*TFCAM_CONF"):
        configs.default_conf_dir()


def test_tfcam_conf_is_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("TFCAM_CONF", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="TFCAM_CONF=.*no config.yaml"):
        configs.default_conf_dir()
    (tmp_path / "config.yaml").write_text("{}\n")
    assert configs.default_conf_dir() == tmp_path.resolve()


def test_the_method_target_is_the_packages_own_and_no_yaml_repeats_it():
    assert configs.package_name() == "benchmarks"
    assert MethodConfig._target_ == EXPLAINER_FACTORY == "benchmarks.method_adapters.build_explainer"
    assert not [p.name for p in (REPO / "conf" / "method").glob("*.yaml") if "_target_" in p.read_text()]
    assert "${tfcam_bench_package:}.callbacks.AggregateSweep" in (REPO / "conf" / "config.yaml").read_text()


@pytest.mark.parametrize("started, expected", [
    (None, "python -m benchmarks -m model=vgg_small"),
    ("tfcam bench", "tfcam bench -m model=vgg_small"),
    ("python -m tfcam_benchmarks", "python -m tfcam_benchmarks -m model=vgg_small"),
])
def test_the_summary_says_how_the_run_was_started(monkeypatch, started, expected):
    if started is None:
        monkeypatch.delenv(configs.STARTED_AS, raising=False)
    else:
        monkeypatch.setenv(configs.STARTED_AS, started)
    hydra = types.SimpleNamespace(overrides=types.SimpleNamespace(task=["model=vgg_small"]),
                                  mode="RunMode.MULTIRUN")
    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: hydra))
    assert render.command() == expected
