#!/bin/sh
# Runs every test binary given as an argument, from the top of the source tree, and sums what
# cmocka reports. A binary that dies before its summary (a crash, a sanitizer report) counts as
# one failure. Ends with the line "N passed, N failed"; exits 1 when anything failed.
passed=0
failed=0
log=$(mktemp)
# The Vulkan driver's own leaks are not reported (tests/lsan.supp); ours still are.
LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS

# A suite outside cmocka into the totals: tally NAME STATUS PASSED FAILED (its output in $log).
# A failing status with no failure counted is one failure (it died before reporting).
tally() {
    t_failed=$4
    if [ "$2" -ne 0 ] && [ "$t_failed" -eq 0 ]; then t_failed=1; fi
    if [ "$t_failed" -ne 0 ]; then
        echo "---- $1"
        cat "$log"
    else
        echo "ok   $1 ($3)"
    fi
    passed=$((passed + $3))
    failed=$((failed + t_failed))
}
for t in "$@"; do
    "$t" >"$log" 2>&1
    status=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    p=${p:-0}
    f=${f:-0}
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # died before reporting
    fi
    if [ "$f" -ne 0 ]; then
        echo "---- $t (exit $status)"
        cat "$log"
    else
        echo "ok   $t ($p)"
        grep '^skip ' "$log" # a part that cannot run here says so in one line
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done

# The Python binding (bindings/python): built with pip from these sources into a scratch folder
# and run by pytest, its tests counted one by one. Not under SANITIZE=1 (an ASan library cannot
# load into a Python without ASan; the normal build runs it).
if [ "${SANITIZE:-}" = 1 ]; then
    echo "skip python: not under SANITIZE=1 (the normal build runs it)"
elif ! python3 -c "import numpy, pytest, setuptools, wheel" >/dev/null 2>&1; then
    echo "skip python: python3 with numpy, pytest, setuptools and wheel not found (pip install numpy pytest setuptools wheel)"
else
    pydir=$(mktemp -d)
    if MAKEFLAGS= MAKELEVEL= python3 -m pip install -q --no-build-isolation --target "$pydir" ./bindings/python >"$log" 2>&1 &&
        PYTHONPATH="$pydir" python3 -m pytest -q -p no:cacheprovider bindings/python/tests >>"$log" 2>&1; then
        status=0
    else
        status=1
    fi
    line=$(grep -E '^[0-9]+ (passed|failed)|^=* ?[0-9]+ (passed|failed)' "$log" | tail -n 1)
    p=$(echo "$line" | sed -n 's/.*\b\([0-9][0-9]*\) passed.*/\1/p')
    f=$(echo "$line" | sed -n 's/.*\b\([0-9][0-9]*\) failed.*/\1/p')
    tally "python bindings" "$status" "${p:-0}" "${f:-0}"
    rm -rf "$pydir"
fi

# The Rust binding (bindings/rust): cargo test offline (no crates from a registry), its tests
# counted one by one; not under SANITIZE=1, as the Python one.
if [ "${SANITIZE:-}" = 1 ]; then
    echo "skip rust: not under SANITIZE=1 (the normal build runs it)"
elif ! command -v cargo >/dev/null 2>&1; then
    echo "skip rust: cargo not found"
else
    if MAKEFLAGS= MAKELEVEL= CARGO_TARGET_DIR="${ADEAD_BUILD:-build}/rust" ADEAD_BUILD="${ADEAD_BUILD:-build}" \
        cargo test --offline --manifest-path bindings/rust/Cargo.toml >"$log" 2>&1; then
        status=0
    else
        status=1
    fi
    p=$(sed -n 's/^test result: .* \([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
    f=$(sed -n 's/^test result: .* \([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed.*/\2/p' "$log" | awk '{s += $1} END {print s + 0}')
    tally "rust bindings" "$status" "$p" "$f"
fi

# The Zig binding (bindings/zig): zig test, where a zig with @cImport is found (0.14 and 0.15; the
# ziglang package on PyPI ships one), against the static library; not under SANITIZE=1.
zig=""
if command -v zig >/dev/null 2>&1; then zig=zig; elif python3 -m ziglang version >/dev/null 2>&1; then zig="python3 -m ziglang"; fi
zigv=$([ -n "$zig" ] && $zig version 2>/dev/null)
if [ "${SANITIZE:-}" = 1 ]; then
    echo "skip zig: not under SANITIZE=1 (the normal build runs it)"
elif [ -z "$zig" ]; then
    echo "skip zig: no zig compiler (pip install ziglang==0.14.1)"
elif ! echo "$zigv" | grep -Eq '^0\.1[45]\.'; then
    echo "skip zig: zig $zigv has no @cImport (bindings/zig wants 0.14 or 0.15: pip install ziglang==0.14.1)"
else
    b="${ADEAD_BUILD:-build}"
    if ZIG_LOCAL_CACHE_DIR="$b/zig-cache" ZIG_GLOBAL_CACHE_DIR="$b/zig-cache-global" \
        $zig test bindings/zig/test.zig -I include -lc "$b/lib/libadeadvm.a" -lm -lpthread >"$log" 2>&1; then
        status=0
    else
        status=1
    fi
    p=$(sed -n 's/^All \([0-9][0-9]*\) tests passed\.$/\1/p' "$log" | tail -n 1)
    p=${p:-$(sed -n 's/^\([0-9][0-9]*\) passed; \([0-9][0-9]*\) skipped; \([0-9][0-9]*\) failed\.$/\1/p' "$log" | tail -n 1)}
    f=$(sed -n 's/^\([0-9][0-9]*\) passed; \([0-9][0-9]*\) skipped; \([0-9][0-9]*\) failed\.$/\3/p' "$log" | tail -n 1)
    tally "zig bindings, zig $zigv" "$status" "${p:-0}" "${f:-0}"
fi

# The NEON kernels: cross-built for AArch64 and run under qemu-user (make neon-test), counted as
# one entry. Skipped under SANITIZE=1: the sanitizers do not reach the cross build, and the
# normal run of `make check` covers it.
if [ "${SANITIZE:-}" = 1 ]; then
    echo "skip neon: not under SANITIZE=1 (the normal build runs it)"
elif command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1; then
    # MAKEFLAGS from an outer make -j names a jobserver this shell does not pass on.
    MAKEFLAGS= MAKELEVEL= make -s -j"$(nproc 2>/dev/null || echo 2)" neon-test >"$log" 2>&1
    status=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ "$status" -eq 0 ] && [ -n "$line" ] && [ "${line#* passed, }" = "0 failed" ]; then
        echo "ok   neon under qemu-aarch64 ($line)"
        passed=$((passed + 1))
    else
        echo "---- neon under qemu-aarch64 (exit $status)"
        cat "$log"
        failed=$((failed + 1))
    fi
else
    echo "skip neon: aarch64-linux-gnu-gcc or qemu-aarch64 not installed"
fi
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
