#!/usr/bin/env bash
# The test command (README): ruff, the type check of tfcam/ (mypy.ini), the documentation
# site built in strict mode (a broken link or API reference fails), then the whole suite on
# TensorFlow, then on JAX, without the tests marked slow (minutes each: `bash scripts/test.sh
# -m slow` runs just those). Two pytest workers (pytest-xdist; TFCAM_TEST_WORKERS=N for more,
# 0 for none), a test file per worker so that its module fixtures are built once. On JAX the
# benchmark's plumbing tests are deselected (tests/conftest.py says why;
# TFCAM_TESTS_ALL_BACKENDS=1 runs them too).
set -euo pipefail
ruff check .  # the lint rules of pyproject.toml: a clean CI means a clean tree
mypy          # tfcam/ against its annotations; the settings are mypy.ini's
SITE=$(mktemp -d)
trap 'rm -rf "$SITE"' EXIT
# the site of mkdocs.yml (`mkdocs serve` shows it), built where it leaves nothing behind
NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet --site-dir "$SITE"
WORKERS=(-n "${TFCAM_TEST_WORKERS:-2}" --dist loadfile)
KERAS_BACKEND=tensorflow python -m pytest -q -m "not slow" "${WORKERS[@]}" "$@"
KERAS_BACKEND=jax python -m pytest -q -m "not slow" "${WORKERS[@]}" "$@"
