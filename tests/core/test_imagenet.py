"""ImageNet's class names ship with tfcam (tfcam/data/imagenet_classes.txt): 1,000 unique
names in Keras' class order, found where the package is installed, nothing downloaded."""
import fnmatch
import tomllib
from importlib import resources
from pathlib import Path

import pytest

import tfcam

REPO = Path(__file__).resolve().parents[2]
DATA = "data/imagenet_classes.txt"


def test_a_thousand_unique_names_in_keras_order():
    names = tfcam.imagenet_classes()
    assert isinstance(names, tuple) and len(names) == 1000 and len(set(names)) == 1000
    assert all(isinstance(n, str) and n == n.strip() and n and "_" not in n for n in names)
    known = {0: "tench", 1: "goldfish", 281: "tabby", 285: "Egyptian cat", 817: "sports car",
             872: "tripod", 954: "banana", 999: "toilet tissue"}
    assert {k: names[k] for k in known} == known
    # the two names WordNet repeats, told apart
    assert (names[134], names[517], names[638], names[639]) == (
        "crane (bird)", "crane (machine)", "maillot (tights)", "maillot (tank suit)")


def test_the_file_is_package_data_found_through_importlib_resources():
    # importlib.resources (not a path next to this checkout) finds it in an installed wheel too
    assert (resources.files("tfcam") / "data" / "imagenet_classes.txt").is_file()
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["tfcam"]
    assert any(fnmatch.fnmatch(DATA, p) for p in patterns), f"{DATA} is not in the wheel: {patterns}"


def test_the_file_is_what_the_script_makes_from_keras_hub():
    pytest.importorskip("keras_hub")
    import importlib.util
    spec = importlib.util.spec_from_file_location("imagenet_classes_script", REPO / "scripts" / "imagenet_classes.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert tuple(script.imagenet_classes()) == tfcam.imagenet_classes()
