#!/bin/sh
# Kernel benchmarks of the CPU executor, each beside its anchor measured in the same run:
#   matmul     n = 256..2048, GFLOP/s = 2n^3/t          vs OpenBLAS cblas_sgemm (same thread count)
#   softmax    1024x1024 (4 MiB: L3), 4096x1024, 16384x256 (16 MiB), 16384x1024 (64 MiB: memory),
#              256x4096, 32x32768 (long rows, 4 MiB), 4096x4096, 512x32768 (64 MiB), 4096x256 (short rows, 4 MiB),
#              GB/s = (read + written bytes)/t
#              vs memcpy of as many bytes
#   relu       64M floats (memory), 128K floats (1 MiB moved: cache)    vs memcpy
#   attention  [H,S,D] q, k, v; GFLOP/s = 4*H*S*S*D/t (half for causal)
#              vs OpenBLAS unfused per head: sgemm Q.K^T, a plain C softmax, sgemm P.V
#   dispatch   ns per dispatch_choose decision (vm/dispatch.h), 1e8 decisions over 1024 ops
# threads 1 and 2; best of a fixed number of timed calls after a warm-up (bench/kernels.c).
# Writes bench/out/kernels.tsv and bench/out/matmul.svg (gnuplot), copied to bench/matmul.svg.
# Usage: sh bench/kernels.sh [BUILD_DIR]   (make bench-kernels)
set -e
build=${1:-build}
cc=${CC:-cc}
lib="$build/lib/libadeadvm.a"
out=bench/out
bin="$build/bench/kernels"
tsv="$out/kernels.tsv"
flags="-std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -ffp-contract=off -O2 -pthread"

[ -f "$lib" ] || { echo "kernels.sh: $lib is missing: run make first" >&2; exit 1; }
mkdir -p "$out" "$build/bench"

# OpenBLAS, when it is there: the anchor of MATMUL and ATTENTION.
if printf '#include <cblas.h>\nint main(void) { return openblas_get_num_threads() < 0; }\n' |
    $cc $flags -x c - -o "$build/bench/blas-probe" -lopenblas >/dev/null 2>&1; then
    blas=1
    $cc $flags -DHAVE_OPENBLAS bench/kernels.c "$lib" -lopenblas -lm -o "$bin"
else
    blas=0
    echo "OpenBLAS not found (apt-get install libopenblas-dev): MATMUL and ATTENTION run without their anchor"
    $cc $flags bench/kernels.c "$lib" -lm -o "$bin"
fi
rm -f "$build/bench/blas-probe"

# The OpenBLAS core: Debian's 0.3.21 may not know the CPU and pick older kernels by itself, and
# an OPENBLAS_CORETYPE inherited from the environment may name a narrower one (half the speed):
# name the widest core the CPU runs, or KERNELS_BLAS_CORE. OpenBLAS reads this when it loads.
core=${KERNELS_BLAS_CORE:-}
if [ -z "$core" ]; then
    if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
        core=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
        core=Haswell
    fi
fi
if [ -n "${OPENBLAS_CORETYPE:-}" ] && [ "$OPENBLAS_CORETYPE" != "$core" ]; then
    echo "note: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE in the environment, replaced by ${core:-(none: OpenBLAS picks)} (KERNELS_BLAS_CORE to choose)"
fi
unset OPENBLAS_CORETYPE OPENBLAS_BLOCK_FACTOR OPENBLAS_THREAD_TIMEOUT OPENBLAS_VERBOSE GOTO_NUM_THREADS OMP_NUM_THREADS
if [ -n "$core" ]; then
    OPENBLAS_CORETYPE=$core
    export OPENBLAS_CORETYPE
fi

# busy_now: the share of CPU time (percent) spent outside idle over one second, from /proc/stat.
busy_now() {
    [ -r /proc/stat ] || { echo 0; return; }
    a=$(head -n1 /proc/stat)
    sleep 1
    b=$(head -n1 /proc/stat)
    echo "$a $b" | awk '{ n = (NF - 2) / 2; for (i = 2; i <= n + 1; i++) { t0 += $i; t1 += $(i + n + 1) }
        i0 = $5 + $6; i1 = $(5 + n + 1) + $(6 + n + 1); d = t1 - t0
        printf "%.0f", (d > 0 ? 100 * (1 - (i1 - i0) / d) : 0) }'
}

# run THREADS ARGS...: one section in its own process, so that OpenBLAS starts with THREADS.
run() {
    t=$1
    shift
    OPENBLAS_NUM_THREADS=$t "$bin" -t "$t" -o "$tsv" "$@"
}

# ours, anchor_best: the rate at the best time; *_median: at the median time; ratio = ours /
# anchor_best; max_abs_diff: largest |ours - anchor| over the outputs (MATMUL, ATTENTION);
# others_busy: % of all CPUs' time other processes took during the section (over 3: measured again).
printf 'section\tcase\tthreads\tlevel\tunit\tours\tours_median\tanchor\tanchor_best\tanchor_median\tratio\treps\tanchor_reps\tmax_abs_diff\tothers_busy\n' >"$tsv"

echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $($cc --version | head -n1)"
if rev=$(git rev-parse --short HEAD 2>/dev/null); then
    [ -n "$(git status --porcelain -- isa vm backends 2>/dev/null)" ] && rev="$rev + uncommitted changes in isa/ vm/ backends/"
    echo "source:   $rev"
