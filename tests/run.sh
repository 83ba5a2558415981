#!/bin/sh
# Runs every test binary given as an argument, from the top of the source tree, and sums what
# cmocka reports. A binary that dies before its summary (a crash, a sanitizer report) counts as
# one failure. Ends with the line "N passed, N failed"; exits 1 when anything failed.
passed=0
failed=0
log=$(mktemp)
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
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
