/* fuzz-kernels: a long randomized differential run of the CPU kernels. Random ops (MATMUL,
 * SOFTMAX, RELU, TADD/TSUB/TMUL, TRANSPOSE, ATTENTION, ATTENTION_CAUSAL), random shapes and
 * edge-heavy inputs (tests/kernel_diff.h), each run at every SIMD level this host has and at 1, 2
 * and 7 threads, compared bit for bit with the scalar reference, until the input elements fed
 * reach the target. Not part of `make test`:
 *
 *     make fuzz-kernels [FUZZ_INPUTS=1e8] [FUZZ_SEED=n]
 *     build/tests/fuzz_kernels [INPUTS [SEED [CASE]]]     (CASE: replay that one case only)
 *
 * Prints progress, every mismatch (op, level, threads, shapes, first differing element, both
 * bit patterns, and the seed and case number that replay it), and a last line
 * "fuzz-kernels: N inputs, M mismatches"; exits 1 on any mismatch. */
#include "kernel_diff.h"

#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    double target = 1e7;
    uint64_t seed = 0;
    if (argc > 1 && *argv[1]) {
        char *end;
        target = strtod(argv[1], &end);
        if (*end || !(target >= 0)) {
            fprintf(stderr, "usage: %s [INPUTS [SEED [CASE]]]  (INPUTS like 1e7)\n", argv[0]);
            return 2;
        }
    }
    if (argc > 2 && *argv[2]) {
        char *end;
        seed = strtoull(argv[2], &end, 0);
        if (*end) {
            fprintf(stderr, "usage: %s [INPUTS [SEED [CASE]]]\n", argv[0]);
            return 2;
        }
    } else {
        seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    }
    if (!seed) seed = 1;
    int64_t only = -1;
    if (argc > 3) only = (int64_t)strtoull(argv[3], NULL, 0);

    kd_ctx ctx;
    if (kd_ctx_init(&ctx, "fuzz-kernels")) {
        fprintf(stderr, "fuzz-kernels: cannot create the CPU executor\n");
        return 2;
    }
    ctx.max_reports = 50;
    printf("fuzz-kernels: seed %llu, target %.0f inputs, levels", (unsigned long long)seed, target);
    for (int i = 0; i < ctx.n_levels; i++) printf(" %s", simd_name((simd_level)ctx.levels[i]));
    printf(", threads 1 2 7\n");
    fflush(stdout);

    /* Each case has its own generator, seeded from (seed, case number): a mismatch names both, and
     * `fuzz_kernels 0 SEED CASE` replays just that case. */
    static const int ops[] = {OP_MATMUL, OP_SOFTMAX, OP_RELU, OP_TADD, OP_TSUB, OP_TMUL, OP_TRANSPOSE, OP_ATTENTION, OP_ATTENTION_CAUSAL};
    enum { N_OPS = sizeof ops / sizeof ops[0] };
    uint64_t per_op_cases[N_OPS] = {0}, per_op_fed[N_OPS] = {0};
    double t0 = now(), next_report = t0 + 10;
    double step = target / 10, next_mark = step;
    uint64_t n = only >= 0 ? (uint64_t)only : 0;
    while ((double)ctx.fed < target || (only >= 0 && n == (uint64_t)only)) {
        kd_rng r = {seed * 0x9E3779B97F4A7C15ull + n * 0xD1B54A32D192ED03ull + 1};
        for (int i = 0; i < 4; i++) kd_next(&r);
        int oi = (int)kd_below(&r, N_OPS);
        /* Mostly small cases (where edges are), now and then a big one (blocking, pool items). */
        int64_t budget = kd_below(&r, 2) ? 20000 : kd_below(&r, 4) ? 400000 : 3000000;
        kd_case c;
        kd_random_case(&c, &r, ops[oi], budget);
        uint64_t before = ctx.mismatches;
        per_op_cases[oi]++;
        per_op_fed[oi] += (uint64_t)c.fed;
        if (only >= 0) printf("fuzz-kernels: case %llu: %s\n", (unsigned long long)n, c.desc);
        kd_check(&ctx, &c);
        if (ctx.mismatches != before && ctx.reports <= ctx.max_reports)
            fprintf(stderr, "  (replay: seed %llu, case %llu: %s)\n", (unsigned long long)seed, (unsigned long long)n, c.desc);
        kd_case_free(&c);
        n++;
        double t = now();
        if ((double)ctx.fed >= next_mark || t >= next_report) {
            printf("fuzz-kernels: %llu inputs, %llu cases, %llu runs, %llu mismatches, %.0f s\n", (unsigned long long)ctx.fed,
                   (unsigned long long)ctx.cases, (unsigned long long)ctx.runs, (unsigned long long)ctx.mismatches, t - t0);
            fflush(stdout);
            while ((double)ctx.fed >= next_mark) next_mark += step > 0 ? step : 1;
            next_report = t + 10;
        }
        if (only >= 0) break;
        if (ctx.mismatches >= 1000) {
            printf("fuzz-kernels: stopping after 1000 mismatches\n");
            break;
        }
    }
    for (int i = 0; i < N_OPS; i++)
        printf("  %-17s %8llu cases %12llu inputs\n", isa_ops[ops[i]].name, (unsigned long long)per_op_cases[i], (unsigned long long)per_op_fed[i]);
    printf("fuzz-kernels: %llu inputs, %llu mismatches (seed %llu, %llu cases, %llu runs, %.0f s)\n", (unsigned long long)ctx.fed,
           (unsigned long long)ctx.mismatches, (unsigned long long)seed, (unsigned long long)ctx.cases, (unsigned long long)ctx.runs, now() - t0);
    if (ctx.mismatches) fprintf(stderr, "fuzz-kernels: the first mismatch: %s\n", ctx.first);
    int rc = ctx.mismatches ? 1 : 0;
    kd_ctx_free(&ctx);
    return rc;
}
