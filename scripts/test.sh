#!/usr/bin/env bash
# The test command (README): the whole suite on TensorFlow, then on JAX.
set -euo pipefail
KERAS_BACKEND=tensorflow python -m pytest -q "$@"
KERAS_BACKEND=jax python -m pytest -q "$@"
