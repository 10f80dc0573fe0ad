#!/usr/bin/env bash
# The test command (README): the whole suite on TensorFlow, then on JAX, without the tests
# marked slow (minutes each: `bash scripts/test.sh -m slow` runs just those).
set -euo pipefail
KERAS_BACKEND=tensorflow python -m pytest -q -m "not slow" "$@"
KERAS_BACKEND=jax python -m pytest -q -m "not slow" "$@"
