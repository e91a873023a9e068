#!/usr/bin/env bash
# Every train-step benchmark on a CUDA GPU: jaxgen on JAX's GPU backend, the
# PyTorch reference with `--torch-device cuda`, eager and under torch.compile
# (`--torch-compile`, the fair peer of a compiled JAX step), side by side in
# one process as on the CPU; then the large U-Net's model-FLOPs utilisation
# in float32 and bfloat16 (unet_mfu.py; bfloat16 passes the config key
# compute_dtype=bfloat16 and is reported as skipped where the config has no
# such key). GPU steps take milliseconds, so each run has more steps than the
# CPU defaults, and more warmup steps (cuDNN/XLA autotuning, torch.compile).
#
#   bash benchmarks/run_gpu.sh [OUT_DIR]          # default benchmarks/results/gpu
#   bash benchmarks/run_gpu.sh --tiny [OUT_DIR]   # CPU check of the script: PyTorch on
#                                                 # the CPU, 1 step, tiny U-Net (default
#                                                 # OUT_DIR /tmp/run_gpu_tiny, torch.compile with
#                                                 # backend aot_eager); not a measurement
#
# A benchmark that fails or runs past BENCH_TIMEOUT seconds (default 240; 900
# with --tiny on a CPU) is reported and the others still run; the exit status
# is 1 if any failed.
set -u
tiny=0
if [[ "${1:-}" == "--tiny" ]]; then
    tiny=1
    shift
fi
cd "$(dirname "$0")/.."
if ((tiny)); then
    out=${1:-/tmp/run_gpu_tiny}
    # aot_eager: torch.compile's Dynamo and AOTAutograd without inductor's C++
    # code generation, which takes many minutes on a loaded 2-core CPU.
    common=(--torch-device cpu --torch-compile-backend aot_eager --warmup 1 --repeats 1
            --num-batches 1 --out-dir "$out")
    timeout_s=${BENCH_TIMEOUT:-900}
else
    out=${1:-benchmarks/results/gpu}
    common=(--torch-device cuda --warmup 10 --repeats 5 --out-dir "$out")
    timeout_s=${BENCH_TIMEOUT:-240}
fi
failed=()

bench() {
    echo "== $* (started $(date -u +%H:%M:%S))"
    if ! timeout "$timeout_s" python3 "$@"; then
        failed+=("$1")
    fi
}

if ((tiny)); then
    bench benchmarks/gan_train_step.py --steps 1 --archs mlp --torch-compile "${common[@]}"
    bench benchmarks/vae_train_step.py --steps 1 --batch-size 8 --torch-compile "${common[@]}"
    bench benchmarks/unet_mfu.py --tiny --steps 1 --warmup 1 --repeats 1 --num-batches 1 \
        --out-dir "$out"
else
    bench benchmarks/diffusion_train_step.py --steps 50 --sample-num 20 --torch-compile "${common[@]}"
    bench benchmarks/vae_train_step.py --steps 100 --torch-compile "${common[@]}"
    bench benchmarks/gan_train_step.py --steps 200 --torch-compile "${common[@]}"
    bench benchmarks/flows_train_step.py --steps 50 --torch-compile "${common[@]}"
    bench benchmarks/pixelcnn_train_step.py --steps 50 --sample-num 8 --torch-compile "${common[@]}"
    # The compute-bound U-Net (43.6M parameters, 32x32x3, batch 128): MFU in fp32 and bf16.
    bench benchmarks/unet_mfu.py --steps 30 --warmup 5 --repeats 5 --out-dir "$out"
fi

if ((${#failed[@]})); then
    echo "failed: ${failed[*]}"
    exit 1
fi
