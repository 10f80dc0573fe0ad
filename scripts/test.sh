#!/usr/bin/env bash
# The test command (README): ruff, then the whole suite on TensorFlow, then on JAX, without
# the tests marked slow (minutes each: `bash scripts/test.sh -m slow` runs just those). Two pytest
# workers (pytest-xdist; TFCAM_TEST_WORKERS=N for more, 0 for none), a test file per worker
# so that its module fixtures are built once. On JAX the benchmark's plumbing tests are
# deselected (tests/conftest.py says why; TFCAM_TESTS_ALL_BACKENDS=1 runs them too).
set -euo pipefail
ruff check .  # the lint rules of pyproject.toml: a clean CI means a clean tree
WORKERS=(-n "${TFCAM_TEST_WORKERS:-2}" --dist loadfile)
KERAS_BACKEND=tensorflow python -m pytest -q -m "not slow" "${WORKERS[@]}" "$@"
KERAS_BACKEND=jax python -m pytest -q -m "not slow" "${WORKERS[@]}" "$@"
