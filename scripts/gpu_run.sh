#!/usr/bin/env bash
# The GPU benchmarks of docs/gpu.md in one command, on an offline GPU machine with JAX:
#
#   bash scripts/gpu_run.sh [speed_full] [layers_full] [-- extra Hydra overrides]
#
# 1. installs the wheels carried in .whl/ (scripts/gpu_wheels.sh) into /tmp/site;
# 2. writes what the machine is to $OUT/device.txt;
# 3. runs each experiment named (default: both) under `timeout` (STAGE_SECONDS, default 280 s
#    for speed_full and 420 s for layers_full), then rebuilds its summary from the rows written
#    so far, so a stage cut short still reports what it measured.
# $OUT (default outputs/gpu) then holds per experiment <name>.log, <name>-summary.md and
# <name>.tgz (its whole run folder). Models, data and compiled XLA programs are cached under
# .cache/ in the repository and results under outputs/, so a second call on the same machine
# resumes where the first stopped; on a fresh machine, carry gpu-results/<name>.tgz (a
# previous $OUT's tgz) to resume from it.
set -uo pipefail
cd "$(dirname "$0")/.."
stages=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do stages+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#stages[@]} -eq 0 ] && stages=(speed_full layers_full)
out=${OUT:-outputs/gpu}
mkdir -p "$out" outputs .cache

if ! python3 -c "import keras, hydra" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || { echo "cannot install .whl/*.whl" >&2; exit 1; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} KERAS_BACKEND=jax TFCAM_OUTPUTS=$PWD/outputs \
    TFCAM_CACHE=$PWD/.cache/tfcam JAX_COMPILATION_CACHE_DIR=$PWD/.cache/jax

{
    date -u +"%Y-%m-%d %H:%M UTC"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
    python3 - <<'EOF'
import platform, jax, keras, numpy
print("python", platform.python_version(), "| jax", jax.__version__, "| keras", keras.__version__,
      "| numpy", numpy.__version__)
print("devices", jax.devices())
EOF
    git log -1 --format="commit %H %s" 2>/dev/null
} > "$out/device.txt" 2>&1
cat "$out/device.txt"

for stage in "${stages[@]}"; do
    case $stage in
        speed_full) limit=${STAGE_SECONDS:-280} ;;
        *) limit=${STAGE_SECONDS:-420} ;;
    esac
    if [ -f "gpu-results/$stage.tgz" ] && [ ! -d "outputs/$stage" ]; then
        tar xzf "gpu-results/$stage.tgz" -C outputs
    fi
    echo "== $stage (at most $limit s)"
    timeout --signal=INT --kill-after=30 "$limit" \
        python3 -m benchmarks "experiment=$stage" progress=false "$@" >"$out/$stage.log" 2>&1
    echo "exit status $?" >>"$out/$stage.log"
    tail -n 5 "$out/$stage.log"
    python3 -m benchmarks.report "outputs/$stage" >>"$out/$stage.log" 2>&1
    cp "outputs/$stage/summary.md" "$out/$stage-summary.md" 2>/dev/null
    tar czf "$out/$stage.tgz" --exclude='*.stale-*' -C outputs "$stage"
done
ls -l "$out"
