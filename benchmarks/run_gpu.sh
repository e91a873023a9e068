#!/usr/bin/env bash
# Every train-step benchmark on a CUDA GPU: jaxgen on JAX's GPU backend, the
# PyTorch reference with `--torch-device cuda`, side by side in one process as
# on the CPU. GPU steps take milliseconds, so each run has more steps than the
# CPU defaults, and more warmup steps (cuDNN autotuning, XLA autotuning).
#
#   bash benchmarks/run_gpu.sh [OUT_DIR]     # default benchmarks/results/gpu
#
# A benchmark that fails or runs past BENCH_TIMEOUT seconds (default 240) is
# reported and the others still run; the exit status is 1 if any failed.
set -u
out=${1:-benchmarks/results/gpu}
cd "$(dirname "$0")/.."
common=(--torch-device cuda --warmup 10 --repeats 5 --out-dir "$out")
failed=()

bench() {
    echo "== $* (started $(date -u +%H:%M:%S))"
    if ! timeout "${BENCH_TIMEOUT:-240}" python3 "$@" "${common[@]}"; then
        failed+=("$1")
    fi
}

bench benchmarks/diffusion_train_step.py --steps 50 --sample-num 20
bench benchmarks/vae_train_step.py --steps 100
bench benchmarks/gan_train_step.py --steps 200
bench benchmarks/flows_train_step.py --steps 50
bench benchmarks/pixelcnn_train_step.py --steps 50 --sample-num 8

if ((${#failed[@]})); then
    echo "failed: ${failed[*]}"
    exit 1
fi
