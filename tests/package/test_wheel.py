"""The wheel as users install it (issue 27): built from this checkout's files (what a clone
has: tracked and new files, nothing ignored), installed with pip into a new virtualenv, and
run from a folder outside the checkout that holds a user's own ``benchmarks/`` and ``conf/``
(neither may change what runs). The virtualenv sees this environment's site-packages for the
dependencies (a ``.pth`` line: nothing is downloaded), but not the checkout, nor this
environment's own (editable) tfcam: the wheel's copy is the one imported."""
import csv
import importlib.util
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import tfcam

pytestmark = pytest.mark.slow  # a build, a virtualenv, a benchmark run: about a minute
REPO = Path(__file__).resolve().parents[2]
TOP_LEVEL = {"tfcam", "tfcam_benchmarks", "tfcam_console", f"tfcam-{tfcam.__version__}.dist-info"}
# experiment=shattered_gradients (the shipped small models: no training) on 8 images, one
# model; plus a localization task, whose methods are built from their configs' `_target_`
BENCH = ["experiment=shattered_gradients", "models=[vgg_small]", "dataset.n_images=8",
         "metrics.shattered_gradients.n_images=8", "tasks=[shattered_gradients,localization]",
         "methods=[grad_cam]", "progress=false", "report.n_images=2"]


def checkout_files() -> list:
    """The files a clone of this checkout has (no build/ leftovers, no virtualenv)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=REPO, capture_output=True, check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the wheel is built from a git checkout's files")
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((REPO / name).read_bytes())
    dist = tmp_path_factory.mktemp("dist")
    # the environment's setuptools, offline; an isolated build where it has none (Python 3.12)
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", dist, source])
    (built,) = dist.glob("tfcam-*.whl")
    return built


@pytest.fixture(scope="module")
def user(wheel, tmp_path_factory):
    """A virtualenv with the wheel installed and a user's folder outside the checkout: the
    virtualenv's bin folder, the folder, and the environment its commands run with."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    Path(purelib, "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # this environment's pip, run by the new interpreter: installs into the virtualenv
    run([python, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", wheel])
    home = tmp_path_factory.mktemp("home")
    (home / "benchmarks").mkdir()
    (home / "benchmarks" / "__init__.py").write_text("raise ImportError('the user\\'s own benchmarks/ was imported')\n")
    (home / "conf").mkdir()
    (home / "conf" / "config.yaml").write_text("defaults: [the_users_own_conf_was_read]\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "TFCAM_CONF", "TFCAM_OUTPUTS", "TFCAM_BENCH_COMMAND")}
    env["TFCAM_CACHE"] = str(tmp_path_factory.mktemp("cache"))  # a cold cache
    return venv / "bin", home, env


def run(command, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(list(map(str, command)), capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_the_wheel_holds_the_suite_under_its_own_name_with_its_configs_and_weights(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    top_level = {name.split("/")[0] for name in names}
    assert top_level == TOP_LEVEL, f"top-level names {sorted(top_level)}"  # no `benchmarks`
    installed_as = {"tfcam/": "tfcam/", "tfcam_console/": "tfcam_console/",
                    "benchmarks/": "tfcam_benchmarks/", "conf/": "tfcam_benchmarks/conf/"}
    expected = {installed_as[folder] + name.removeprefix(folder)
                for name in checkout_files() for folder in installed_as if name.startswith(folder)}
    for data in ("tfcam_benchmarks/conf/hydra/launcher/", "tfcam_benchmarks/models/weights/", "tfcam/data/"):
        assert any(name.startswith(data) for name in expected), data
    missing = sorted(expected - names)
    assert not missing, ("not in the wheel (a new subpackage or data file? pyproject.toml's packages "
                         f"and package-data): {missing}")
    metadata = zipfile.ZipFile(wheel).read(f"tfcam-{tfcam.__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {tfcam.__version__}\n" in metadata


def test_the_installed_tfcam_is_the_wheels_and_tells_its_version(user):
    bin_dir, home, env = user
    done = run([bin_dir / "tfcam", "--version"], cwd=home, env=env)
    assert done.stdout.strip() == f"tfcam {tfcam.__version__}"
    where = run([bin_dir / "python", "-c", "import tfcam, tfcam_benchmarks, sys; "
                 "print(tfcam.__file__, tfcam_benchmarks.__file__, *sys.path)"], cwd=home, env=env).stdout
    paths = where.split()
    assert paths[0].startswith(str(bin_dir.parent)) and paths[1].startswith(str(bin_dir.parent))
    assert not any(Path(p).resolve() == REPO for p in paths[2:] if p), "the checkout is on the path"


def test_tfcam_bench_runs_an_experiment_from_a_users_folder(user):
    bin_dir, home, env = user
    done = run([bin_dir / "tfcam", "bench", *BENCH], cwd=home, env=env)
    shipped = [line for line in done.stdout.splitlines() if "shipped weights" in line]
    assert shipped and str(bin_dir.parent) in shipped[0], done.stdout  # the wheel's weights
    out = home / "outputs" / "shattered_gradients"
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {"shattered_gradients", "localization"} <= {r["task"] for r in rows}
    assert not [r for r in rows if r["metric"] == "error"], [r["error"] for r in rows if r["metric"] == "error"][:3]
    summary = (out / "summary.md").read_text()
    assert f"- command: `tfcam bench {' '.join(BENCH)}`" in summary
    assert f"- tfcam {tfcam.__version__}" in summary


def test_tfcam_bench_passes_on_hydras_verdict(user):
    bin_dir, home, env = user
    bad = subprocess.run([bin_dir / "tfcam", "bench", "experiment=no_such_experiment"], cwd=home,
                         env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1 and "no_such_experiment" in bad.stderr


def test_python_m_tfcam_benchmarks_composes_the_packaged_configs(user):
    bin_dir, home, env = user
    job = run([bin_dir / "python", "-m", "tfcam_benchmarks", "--cfg", "job", "-p", "method",
               "method=grad_cam"], cwd=home, env=env).stdout
    assert "_target_: tfcam_benchmarks.method_adapters.build_explainer" in job
    hydra = run([bin_dir / "python", "-m", "tfcam_benchmarks", "--cfg", "hydra", "--resolve", "-p",
                 "hydra.callbacks"], cwd=home, env=env).stdout
    assert "_target_: tfcam_benchmarks.callbacks.AggregateSweep" in hydra


def test_tfcam_explain_runs_from_a_users_folder(user):
    """On a saved model with ImageNet's 1000 classes: ``--labels imagenet`` reads the class
    names the wheel ships (tfcam/data)."""
    import keras
    import numpy as np
    from skimage import io

    bin_dir, home, env = user
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    outputs = keras.layers.Dense(1000, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(inputs, outputs).save(home / "model.keras")
    io.imsave(home / "cat.png", np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8),
              check_contrast=False)
    run([bin_dir / "tfcam", "explain", "model.keras", "cat.png", "--method", "grad_cam", "--labels",
         "imagenet", "--out", "maps"], cwd=home, env=env)
    assert np.load(home / "maps" / "cat.grad_cam.npy").shape == (16, 16)
    rows = list(csv.DictReader(open(home / "maps" / "explanations.csv")))
    assert len(rows) == 1 and rows[0]["class"].split(" (")[0] in (tfcam.imagenet_classes())
