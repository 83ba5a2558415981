#!/bin/sh
# `make bench-gpu` (the CUDA executor) and `make bench-vulkan` (the Vulkan executor): the executor
# beside cuBLAS SGEMM (TF32 off), a CUDA device copy and PyTorch on the same NVIDIA GPU, as ratios
# (bench/gpu/). Run it on the GPU machine; for Vulkan there, VK_DRIVER_FILES names the NVIDIA ICD
# (../shared/notes/gpu-anchors.md). On a software Vulkan device (lavapipe: no CUDA driver) the
# Vulkan figures come alone, on small shapes, with the crossover against the CPU executor. PyTorch's
# figures come from bench/gpu/torch_anchor.py, run just before; without torch those ratios are
# left out.
# Usage: sh bench/gpu.sh [BUILD_DIR] [cuda|vulkan]
set -e
build=${1:-build}
executor=${2:-cuda}
cc=${CC:-cc}
plugin="$build/lib/adeadvm/libadeadvm-$executor.so"
[ -f "$plugin" ] || { echo "bench-$executor: skipped: $plugin was not built (cuda: no nvcc; vulkan: no glslc or Vulkan headers)"; exit 0; }
mkdir -p "$build/bench" bench/out
$cc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -ffp-contract=off -O2 -pthread \
    bench/gpu/bench_gpu.c backends/cuda/cuda_driver.c "$build/lib/libadeadvm.a" -lm -ldl -o "$build/bench/bench_gpu"
anchors=bench/out/torch_anchors.txt
: > "$anchors"
if command -v python3 >/dev/null 2>&1; then python3 bench/gpu/torch_anchor.py > "$anchors" || true; fi
date -u +"date: %Y-%m-%d %H:%M UTC"
"$build/bin/adead-vm" --info | grep -E "^(cpu|executor $executor)" || true
"$build/bench/bench_gpu" "$plugin" "$anchors"
[ "$executor" = cuda ] || exit 0
# The whole-program figure: examples/mlp at 8192 wide through adead-vm against PyTorch.
if python3 -c "import numpy" 2>/dev/null; then
    python3 bench/gpu/mlp_e2e.py "$build/bin/adead-vm" "${TMPDIR:-/tmp}/adead-mlp8192" | tee bench/out/mlp_e2e.txt
    awk '/^adead_mlp8192_s/ {a = $2} /^torch_mlp8192_s/ {t = $2}
         END { if (a && t) printf "mlp 8192 wide, end to end: adead-vm %.1f ms, torch %.1f ms: ratio %.2fx\n", a * 1000, t * 1000, t / a }' bench/out/mlp_e2e.txt
else
    echo "mlp end to end: skipped (python3 with numpy not found)"
fi
