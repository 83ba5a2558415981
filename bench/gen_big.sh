#!/bin/sh
# Writes an .adasm program of N instructions (default 1,000,000) to stdout: a mix of integer,
# f32, memory, tensor and branch instructions with a label every 8, as a load-time benchmark.
# The first instruction jumps to the end, so running it measures loading alone.
n=${1:-1000000}
awk -v n="$n" 'BEGIN {
    print ".tensor t f32 [16]"
    print ".tensor u i64 [16]"
    print ".const k i64 7"
    print ".const msg str \"big\""
    print "    JMP end"
    blocks = int((n - 2) / 8)
    for (b = 0; b < blocks; b++) {
        printf "L%d:\n", b
        printf "    LDI r%d, %d\n", b % 200, b
        printf "    ADD r%d, r%d, r%d\n", (b + 1) % 256, b % 256, (b + 7) % 256
        printf "    FMUL r%d, r%d, r%d\n", (b + 2) % 256, (b + 3) % 256, (b + 5) % 256
        printf "    LDK r%d, k\n", (b + 4) % 256
        printf "    TLD r%d, u, r%d\n", (b + 5) % 256, (b + 6) % 256
        printf "    ADDI r%d, r%d, -3\n", (b + 9) % 256, (b + 8) % 256
        printf "    JLT r%d, r%d, L%d\n", b % 256, (b + 1) % 256, (b > 0 ? b - 1 : 0)
        printf "    JGEI r%d, 100, L%d\n", (b + 3) % 256, (b + 1 < blocks ? b + 1 : b)
    }
    print "end:"
    print "    HALT"
}'
