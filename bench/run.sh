#!/bin/sh
# Interpreter benchmarks, each beside its anchors measured in the same run (best of 5):
#   loop:  total = sum of 0..10^8-1      adead-vm vs lua5.4 and luajit -joff
#   calls: recursive fib(32), 7,049,155 calls
#   load:  assembling and loading (verify + pre-decode) a generated 1M-instruction program
# Usage: sh bench/run.sh [BUILD_DIR]   (make bench)
set -e
build=${1:-build}
vm="$build/bin/adead-vm"
asm="$build/bin/adead-asm"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

now_ns() { date +%s%N; }

# best_of CMD...: the fastest of five runs of CMD, in nanoseconds.
best_of() {
    best=
    for _ in 1 2 3 4 5; do
        t0=$(now_ns)
        "$@" >/dev/null 2>&1
        t1=$(now_ns)
        d=$((t1 - t0))
        if [ -z "$best" ] || [ "$d" -lt "$best" ]; then best=$d; fi
    done
    echo "$best"
}

have() { command -v "$1" >/dev/null 2>&1; }

per() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.3f", t / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "adead-vm $("$vm" --version | cut -d' ' -f2), fuel on (always)"
echo

report() { # name count unit vm_ns [anchor_name anchor_ns]...
    name=$1 count=$2 unit=$3 vm_ns=$4
    shift 4
    vm_per=$(per "$vm_ns" "$count")
    printf '%-6s adead-vm       %8s ns/%s\n' "$name" "$vm_per" "$unit"
    best_anchor=
    while [ $# -ge 2 ]; do
        a_per=$(per "$2" "$count")
        printf '%-6s %-14s %8s ns/%s   adead-vm is %sx faster\n' "$name" "$1" "$a_per" "$unit" "$(ratio "$2" "$vm_ns")"
        if [ -z "$best_anchor" ] || [ "$2" -lt "$best_anchor" ]; then best_anchor=$2; fi
        shift 2
    done
    [ -n "$best_anchor" ] && printf '%-6s against the best anchor: %sx (target 1.5x)\n' "$name" "$(ratio "$best_anchor" "$vm_ns")"
    echo
}

for prog in sum fib; do
    if [ $prog = sum ]; then count=100000000 unit=iter; else count=7049155 unit=call; fi
    vm_ns=$(best_of "$vm" --quiet bench/$prog.adasm)
    set --
    if have lua5.4; then set -- "$@" "lua5.4" "$(best_of lua5.4 bench/$prog.lua)"; fi
    if have luajit; then set -- "$@" "luajit-joff" "$(best_of luajit -joff bench/$prog.lua)"; fi
    [ $# -eq 0 ] && echo "(lua5.4 and luajit not installed: apt-get install lua5.4 luajit)"
    report "$prog" "$count" "$unit" "$vm_ns" "$@"
done

sh bench/gen_big.sh 1000000 >"$tmp/big.adasm"
lines=$(grep -c '^    ' "$tmp/big.adasm")
asm_ns=$(best_of "$asm" "$tmp/big.adasm" -o "$tmp/big.bib")
"$asm" "$tmp/big.adasm" -o "$tmp/big.bib"
load_ns=$(best_of "$vm" --quiet "$tmp/big.bib")
echo "load   $lines instructions, $(wc -c <"$tmp/big.bib") bytes of .bib"
echo "load   adead-asm (parse + assemble + verify + write): $(per "$asm_ns" 1000000) ms, $(per "$asm_ns" "$lines") ns/instruction"
echo "load   adead-vm (read + verify + pre-decode + run a JMP and HALT): $(per "$load_ns" 1000000) ms, $(per "$load_ns" "$lines") ns/instruction"
