#!/usr/bin/env bash
# Download, on a machine with network access, the wheels that an offline GPU machine with JAX
# (CPython 3.12, x86-64, no TensorFlow) lacks to run tfcam and the benchmarks. See docs/gpu.md.
#
#   bash scripts/gpu_wheels.sh [DEST=.whl]
#
# What such images already hold (numpy, scipy, pandas, scikit-image, matplotlib, tqdm, h5py,
# ml-dtypes, absl-py, rich, packaging, PyYAML, typing-extensions, jax) is not fetched: add a
# name to EXTRA (e.g. EXTRA="h5py==3.16.0") for a machine that lacks one. The versions are
# those this repository is tested with; antlr4-python3-runtime 4.9.3 (which omegaconf pins)
# exists on PyPI only as a source archive, so it is built here into a pure-Python wheel.
set -euo pipefail
dest=${1:-.whl}
python_version=${PYTHON_VERSION:-3.12}
mkdir -p "$dest"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
    platforms+=(--platform "$p")
done
# shellcheck disable=SC2086  # EXTRA is a list of requirement strings
python3 -m pip download --quiet --no-deps --only-binary=:all: --implementation cp \
    --python-version "$python_version" "${platforms[@]}" -d "$dest" \
    keras==3.15.1 namex==0.1.0 optree==0.20.0 hydra-core==1.3.8 omegaconf==2.3.1 ${EXTRA:-}
python3 -m pip wheel --quiet --no-deps -w "$dest" antlr4-python3-runtime==4.9.3
ls -l "$dest"
du -sh "$dest"
