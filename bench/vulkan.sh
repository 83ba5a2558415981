#!/bin/sh
# `make bench-vulkan`: the Vulkan executor beside cuBLAS SGEMM (TF32 off), a CUDA device copy and
# PyTorch on the same NVIDIA GPU, and beside our CUDA executor (bench/gpu.sh's figures, run in the
# same call), as ratios; on lavapipe (no CUDA driver) the Vulkan figures alone, for information,
# with the CPU/device crossover against our CPU executor. Run it on the GPU machine with
# VK_DRIVER_FILES naming the NVIDIA ICD (../shared/notes/gpu-anchors.md).
# Usage: sh bench/vulkan.sh [BUILD_DIR]
set -e
build=${1:-build}
cc=${CC:-cc}
plugin="$build/lib/adeadvm/libadeadvm-vulkan.so"
[ -f "$plugin" ] || { echo "bench-vulkan: skipped: $plugin was not built (no glslc or Vulkan headers)"; exit 0; }
mkdir -p "$build/bench" bench/out
$cc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -ffp-contract=off -O2 -pthread \
    bench/gpu/bench_gpu.c backends/cuda/cuda_driver.c "$build/lib/libadeadvm.a" -lm -ldl -o "$build/bench/bench_gpu"
anchors=bench/out/torch_anchors.txt
[ -s "$anchors" ] || { : > "$anchors"; if command -v python3 >/dev/null 2>&1; then python3 bench/gpu/torch_anchor.py > "$anchors" || true; fi; }
date -u +"date: %Y-%m-%d %H:%M UTC"
"$build/bin/adead-vm" --info | grep -E '^(cpu|executor vulkan)' || true
"$build/bench/bench_gpu" "$plugin" "$anchors"