fi
OPENBLAS_NUM_THREADS=1 "$bin" info
busy=$(busy_now)
echo "busy:     $busy% of the CPUs used by other processes (over 1 s before the run)"
awk -v b="$busy" 'BEGIN { exit !(b > 10) }' && echo "warning: the machine is busy: the figures will be low and vary"
echo
header() {
    echo "$1"
    printf '%-16s %-22s %3s  %-7s %9s  %-22s %9s  %7s\n' section case thr level ours anchor anchor ratio
}

header "MATMUL: GFLOP/s = 2n^3/t, vs cblas_sgemm (row-major, alpha 1, beta 0); ratio = ours / OpenBLAS"
run 1 matmul
run 2 matmul
# For information: our AVX2 kernels beside OpenBLAS's AVX2 (Haswell) ones.
if [ $blas = 1 ] && [ -n "$core" ]; then
    (OPENBLAS_CORETYPE=Haswell && run 1 -l avx2 -n 1024 -S matmul-avx2 matmul 2>/dev/null) || echo "matmul-avx2: no AVX2 level on this CPU or build"
else
    run 1 -l avx2 -n 1024 -S matmul-avx2 matmul 2>/dev/null || echo "matmul-avx2: no AVX2 level on this CPU or build"
fi
if [ $blas = 1 ]; then # for information: what OpenBLAS does with the core it picks itself
    (unset OPENBLAS_CORETYPE && run 1 -n 1024 -S matmul-blas-auto matmul)
fi
echo

header "SOFTMAX, RELU: GB/s = (bytes read + bytes written)/t, vs memcpy of as many bytes (read + written); target >= 0.8x"
run 1 softmax
run 2 softmax
run 1 relu
run 2 relu
echo

header "ATTENTION: GFLOP/s = 4*H*S*S*D/t (causal: half), vs per head sgemm(Q.K^T), a plain C softmax, sgemm(P.V)"
run 1 attention
run 2 attention
echo

header "DISPATCH: dispatch_choose over 1024 varied ops, 1e8 decisions (best of 3); target <= 2 ns"
run 1 dispatch
echo

busy=$(busy_now)
echo "busy:     $busy% of the CPUs used by other processes (over 1 s after the run)"
echo

# Targets met or not, from the TSV.
awk -F'\t' 'function note() { return $15 > 3 ? sprintf("   (disturbed: others took %d%% of the CPUs)", $15) : "" }
    NR > 1 && ($1 == "softmax" || $1 == "relu") {
        printf "target %-8s %-14s t=%s  %5.2fx memcpy  %s%s\n", $1, $2, $3, $11, ($11 >= 0.8 ? "met" : "NOT met (>= 0.8x)"), note() }
    NR > 1 && $1 == "dispatch" {
        printf "target dispatch %-22s %.2f ns  %s%s\n", $2, $6, ($6 <= 2 ? "met" : "NOT met (<= 2 ns)"), note() }' "$tsv"

# The plot: GFLOP/s against n, ours and OpenBLAS, 1 and 2 threads.
awk -F'\t' 'NR > 1 && $1 == "matmul" {
        n = substr($2, 3) + 0; ns[n] = 1
        ours[n, $3] = $6; blas[n, $3] = ($9 == "-" ? "-" : $9) }
    END {
        print "# n ours_t1 openblas_t1 ours_t2 openblas_t2"
        for (n = 1; n <= 65536; n *= 2) if (n in ns)
            printf "%d %s %s %s %s\n", n, ours[n, 1], blas[n, 1], ours[n, 2], blas[n, 2] }' "$tsv" >"$out/matmul.dat"
if command -v gnuplot >/dev/null 2>&1; then
    cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //')
    gnuplot <<EOF
set terminal svg size 720,480 font "sans,12" background "white" noenhanced
set output "$out/matmul.svg"
set title "MATMUL f32, n x n: ADead-BIB CPU executor vs OpenBLAS ${OPENBLAS_CORETYPE:-(auto)}\n$cpu, $(nproc) cores, $(date -u +%Y-%m-%d)"
set xlabel "n"
set ylabel "GFLOP/s (2 n^3 / t, best of the reps)"
set logscale x 2
set xrange [200:2600]
set yrange [0:*]
set key below horizontal
set grid
set datafile missing "-"
plot "$out/matmul.dat" using 1:2 with linespoints lw 2 pt 7 ps 1.2 lc rgb "#1f77b4" title "ours, 1 thread", \
     "$out/matmul.dat" using 1:3 with linespoints lw 1 pt 6 ps 1.2 lc rgb "#1f77b4" title "OpenBLAS, 1 thread", \
     "$out/matmul.dat" using 1:4 with linespoints lw 2 pt 5 ps 1.2 lc rgb "#d62728" title "ours, 2 threads", \
     "$out/matmul.dat" using 1:5 with linespoints lw 1 pt 4 ps 1.2 lc rgb "#d62728" title "OpenBLAS, 2 threads"
EOF
    cp "$out/matmul.svg" bench/matmul.svg
    echo "wrote $tsv, $out/matmul.svg (copied to bench/matmul.svg)"
else
    echo "wrote $tsv (gnuplot not installed: no plot)"
fi
