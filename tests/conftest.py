"""Shared test setup: quiet TensorFlow, deterministic seeds, backend name in the header, and
which tests run on one backend only."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# JAX: one compilation cache for the whole suite, its xdist workers and its subprocesses. The
# tests build the same small nets again and again; a function compiled once is then read
# back, not compiled again (tests/core/test_subclassed.py + test_ranks.py: 127 s -> 99 s from
# an empty cache). Set before Keras imports JAX, which reads these at import.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(tempfile.gettempdir()) / "tfcam-tests-jax-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import keras  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests draw the same examples on every run (derandomize), so that CI's verdict is the
# code's, not the draw's; HYPOTHESIS_PROFILE=explore draws new ones to hunt for bugs.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TESTS = Path(__file__).resolve().parent
# The benchmark's plumbing (configs, data, report, results, baselines) never touches the
# backend: `benchmarks` imports neither TensorFlow nor JAX (tests/test_architecture.py) and
# reaches the backend only through tfcam, whose own tests run on both. Its tests run on
# TensorFlow; on JAX only these, which run the benchmark's JAX path (the app end to end,
# the speed task's precision copies, subclassed models, the metrics' speed and the robustness
# task's known answers, which run tfcam's metrics through the explainers) -- and every one of them with
# TFCAM_TESTS_ALL_BACKENDS=1.
BENCHMARK_TESTS_ON_JAX = ("test_end_to_end.py", "test_speed.py", "test_subclassed_model.py",
                         "test_metrics_speed.py", "test_robustness_task.py")


def pytest_report_header(config):
    return f"keras backend: {keras.backend.backend()}"


def pytest_collection_modifyitems(config, items):
    if keras.backend.backend() != "jax" or os.environ.get("TFCAM_TESTS_ALL_BACKENDS") == "1":
        return
    benchmarks = TESTS / "benchmarks"
    kept, deselected = [], []
    for item in items:
        path = Path(str(item.fspath))
        one_backend = path.parent == benchmarks and path.name not in BENCHMARK_TESTS_ON_JAX
        (deselected if one_backend else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
