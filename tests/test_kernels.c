/* The CPU executor's kernels, differentially: every op x every SIMD level this host has x 1, 2
 * and 7 threads, against the scalar reference (backends/cpu/ref_ops.c), BIT FOR BIT, on shapes
 * around the micro-tiles, the blocking and the attention blocks, and on inputs full of NaN
 * payloads, ±inf, subnormals, ±0, values near overflow and near the FTZ boundary
 * (tests/kernel_diff.h). Then the SSE2 level's emulated fused multiply-add against the model's
 * f32_fma on a few million edge-heavy triples, ATTENTION through assembled programs, and the
 * SIMD/thread selection API and environment. A longer randomized run: `make fuzz-kernels`. */
#include "kernel_diff.h"
#include "testutil.h"

#if defined(__x86_64__)
#include "../backends/cpu/simd/v_sse2.h" /* static inline vfma: the emulation under test */
#endif

/* The sanitizer build runs slower (2-3x here): fewer random cases there. */
#define REPS(n) (KD_SANITIZED ? ((n) + 1) / 2 : (n))

static kd_ctx ctx;

static int group_setup(void **state)
{
    (void)state;
    return kd_ctx_init(&ctx, "test_kernels");
}

static int group_teardown(void **state)
{
    (void)state;
    kd_ctx_free(&ctx);
    return 0;
}

/* Each test starts clean and fails at its end with the count and the first mismatch. */
static uint64_t mismatches_at_start;
static void begin(void)
{
    mismatches_at_start = ctx.mismatches;
    ctx.first[0] = 0;
}
static void finish(const char *what)
{
    uint64_t n = ctx.mismatches - mismatches_at_start;
    if (n) fail_msg("%s: %llu mismatching runs (all printed above, up to %d); the first: %s", what, (unsigned long long)n, ctx.max_reports,
                    ctx.first);
}

static void check(kd_case *c) { kd_check_free(&ctx, c); }

/* ---------------------------------------------------------------- MATMUL */

/* Around each level's micro-tile (mr x nr): one less, exact, one more, two tiles and a bit. */
static void test_matmul_tiles(void **state)
{
    (void)state;
    begin();
    int tiles[8][2] = {{4, 8}, {6, 16}, {14, 32}}, n_tiles = 3;
    for (int l = 0; l < SIMD_LEVELS; l++) { /* and whatever the tables say, should they change */
        const cpu_kernels *k = cpu_kernels_for((simd_level)l);
        if (k && k->gemm_micro && n_tiles < 8) tiles[n_tiles][0] = k->mr, tiles[n_tiles++][1] = k->nr;
    }
    static const int64_t ks[] = {1, 2, 3, 17, 8};
    static const int modes[] = {KD_NORMAL, KD_SPARSE, KD_MIXED, KD_FTZ, KD_INT};
    kd_rng r = {101};
    int x = 0;
    for (int t = 0; t < n_tiles; t++) {
        int64_t mr = tiles[t][0], nr = tiles[t][1];
        int64_t Ms[] = {1, mr - 1, mr, mr + 1, 2 * mr + 1}, Ns[] = {1, nr - 1, nr, nr + 1, 2 * nr + 3};
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++, x++) {
                if (Ms[i] < 1 || Ns[j] < 1) continue;
                kd_case c;
                kd_matmul(&c, &r, Ms[i], ks[x % 5], Ns[j], modes[x % 5], modes[(x / 5) % 5]);
                check(&c);
            }
    }
    finish("MATMUL around the micro-tiles");
}

/* Over the cache blocking (KC = 384, MC = 168 rows, NC = 3072) and the thread splits (row items
 * evened over threads, column groups when A is short). */
static void test_matmul_blocking(void **state)
{
    (void)state;
    begin();
    static const int64_t shapes[][3] = {
        {3, 385, 20},  {2, 769, 9},   {3, 5, 3073},  {3, 390, 3100}, {169, 9, 33}, {170, 3, 65},  {3, 400, 300},
        {40, 70, 100}, {2, 1000, 33}, {29, 64, 2},   {1, 384, 3072}, {15, 1, 3081}, {337, 2, 17}, {64, 385, 64},
    };
    static const int modes[] = {KD_NORMAL, KD_SPARSE, KD_FTZ, KD_INT, KD_MIXED};
    kd_rng r = {102};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        kd_case c;
        kd_matmul(&c, &r, shapes[s][0], shapes[s][1], shapes[s][2], modes[s % 5], modes[(s + 1) % 5]);
        check(&c);
    }
    finish("MATMUL over the blocking");
}

/* K = 0 (the empty chain: +0 everywhere) and empty results (nothing written). */
static void test_matmul_empty_and_k0(void **state)
{
    (void)state;
    begin();
    static const int64_t shapes[][3] = {{0, 5, 3}, {3, 5, 0}, {0, 0, 0}, {3, 0, 5}, {1, 0, 1}, {0, 0, 7}, {5, 0, 0}, {15, 0, 33}, {0, 385, 3}};
    kd_rng r = {103};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        kd_case c;
        kd_matmul(&c, &r, shapes[s][0], shapes[s][1], shapes[s][2], KD_MIXED, KD_MIXED);
        check(&c);
    }
    finish("MATMUL with K = 0 or an empty result");
}

/* Chains whose products (2^-63 (1+u) x 2^-63 (1-u)) and partial sums sit on the FTZ boundary. */
static void test_matmul_ftz_boundary(void **state)
{
    (void)state;
    begin();
    kd_rng r = {104};
    for (int i = 0; i < REPS(300); i++) {
        kd_case c;
        kd_matmul(&c, &r, kd_size(&r, 40), kd_size(&r, 70), kd_size(&r, 70), KD_FTZ, kd_below(&r, 4) ? KD_FTZ : KD_NORMAL);
        check(&c);
    }
    finish("MATMUL near FLT_MIN");
}

static void test_matmul_random(void **state)
{
    (void)state;
    begin();
    kd_rng r = {105};
    for (int i = 0; i < REPS(800); i++) {
        kd_case c;
        kd_random_case(&c, &r, OP_MATMUL, 60000);
        check(&c);
    }
    finish("MATMUL, random shapes");
}

/* ---------------------------------------------------------------- SOFTMAX */

static void test_softmax_row_kinds(void **state)
{
    (void)state;
    begin();
    static const int64_t lens[] = {1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257, 1000};
    kd_rng r = {201};
    int x = 0;
    for (int kind = 0; kind < KD_ROW_KINDS; kind++)
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++, x++) {
            int64_t dims[3] = {1 + x % 2, 1 + x % 3, lens[l]};
            int rank = x % 3 == 0 ? 1 : 3;
            kd_case c;
            kd_softmax(&c, &r, rank, rank == 1 ? dims + 2 : dims, x % 4 == 3 ? -1 : kind, x % 5 == 0);
            check(&c);
        }
    finish("SOFTMAX row kinds");
}

/* Several pool items (65536 elements each), and rows longer than an item. */
static void test_softmax_items(void **state)
{
    (void)state;
    begin();
    kd_rng r = {202};
    int64_t many[2] = {3900, 17}, long_rows[2] = {2, 70001}, mid[3] = {3, 129, 257}, no_rows[2] = {0, 5}, empty_rows[3] = {2, 3, 0};
    int64_t tmp_longest[2] = {5, SOFTMAX_TMP_ROW}, tmp_past[2] = {3, SOFTMAX_TMP_ROW + 1}; /* the kernel's two paths */
    kd_case c;
    kd_softmax(&c, &r, 2, tmp_longest, -1, 0);
    check(&c);
    kd_softmax(&c, &r, 2, tmp_past, -1, 1);
    check(&c);
    kd_softmax(&c, &r, 2, many, -1, 0);
    check(&c);
    kd_softmax(&c, &r, 2, no_rows, -1, 0); /* empty results: nothing written */
    check(&c);
    kd_softmax(&c, &r, 3, empty_rows, -1, 1);
    check(&c);
    kd_softmax(&c, &r, 2, long_rows, 1, 1);
    check(&c);
    kd_softmax(&c, &r, 3, mid, -1, 1);
    check(&c);
    finish("SOFTMAX over several items, and empty");
}

static void test_softmax_random(void **state)
{
    (void)state;
    begin();
    kd_rng r = {203};
    for (int i = 0; i < REPS(500); i++) {
        kd_case c;
        kd_random_case(&c, &r, OP_SOFTMAX, 30000);
        check(&c);
    }
    finish("SOFTMAX, random shapes");
}

/* Every level's vector exp against f32_exp (docs/ops.md 1.2) on the arguments SOFTMAX and
 * ATTENTION give it: every 251st non-positive float (1021st under ASan), both sides of XLO and of ln(FLT_MIN) ulp by
 * ulp, and the specials (-0, subnormals, -inf, NaNs). */
/* Runs level l's exp over x[0..n) and counts (and prints a few) differences from f32_exp. */
static int exp_mismatches(const cpu_kernels *k, int l, const float *x, float *got, int64_t n, int reported)
{
    fpenv env = fpenv_enter((simd_level)l);
    k->exp_nonpos(x, got, n);
    fpenv_leave((simd_level)l, env);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t want = f32_bits(f32_exp(x[i]));
        if (f32_bits(got[i]) != want && reported + bad++ < 10)
            print_message("%s: exp(%08x) = %08x, reference %08x\n", simd_name((simd_level)l), f32_bits(x[i]), f32_bits(got[i]),
                          want);
    }
    return bad;
}

static void test_exp_kernels(void **state)
{
    (void)state;
    enum { BATCH = 1 << 15, STEP = KD_SANITIZED ? 1021 : 251 };
    static float x[BATCH], got[BATCH], edge[300];
    int64_t ne = 0;
    static const uint32_t specials[] = {0x00000000u, 0x80000000u, 0x80000001u, 0x807FFFFFu, 0x00400000u, 0xFF800000u,
                                        0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFFFFFFFFu, 0xC2B20000u, 0xC2D00000u};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) edge[ne++] = f32_from(specials[i]);
    for (int d = -64; d <= 64; d++) {
        edge[ne++] = f32_from(F32_EXP_XLO_BITS + (uint32_t)d);
        edge[ne++] = f32_from(0xC2AEAC4Fu + (uint32_t)d); /* ln(FLT_MIN) */
    }
    int bad = 0, levels = 0;
    for (int l = 0; l < SIMD_LEVELS; l++) {
        const cpu_kernels *k = cpu_kernels_for((simd_level)l);
        if (!k || !cpu_detect()->has[l]) continue;
        levels++;
        bad += exp_mismatches(k, l, edge, got, ne, bad);
        uint64_t v = 0x80000000u;
        while (v <= 0xFF800000u) {
            int64_t m = 0;
            for (; m < BATCH && v <= 0xFF800000u; v += STEP) x[m++] = f32_from((uint32_t)v);
            bad += exp_mismatches(k, l, x, got, m, bad);
        }
    }
    assert_true(levels >= 1);
    assert_int_equal(bad, 0);
}

/* ---------------------------------------------------------------- RELU */

static void test_relu(void **state)
{
    (void)state;
    begin();
    /* The driver cuts RELU into runs of 16384 elements: both sides of one and of four runs. */
    static const int64_t counts[] = {0,  1,  2,  3,  4,   5,    7,     8,     9,     15,    16,    17,    31,    32,
                                     33, 63, 64, 65, 100, 1000, 16383, 16384, 16385, 65535, 65536, 65537, 140001};
    kd_rng r = {301};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        for (int in_place = 0; in_place < 2; in_place++) {
            kd_case c;
            kd_relu(&c, &r, counts[i], in_place ? KD_MIXED : (int)(i % KD_MODES), in_place);
            check(&c);
        }
    for (int i = 0; i < REPS(200); i++) {
        kd_case c;
        kd_random_case(&c, &r, OP_RELU, 100000);
        check(&c);
    }
    finish("RELU");
}

/* ---------------------------------------------------------------- TADD / TSUB / TMUL */

static void test_elementwise_shapes(void **state)
{
    (void)state;
    begin();
    static const struct {
        int ra;
        int64_t a[4];
        int rb;
        int64_t b[4];
    } cases[] = {
        {2, {5, 7}, 1, {7}},          {2, {5, 7}, 2, {5, 1}},          {1, {1}, 4, {2, 3, 4, 5}},      {4, {2, 1, 4, 1}, 4, {1, 3, 1, 5}},
        {2, {33, 65}, 2, {33, 65}},   {0, {0}, 1, {7}},                {1, {17}, 0, {0}},              {2, {0, 3}, 1, {3}},
        {1, {5}, 1, {1}},             {1, {70000}, 1, {1}},            {2, {3, 70000}, 1, {70000}},    {2, {300, 300}, 2, {300, 1}},
        {3, {2, 1, 3}, 2, {4, 1}},    {4, {2, 3, 1, 17}, 2, {5, 1}},   {3, {1, 1, 1}, 3, {1, 1, 1}},   {2, {1, 33}, 2, {65, 1}},
        {4, {1, 2, 1, 1}, 1, {129}},  {2, {130, 3}, 3, {2, 1, 3}},     {1, {0}, 1, {1}},               {4, {2, 3, 4, 5}, 4, {2, 3, 4, 5}},
    };
    static const int ops[] = {OP_TADD, OP_TSUB, OP_TMUL};
    kd_rng r = {401};
    int x = 0;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++)
        for (int o = 0; o < 3; o++)
            for (int alias = -1; alias <= 1; alias++, x++) {
                kd_case c;
                kd_elementwise(&c, &r, ops[o], cases[t].ra, cases[t].a, cases[t].rb, cases[t].b, (int)(x % KD_MODES),
                               (int)((x / 3) % KD_MODES), alias, 0);
                check(&c);
            }
    /* One buffer as both operands (TADD c, a, a). */
    int64_t d[2] = {9, 33};
    for (int o = 0; o < 3; o++) {
        kd_case c;
        kd_elementwise(&c, &r, ops[o], 2, d, 2, d, KD_MIXED, KD_MIXED, -1, 1);
        check(&c);
    }
    finish("TADD/TSUB/TMUL broadcasting shapes");
}

static void test_elementwise_random(void **state)
{
    (void)state;
    begin();
    kd_rng r = {402};
    for (int i = 0; i < REPS(1200); i++) {
        kd_case c;
        kd_random_case(&c, &r, OP_TADD + (int)kd_below(&r, 3), 20000);
        check(&c);
    }
    finish("TADD/TSUB/TMUL, random shapes");
}

/* ---------------------------------------------------------------- TRANSPOSE */

static void test_transpose(void **state)
{
    (void)state;
    begin();
    static const int64_t sizes[] = {1, 2, 31, 32, 33, 64, 65, 100};
    static const int64_t big[][2] = {{1000, 3}, {3, 1000}, {0, 5}, {5, 0}, {257, 129}, {0, 0}};
    static const uint32_t dts[] = {BIB_DT_F32, BIB_DT_I32, BIB_DT_I64};
    kd_rng r = {501};
    int x = 0;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++, x++) {
            kd_case c;
            kd_transpose(&c, &r, sizes[i], sizes[j], dts[x % 3]);
            check(&c);
        }
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        for (int t = 0; t < 3; t++) {
            kd_case c;
            kd_transpose(&c, &r, big[i][0], big[i][1], dts[t]);
            check(&c);
        }
    finish("TRANSPOSE");
}

/* ---------------------------------------------------------------- ATTENTION */

/* D and Dv over {1, 3, 16, 17, 64, 65}, causal and not, ranks 2..4, Sq below, at and over Sk,
 * keys over several 64-key blocks plus a tail, Sq over ATTN_ROWS (several row items). */
static void test_attention_grid(void **state)
{
    (void)state;
    begin();
    static const int64_t ds[] = {1, 3, 16, 17, 64, 65};
    static const int64_t sqsk[][2] = {{70, 200}, {33, 130}, {97, 65}, {40, 129}, {5, 257}, {130, 64}, {1, 1}, {65, 7}, {33, 33}, {2, 150}};
    kd_rng r = {601};
    int x = 0;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            for (int causal = 0; causal < 2; causal++, x++) {
                int rank = 2 + x % 3;
                int64_t lead[2] = {1 + x % 2, 1 + (x / 2) % 3};
                int64_t sq = sqsk[x % 10][0], sk = sqsk[x % 10][1];
                if (ds[i] + ds[j] > 100 && sq * sk > 5000) sq = (sq + 2) / 3; /* keep the big ones few */
                kd_case c;
                kd_attention(&c, &r, causal, rank, lead, sq, sk, ds[i], ds[j], x % 5 ? KD_SMALL : KD_SPARSE, x % 7 ? KD_SMALL : KD_NORMAL,
                             x % 3 ? KD_SMALL : KD_MIXED);
                check(&c);
            }
    finish("ATTENTION grid");
}

/* No key at all (Sk = 0), empty q/k rows (D = 0), an empty result (Dv = 0), causal rows that
 * see no key (Sq > Sk), and values that overflow the scores, underflow exp, or sit at FLT_MIN. */
static void test_attention_edges(void **state)
{
    (void)state;
    begin();
    static const int64_t shapes[][4] = {/* sq, sk, d, dv */
                                        {5, 0, 3, 4},   {40, 0, 17, 1}, {7, 9, 0, 5},   {70, 130, 0, 3}, {4, 6, 3, 0},  {0, 6, 3, 2},
                                        {100, 3, 16, 17}, {65, 64, 1, 1}, {64, 65, 1, 65}, {34, 1, 65, 1}, {3, 300, 17, 16}};
    static const int modes[][3] = {{KD_SMALL, KD_SMALL, KD_SMALL}, {KD_BIG, KD_SMALL, KD_SMALL}, {KD_WIDE, KD_WIDE, KD_NORMAL},
                                   {KD_FTZ, KD_FTZ, KD_FTZ},       {KD_MIXED, KD_MIXED, KD_MIXED}, {KD_NORMAL, KD_NORMAL, KD_SPARSE},
                                   {KD_INT, KD_INT, KD_INT},       {KD_SMALL, KD_BIG, KD_FTZ}};
    kd_rng r = {602};
    int x = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int causal = 0; causal < 2; causal++, x++) {
            int64_t lead[2] = {2, 1};
            const int *m = modes[x % 8];
            kd_case c;
            kd_attention(&c, &r, causal, 2 + x % 3, lead, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], m[0], m[1], m[2]);
            check(&c);
        }
    for (int i = 0; i < 8; i++) { /* every value mode on a mid-size shape */
        int64_t lead[2] = {2, 2};
        kd_case c;
        kd_attention(&c, &r, i & 1, 4, lead, 37, 70, 17, 9, modes[i][0], modes[i][1], modes[i][2]);
        check(&c);
    }
    finish("ATTENTION edges");
}

static void test_attention_random(void **state)
{
    (void)state;
    begin();
    kd_rng r = {603};
    for (int i = 0; i < REPS(300); i++) {
        kd_case c;
        kd_random_case(&c, &r, kd_below(&r, 2) ? OP_ATTENTION : OP_ATTENTION_CAUSAL, 150000);
        check(&c);
    }
    finish("ATTENTION, random shapes");
}

/* ---------------------------------------------------------------- threads */

/* The same bits at 1 and 7 threads, compared with each other directly (the runs above already
 * compare each with the reference), on ops big enough to be cut into many items. */
static void test_threads_agree(void **state)
{
    (void)state;
    begin();
    kd_rng r = {701};
    kd_case cases[7];
    int64_t sm[2] = {700, 130}, lead[2] = {3, 1}, ea[2] = {300, 257}, eb[1] = {257};
    kd_matmul(&cases[0], &r, 40, 70, 100, KD_SPARSE, KD_NORMAL);
    kd_matmul(&cases[1], &r, 3, 400, 300, KD_FTZ, KD_FTZ);
    kd_softmax(&cases[2], &r, 2, sm, -1, 0);
    kd_attention(&cases[3], &r, 1, 3, lead, 97, 129, 17, 16, KD_SMALL, KD_SMALL, KD_SPARSE);
    kd_elementwise(&cases[4], &r, OP_TMUL, 2, ea, 1, eb, KD_MIXED, KD_MIXED, -1, 0);
    kd_relu(&cases[5], &r, 140001, KD_MIXED, 0);
    kd_transpose(&cases[6], &r, 300, 70, BIB_DT_I64);
    for (int i = 0; i < 7; i++) {
        kd_case *c = &cases[i];
        size_t bytes = c->out_bytes;
        void *one = malloc(bytes), *seven = malloc(bytes);
        for (int li = 0; li < ctx.n_levels; li++) {
            char err[256];
            if (kd_run_one(&ctx, c, ctx.levels[li], 0, one, err, sizeof err)) fail_msg("%s: %s", c->desc, err);
            if (kd_run_one(&ctx, c, ctx.levels[li], 2, seven, err, sizeof err)) fail_msg("%s: %s", c->desc, err);
            if (memcmp(one, seven, bytes))
                kd_report(&ctx, "%s: level %s: 1 and 7 threads give different bits", c->desc, simd_name((simd_level)ctx.levels[li]));
        }
        free(one);
        free(seven);
        check(c); /* and against the reference at 1, 2, 7 */
    }
    finish("thread counts");
}

/* The caller's own flush-to-zero / denormals-are-zero bits change nothing: the SIMD levels set
 * their environment, and the scalar level's model functions do not depend on it. */
static void test_caller_flush_bits_do_not_matter(void **state)
{
    (void)state;
#if defined(__x86_64__)
    begin();
    static const unsigned envs[] = {0x9FC0u /* DAZ|FTZ */, 0x1FC0u /* DAZ */, 0x9F80u /* FTZ */};
    kd_rng r = {702};
    for (int e = 0; e < 3; e++)
        for (int i = 0; i < 6; i++) {
            kd_case c;
            int64_t sm[2] = {9, 100}, lead[2] = {2, 1}, ea[2] = {33, 65}, eb[1] = {65};
            switch (i) {
            case 0: kd_matmul(&c, &r, 29, 70, 33, KD_FTZ, KD_FTZ); break;
            case 1: kd_softmax(&c, &r, 2, sm, 10, 0); break;
            case 2: kd_attention(&c, &r, e & 1, 3, lead, 40, 70, 17, 9, KD_WIDE, KD_SMALL, KD_FTZ); break;
            case 3: kd_elementwise(&c, &r, OP_TMUL, 2, ea, 1, eb, KD_FTZ, KD_FTZ, -1, 0); break;
            case 4: kd_elementwise(&c, &r, OP_TSUB, 2, ea, 1, eb, KD_FTZ, KD_FTZ, 0, 0); break;
            default: kd_relu(&c, &r, 1000, KD_FTZ, 0); break;
            }
            void *want = malloc(c.out_bytes);
            kd_reference(&c, want); /* under the default environment */
            unsigned saved = _mm_getcsr();
            _mm_setcsr(envs[e]);
            kd_check_against(&ctx, &c, want);
            _mm_setcsr(saved);
            free(want);
            kd_case_free(&c);
        }
    finish("the caller's MXCSR flush bits");
#else
    skip();
#endif
}

/* ---------------------------------------------------------------- SSE2 fma emulation */
#if defined(__x86_64__)
#define FMA_BATCH 4096
typedef struct {
    float a[FMA_BATCH], b[FMA_BATCH], c[FMA_BATCH], r[FMA_BATCH];
    int n;
    uint64_t total, bad, double_rounding, flushed, kept_at_min;
} fma_run;

/* Not inlined: MXCSR is switched around the call, and the call keeps the compiler from moving
 * the arithmetic across the switch. */
static __attribute__((noinline)) void sse2_vfma_batch(const float *a, const float *b, const float *c, float *r, int n)
{
    for (int i = 0; i < n; i += 4) _mm_storeu_ps(r + i, vfma(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i), _mm_loadu_ps(c + i)));
}

static void fma_flush(fma_run *f)
{
    while (f->n % 4) { /* pad to whole vectors */
        f->a[f->n] = f->b[f->n] = f->c[f->n] = 0.0f;
        f->n++;
    }
    unsigned saved = _mm_getcsr();
    _mm_setcsr(0x9FC0); /* DAZ | FTZ | round to nearest, exceptions masked: what the drivers set */
    sse2_vfma_batch(f->a, f->b, f->c, f->r, f->n);
    _mm_setcsr(saved);
    for (int i = 0; i < f->n; i++) {
        float a = f->a[i], b = f->b[i], c = f->c[i];
        float want = f32_canon(f32_fma(a, b, c)), got = f32_canon(f->r[i]);
        /* How hard the case was: plain double arithmetic (one product, two roundings, no FTZ). */
        double exact_ish = (double)f32_daz(a) * (double)f32_daz(b) + (double)f32_daz(c);
        float naive = (float)exact_ish;
        if (fabs(exact_ish) < ldexp(1.0, -126) && (f32_bits(want) & 0x7FFFFFFFu) == F32_MIN_BITS) f->kept_at_min++; /* rounds up to FLT_MIN */
        if (!f32_isnan(naive) && f32_bits(naive) != f32_bits(want)) {
            if (want == 0.0f && naive != 0.0f) f->flushed++;
            else if (f32_bits(f32_daz(naive)) != f32_bits(want)) f->double_rounding++;
        }
        if (f32_bits(got) != f32_bits(want)) {
            if (f->bad < 10)
                fprintf(stderr, "MISMATCH sse2 vfma(0x%08x, 0x%08x, 0x%08x) = 0x%08x, f32_fma gives 0x%08x\n", f32_bits(a), f32_bits(b),
                        f32_bits(c), f32_bits(f->r[i]), f32_bits(want));
            f->bad++;
        }
    }
    f->total += (uint64_t)f->n;
    f->n = 0;
}

static void fma_add(fma_run *f, float a, float b, float c)
{
    f->a[f->n] = a;
    f->b[f->n] = b;
    f->c[f->n] = c;
    if (++f->n == FMA_BATCH) fma_flush(f);
}

static float pow2(int e) { return (float)ldexp(1.0, e); } /* e in [-126, 127] */
static float with_sign(float x, uint32_t s) { return f32_from(f32_bits(x) ^ s); }
static float bits_plus(float x, int d) { return f32_from(f32_bits(x) + (uint32_t)d); }

/* The ulp of the float nearest |p| (a normal p). */
static double ulp_of(double p)
{
    int e;
    frexp(fabs(p), &e); /* |p| = m 2^e, m in [0.5, 1) */
    return ldexp(1.0, e - 24);
}

/* A 13-bit odd integer times 2^e: two of them multiply to 25 or 26 significant bits, so about
 * half of the products lie exactly halfway between two floats. */
static float odd13(kd_rng *r, int e) { return (float)ldexp((double)(4097 + 2 * kd_below(r, 2048)), e); }

/* c for a tie or near-tie product p: zero, tiny of either sign, subnormal, fractions of an ulp. */
static float tie_c(kd_rng *r, double p, uint32_t k)
{
    double u = ulp_of(p);
    switch (k % 9) {
    case 0: return 0.0f;
    case 1: return (float)ldexp(u, -(int)(3 + kd_below(r, 40)));
    case 2: return (float)-ldexp(u, -(int)(3 + kd_below(r, 40)));
    case 3: return f32_from(kd_u32(r) & 0x807FFFFFu); /* subnormal: DAZ makes it ±0 */
    case 4: return (float)(u / 4);
    case 5: return (float)(-u / 4);
    case 6: return (float)(u / 2);
    case 7: return (float)(-u * (1 + kd_below(r, 3)));
    default: return with_sign(pow2(-126), kd_u32(r) & F32_SIGN);
    }
}

/* Random edge-heavy triples, by category. */
static void fma_random(fma_run *f, kd_rng *r, uint64_t i)
{
    uint32_t sa = kd_u32(r) & F32_SIGN, sb = kd_u32(r) & F32_SIGN, sc = kd_u32(r) & F32_SIGN;
    float a, b, c;
    switch (i % 16) {
    case 0:
    case 1:
        a = kd_value(r, KD_MIXED), b = kd_value(r, KD_MIXED), c = kd_value(r, KD_MIXED);
        break;
    case 2: a = f32_from(kd_u32(r)), b = f32_from(kd_u32(r)), c = f32_from(kd_u32(r)); break;
    case 3:
        a = kd_value(r, KD_FTZ), b = kd_value(r, KD_FTZ), c = kd_value(r, kd_below(r, 2) ? KD_FTZ : KD_MIXED);
        break;
    case 4: { /* a*b within a few ulp of ±FLT_MIN, any low bits; c around FLT_MIN or cancelling */
        a = f32_from(((uint32_t)kd_range(r, 40, 87) << 23) | (kd_u32(r) & 0x7FFFFFu));
        double target = ldexp(1.0 + ldexp((double)(int)kd_range(r, -64, 64), -24), -126);
        b = bits_plus((float)(target / (double)a), (int)kd_range(r, -3, 3));
        double p = (double)a * (double)b;
        switch (kd_below(r, 6)) {
        case 0: c = 0.0f; break;
        case 1: c = f32_from(F32_MIN_BITS + kd_below(r, 4)); break;
        case 2: c = bits_plus((float)p, (int)kd_range(r, -4, 4)); break; /* -c below: near cancellation */
        case 3: c = pow2(-125 + (int)kd_below(r, 3)); break;
        case 4: c = f32_from(kd_u32(r) & 0x7FFFFFu); break;
        default: c = kd_value(r, KD_FTZ); break;
        }
        a = with_sign(a, sa), b = with_sign(b, sb), c = with_sign(c, sc);
        break;
    }
    case 5: { /* a tie (or a quarter) product plus a tiny or fractional c */
        int t = kd_below(r, 4) == 0 ? (int)kd_range(r, -130, -120) : kd_below(r, 8) == 0 ? (int)kd_range(r, 120, 127) : (int)kd_range(r, -60, 60);
        int ea = (int)kd_range(r, -60, 40);
        if (t - 24 - ea < -138) ea = t - 24 + 138;
        if (t - 24 - ea > 114) ea = t - 24 - 114;
        a = odd13(r, ea), b = odd13(r, t - 24 - ea);
        a = with_sign(a, sa), b = with_sign(b, sb);
        c = tie_c(r, (double)a * (double)b, kd_u32(r));
        break;
    }
    case 6: { /* c = -a*b exactly (a 24-bit product), or minus the rounded product */
        a = f32_from(sa | ((uint32_t)kd_range(r, 80, 170) << 23) | (kd_u32(r) & 0x7FF800u));
        b = f32_from(sb | ((uint32_t)kd_range(r, 80, 170) << 23) | (kd_u32(r) & (kd_below(r, 2) ? 0x7FF000u : 0x7FFFFFu)));
        c = (float)(-(double)a * (double)b);
        if (kd_below(r, 4) == 0) c = bits_plus(c, (int)kd_range(r, -2, 2));
        break;
    }
    case 7: { /* inf * 0, inf * subnormal, inf - inf, NaNs anywhere */
        static const uint32_t pool[] = {0x7F800000u, 0xFF800000u, 0, 0x80000000u, 0x00000001u, 0x807FFFFFu, 0x7FC00000u, 0xFF800001u,
                                        0x7FA00000u, 0x3F800000u, 0x7F7FFFFFu, 0x00800000u};
        a = f32_from(pool[kd_below(r, 12)]), b = f32_from(pool[kd_below(r, 12)]), c = f32_from(pool[kd_below(r, 12)]);
        if (kd_below(r, 2)) c = kd_value(r, KD_MIXED);
        break;
    }
    case 8: { /* products around FLT_MAX, c cancelling or pushing over */
        a = f32_from(((uint32_t)kd_range(r, 180, 250) << 23) | (kd_u32(r) & 0x7FFFFFu));
        b = (float)(ldexp(0.5 + (double)(kd_u32(r) >> 8) / 16777216.0 * 1.5, 128) / (double)a);
        static const uint32_t cs[] = {0x7F7FFFFFu, 0x7F000000u, 0x7F61B1E6u, 0, 0x7E800000u};
        c = f32_from(cs[kd_below(r, 5)]);
        if (kd_below(r, 3) == 0) c = (float)(-(double)a * (double)b);
        a = with_sign(a, sa), b = with_sign(b, sb), c = with_sign(c, sc);
        break;
    }
    case 9: { /* exact sums of 25 bits: integer products plus halves, scaled */
        int e = kd_below(r, 4) == 0 ? (int)kd_range(r, -128, -110) : (int)kd_range(r, -30, 30);
        a = (float)ldexp((double)kd_range(r, 2048, 8191), e / 2);
        b = (float)kd_range(r, 2048, 8191);
        double p = (double)a * (double)b;
        c = (float)(ldexp((double)kd_range(r, -4096, 4096) + 0.25 * (double)kd_below(r, 4), e / 2) + (kd_below(r, 2) ? 0.0 : -p / 2));
        a = with_sign(a, sa), c = with_sign(c, sc);
        break;
    }
    case 10: { /* 2^-125 (1 + i ulp)(1 + j ulp) - 2^-126 (1 + k ulp): results at FLT_MIN by cancellation */
        int s = (int)kd_range(r, -60, 1); /* b = 2^(-125-s) stays normal */
        a = (float)ldexp(1.0 + ldexp((double)kd_below(r, 32), -23), s);
        b = (float)ldexp(1.0 + ldexp((double)kd_below(r, 32), -23), -125 - s);
        c = (float)-ldexp(1.0 + ldexp((double)(int)kd_range(r, -64, 64), -23), -126);
        if (kd_below(r, 2)) c = (float)-ldexp(1.0 + ldexp((double)(int)kd_range(r, -64, 64), -24), -125);
        a = with_sign(a, sa), b = with_sign(b, sa ^ sc ^ F32_SIGN);
        c = with_sign(c, sc ^ F32_SIGN); /* c (negative) gets sign sc, the product the other one */
        break;
    }
    default: {
        int m = (int)kd_below(r, KD_MODES);
        a = kd_value(r, m), b = kd_value(r, kd_below(r, 2) ? m : (int)kd_below(r, KD_MODES)), c = kd_value(r, (int)kd_below(r, KD_MODES));
        break;
    }
    }
    fma_add(f, a, b, c);
}

static void test_sse2_fma_emulation(void **state)
{
    (void)state;
    static fma_run f;
    memset(&f, 0, sizeof f);
    static const uint32_t signs[4][2] = {{0, 0}, {F32_SIGN, 0}, {0, F32_SIGN}, {F32_SIGN, F32_SIGN}};

    /* 1. The FTZ boundary: |a| = 1 + i ulp or 2 - i ulp (times 2^-63, 2^-87 or 2^-27), b the
     * float nearest 2^-126 / |a| and its 4 neighbours each way, c from a set around FLT_MIN. */
    static const uint32_t cset[] = {0, 0x80000000u, 0x00000001u, 0x807FFFFFu, 0x00800000u, 0x80800000u,
                                    0x00800001u, 0x80800001u, 0x01000000u, 0x81000000u};
    static const uint32_t exps[] = {64, 40, 100};
    for (uint32_t i = 0; i < 128; i++)
        for (int hi = 0; hi < 2; hi++)
            for (int e = 0; e < 3; e++) {
                float a = f32_from((exps[e] << 23) | (hi ? 0x7FFFFFu - i : i));
                float b0 = (float)(ldexp(1.0, -126) / (double)a);
                for (int db = -4; db <= 4; db++)
                    for (size_t k = 0; k < sizeof cset / sizeof cset[0]; k++)
                        for (int s = 0; s < 4; s++)
                            fma_add(&f, with_sign(a, signs[s][0]), with_sign(bits_plus(b0, db), signs[s][1]), f32_from(cset[k]));
            }
    uint64_t sweep_ftz = f.total + (uint64_t)f.n;

    /* 2. Round-to-odd ties: 13-bit odd significands (products of 25 or 26 bits, so ties and
     * quarters) in binades from FLT_MIN to FLT_MAX, with c zero, tiny either way, subnormal, or
     * a fraction of an ulp. */
    kd_rng r = {801};
    static const int binades[] = {0, -20, 20, -100, -126, -127, -125, -124, 100, 126, 127, -60};
    for (uint32_t ma = 0; ma < 256; ma++)
        for (uint32_t mb = 0; mb < 32; mb++) {
            int t = binades[(ma + mb) % 12], ea = (int)(ma % 40) - 20;
            if (ea < t - 24 - 114) ea = t - 24 - 114; /* b normal: its exponent in [-138, 114] */
            if (ea > t - 24 + 138) ea = t - 24 + 138;
            float a = (float)ldexp(4097.0 + 2.0 * ma, ea), b = (float)ldexp(4097.0 + 128.0 * mb + 2.0 * (ma % 3), t - 24 - ea);
            for (uint32_t k = 0; k < 9; k++)
                for (int s = 0; s < 2; s++) {
                    float as = with_sign(a, signs[s][0]);
                    fma_add(&f, as, b, tie_c(&r, (double)as * (double)b, k));
                }
        }
    uint64_t sweeps = f.total + (uint64_t)f.n;
    fma_flush(&f);

    /* 3. Exact cases, checked for their known answer as well: c = -(a*b) exactly is +0 whatever
     * the signs; inf * 0 and inf * subnormal (DAZ) are NaN; a NaN anywhere gives NaN. */
    {
        static float xa[FMA_BATCH], xb[FMA_BATCH], xc[FMA_BATCH], xr[FMA_BATCH];
        for (int round = 0; round < 4; round++) {
            for (int i = 0; i < FMA_BATCH; i++) {
                uint32_t sa = kd_u32(&r) & F32_SIGN, sb = kd_u32(&r) & F32_SIGN;
                if (i % 8 < 6) { /* 12-bit significands: the product is exact in 24 bits */
                    xa[i] = f32_from(sa | ((uint32_t)kd_range(&r, 80, 175) << 23) | (kd_u32(&r) & 0x7FF000u));
                    xb[i] = f32_from(sb | ((uint32_t)kd_range(&r, 80, 175) << 23) | (kd_u32(&r) & 0x7FF000u));
                    xc[i] = (float)(-(double)xa[i] * (double)xb[i]);
                    if (i % 8 == 5) xa[i] = f32_from(sa), xb[i] = f32_from(sb), xc[i] = f32_from(kd_u32(&r) & F32_SIGN); /* ±0*±0 + ±0 */
                } else if (i % 8 == 6) { /* inf times zero or a subnormal */
                    xa[i] = f32_from(sa | F32_EXP);
                    xb[i] = f32_from(sb | (kd_below(&r, 2) ? 0u : (kd_u32(&r) & 0x7FFFFFu)));
                    xc[i] = kd_value(&r, KD_NORMAL);
                    if (i % 16 == 6) { float t = xa[i]; xa[i] = xb[i], xb[i] = t; }
                } else { /* a NaN in one of the three places */
                    xa[i] = kd_value(&r, KD_NORMAL), xb[i] = kd_value(&r, KD_NORMAL), xc[i] = kd_value(&r, KD_NORMAL);
                    float nan = f32_from((kd_u32(&r) & F32_SIGN) | F32_EXP | 1u | (kd_u32(&r) & 0x7FFFFFu));
                    uint32_t at = kd_below(&r, 3);
                    if (at == 0) xa[i] = nan;
                    else if (at == 1) xb[i] = nan;
                    else xc[i] = nan;
                }
            }
            unsigned saved = _mm_getcsr();
            _mm_setcsr(0x9FC0);
            sse2_vfma_batch(xa, xb, xc, xr, FMA_BATCH);
            _mm_setcsr(saved);
            for (int i = 0; i < FMA_BATCH; i++) {
                int want_zero = i % 8 < 6;
                if (want_zero && !(i % 8 == 5 && (f32_bits(xa[i]) ^ f32_bits(xb[i])) && f32_bits(xc[i]))) {
                    if (f32_bits(xr[i]) != 0u || f32_bits(f32_fma(xa[i], xb[i], xc[i])) != 0u)
                        fail_msg("fma(0x%08x, 0x%08x, 0x%08x): vfma 0x%08x, f32_fma 0x%08x; want +0", f32_bits(xa[i]), f32_bits(xb[i]), f32_bits(xc[i]),
                                 f32_bits(xr[i]), f32_bits(f32_fma(xa[i], xb[i], xc[i])));
                } else if (!want_zero) {
                    if (!f32_isnan(xr[i]) || !f32_isnan(f32_fma(xa[i], xb[i], xc[i])))
                        fail_msg("fma(0x%08x, 0x%08x, 0x%08x): vfma 0x%08x; want NaN", f32_bits(xa[i]), f32_bits(xb[i]), f32_bits(xc[i]), f32_bits(xr[i]));
                }
                fma_add(&f, xa[i], xb[i], xc[i]); /* and the usual comparison (-0 for (-0) + (-0)) */
            }
        }
    }
    uint64_t exact = f.total + (uint64_t)f.n - sweeps;

    /* 4. Random edge-heavy triples. */
    uint64_t n_random = 2100000;
    for (uint64_t i = 0; i < n_random; i++) fma_random(&f, &r, i);
    fma_flush(&f);
    printf("sse2 vfma: %llu triples (%llu FTZ-boundary sweep, %llu tie sweep, %llu exact, %llu random); %llu where double "
           "rounding is wrong, %llu flushed, %llu rounded up to FLT_MIN; %llu mismatches\n",
           (unsigned long long)f.total, (unsigned long long)sweep_ftz, (unsigned long long)(sweeps - sweep_ftz), (unsigned long long)exact,
           (unsigned long long)(f.total - sweeps - exact), (unsigned long long)f.double_rounding, (unsigned long long)f.flushed,
           (unsigned long long)f.kept_at_min, (unsigned long long)f.bad);
    assert_true(f.total >= 2000000u);
    /* The hard cases really occurred. */
    assert_true(f.double_rounding > 1000);
    assert_true(f.flushed > 1000);
    assert_true(f.kept_at_min > 100);
    if (f.bad) fail_msg("sse2 vfma differs from f32_fma on %llu of %llu triples (first ones printed above)", (unsigned long long)f.bad,
                        (unsigned long long)f.total);
}
#else
static void test_sse2_fma_emulation(void **state)
{
    (void)state;
    printf("sse2 vfma: not an x86-64 build; skipped\n");
    skip();
}
#endif

/* ---------------------------------------------------------------- ATTENTION in programs */

typedef struct {
    const char *name;
    int rank;
    int64_t dims[4];
    const float *data;
} vm_input;

typedef struct {
    adead_program *p;
    adead_vm *vm;
    int rc;
} vm_run;

static vm_run run_program(const char *src, const vm_input *in, int n_in, const char *simd, int threads)
{
    vm_run v;
    v.p = assemble_ok(src);
    v.vm = adead_vm_new(v.p);
    assert_non_null(v.vm);
    if (simd && adead_vm_set_simd(v.vm, simd)) fail_msg("adead_vm_set_simd(%s): %s", simd, adead_vm_error(v.vm));
    if (threads >= 0 && adead_vm_set_threads(v.vm, threads)) fail_msg("adead_vm_set_threads(%d): %s", threads, adead_vm_error(v.vm));
    v.rc = ADEAD_OK;
    for (int i = 0; i < n_in && !v.rc; i++) v.rc = adead_vm_bind(v.vm, in[i].name, ADEAD_F32, in[i].rank, in[i].dims, in[i].data);
    if (!v.rc) v.rc = adead_vm_run(v.vm);
    return v;
}

static void run_free(vm_run *v)
{
    adead_vm_free(v->vm);
    adead_program_free(v->p);
}

static adead_tensor_view output_of(vm_run *v, const char *name)
{
    adead_tensor_view t;
    if (v->rc) fail_msg("the run failed (%d): %s", v->rc, adead_vm_error(v->vm));
    if (adead_vm_output(v->vm, name, &t)) fail_msg("no output %s: %s", name, adead_vm_error(v->vm));
    return t;
}

/* The expected bits of an attention case, from the reference. */
static float *attention_want(int causal, int rank, const int64_t *qd, const float *q, const int64_t *kd, const float *k, const int64_t *vd,
                             const float *v, size_t *bytes)
{
    kd_case c;
    kd_case_init(&c, causal ? OP_ATTENTION_CAUSAL : OP_ATTENTION);
    memcpy(kd_input(&c, 0, BIB_DT_F32, rank, qd), q, (size_t)kd_count(rank, qd) * 4);
    memcpy(kd_input(&c, 1, BIB_DT_F32, rank, kd), k, (size_t)kd_count(rank, kd) * 4);
    memcpy(kd_input(&c, 2, BIB_DT_F32, rank, vd), v, (size_t)kd_count(rank, vd) * 4);
    int64_t od[4] = {0, 0, 0, 0};
    for (int i = 0; i < rank; i++) od[i] = qd[i];
    od[rank - 1] = vd[rank - 1];
    kd_output(&c, BIB_DT_F32, rank, od);
    float *want = malloc(c.out_bytes ? c.out_bytes : 1);
    kd_reference(&c, want);
    *bytes = c.out_bytes;
    kd_case_free(&c);
    return want;
}

static float *random_floats(kd_rng *r, int64_t n, int mode)
{
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    kd_fill(r, x, n, mode);
    return x;
}

static const char *attention_src = ".input q f32\n.input k f32\n.input v f32\n.output o f32\n.output oc f32\n"
                                   "    ATTENTION o, q, k, v\n"
                                   "    ATTENTION_CAUSAL oc, q, k, v\n"
                                   "    HALT\n";

/* Programs give the reference's bits at every level, for ranks 2..4, Sq above and below Sk
 * (causal rows with no visible key are +0), and no keys at all. */
static void test_vm_attention_matches_reference(void **state)
{
    (void)state;
    static const int64_t shapes[][7] = {/* rank, lead0, lead1, sq, sk, d, dv */
                                        {3, 2, 0, 40, 70, 17, 9}, {2, 0, 0, 80, 33, 16, 3}, {4, 2, 3, 5, 129, 3, 65},
                                        {3, 1, 0, 33, 0, 4, 5},   {2, 0, 0, 1, 1, 1, 1}};
    kd_rng r = {901};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int rank = (int)shapes[s][0];
        int64_t qd[4] = {0}, kd[4] = {0}, vd[4] = {0};
        for (int i = 0; i < rank - 2; i++) qd[i] = kd[i] = vd[i] = shapes[s][1 + i];
        qd[rank - 2] = shapes[s][3], qd[rank - 1] = shapes[s][5];
        kd[rank - 2] = shapes[s][4], kd[rank - 1] = shapes[s][5];
        vd[rank - 2] = shapes[s][4], vd[rank - 1] = shapes[s][6];
        float *q = random_floats(&r, kd_count(rank, qd), KD_SMALL), *k = random_floats(&r, kd_count(rank, kd), KD_SMALL),
              *v = random_floats(&r, kd_count(rank, vd), KD_SPARSE);
        size_t bytes, bytes_c;
        float *want = attention_want(0, rank, qd, q, kd, k, vd, v, &bytes), *want_c = attention_want(1, rank, qd, q, kd, k, vd, v, &bytes_c);
        vm_input in[3] = {{"q", rank, {0}, q}, {"k", rank, {0}, k}, {"v", rank, {0}, v}};
        memcpy(in[0].dims, qd, sizeof qd);
        memcpy(in[1].dims, kd, sizeof kd);
        memcpy(in[2].dims, vd, sizeof vd);
        for (int li = 0; li < ctx.n_levels; li++) {
            vm_run run = run_program(attention_src, in, 3, simd_name((simd_level)ctx.levels[li]), li % 2 ? 7 : 1);
            adead_tensor_view o = output_of(&run, "o"), oc = output_of(&run, "oc");
            assert_int_equal(o.rank, rank);
            assert_int_equal(o.dims[rank - 1], vd[rank - 1]);
            assert_int_equal(o.nbytes, bytes);
            assert_int_equal(oc.nbytes, bytes_c);
            if (bytes && memcmp(o.data, want, bytes)) fail_msg("ATTENTION program, shape %zu, level %s: not the reference", s, adead_vm_simd(run.vm));
            if (bytes && memcmp(oc.data, want_c, bytes)) fail_msg("ATTENTION_CAUSAL program, shape %zu, level %s: not the reference", s, adead_vm_simd(run.vm));
            run_free(&run);
        }
        if (shapes[s][3] > shapes[s][4] && shapes[s][4] > 0) { /* the first Sq - Sk causal rows see no key: +0 */
            const uint32_t *u = (const uint32_t *)want_c;
            for (int64_t i = 0; i < (shapes[s][3] - shapes[s][4]) * shapes[s][6]; i++) assert_int_equal(u[i], 0);
        }
        free(q), free(k), free(v), free(want), free(want_c);
    }
}

static void expect_trap(const char *src, const vm_input *in, int n_in, const char *const *phrases)
{
    vm_run run = run_program(src, in, n_in, NULL, -1);
    assert_int_equal(run.rc, ADEAD_E_TRAP);
    for (; *phrases; phrases++)
        if (!strstr(adead_vm_error(run.vm), *phrases)) fail_msg("'%s' not in: %s", *phrases, adead_vm_error(run.vm));
    run_free(&run);
}

static void test_vm_attention_shape_traps(void **state)
{
    (void)state;
    static float zeros[256];
    vm_input bad_d[3] = {{"q", 2, {2, 3}, zeros}, {"k", 2, {4, 5}, zeros}, {"v", 2, {4, 2}, zeros}};
    const char *p1[] = {"test.adasm:6: pc 0 (ATTENTION): q = q [2,3], k = k [4,5], v = v [4,2]", "needs [...,Sq,D], [...,Sk,D], [...,Sk,Dv]", NULL};
    expect_trap(attention_src, bad_d, 3, p1);
    vm_input bad_sk[3] = {{"q", 3, {2, 5, 4}, zeros}, {"k", 3, {2, 6, 4}, zeros}, {"v", 3, {2, 7, 4}, zeros}};
    const char *p2[] = {"q [2,5,4]", "k [2,6,4]", "v [2,7,4]", NULL};
    expect_trap(attention_src, bad_sk, 3, p2);
    vm_input bad_lead[3] = {{"q", 3, {2, 5, 4}, zeros}, {"k", 3, {3, 6, 4}, zeros}, {"v", 3, {3, 6, 4}, zeros}};
    const char *p3[] = {"q [2,5,4]", "k [3,6,4]", NULL};
    expect_trap(attention_src, bad_lead, 3, p3);
    vm_input bad_rank[3] = {{"q", 3, {1, 5, 4}, zeros}, {"k", 2, {6, 4}, zeros}, {"v", 2, {6, 4}, zeros}};
    const char *p4[] = {"q [1,5,4]", "k [6,4]", "of one rank (2..4)", NULL};
    expect_trap(attention_src, bad_rank, 3, p4);
    vm_input rank1[3] = {{"q", 1, {4}, zeros}, {"k", 1, {4}, zeros}, {"v", 1, {4}, zeros}};
    const char *p5[] = {"q [4]", NULL};
    expect_trap(attention_src, rank1, 3, p5);
    /* The causal form traps the same way, under its own name. */
    const char *p6[] = {"pc 0 (ATTENTION_CAUSAL)", "q [2,3]", NULL};
    expect_trap(".input q f32\n.input k f32\n.input v f32\n.output o f32\n    ATTENTION_CAUSAL o, q, k, v\n    HALT\n", bad_d, 3, p6);
}

/* td aliasing tq (or tk, tv) gives the bits a fresh destination gets. */
static void test_vm_attention_aliasing(void **state)
{
    (void)state;
    kd_rng r = {902};
    int64_t qd[3] = {2, 33, 16}, kd[3] = {2, 33, 16};
    float *q = random_floats(&r, 2 * 33 * 16, KD_SMALL), *k = random_floats(&r, 2 * 33 * 16, KD_SMALL), *v = random_floats(&r, 2 * 33 * 16, KD_SPARSE);
    vm_input in[3] = {{"q", 3, {2, 33, 16}, q}, {"k", 3, {2, 33, 16}, k}, {"v", 3, {2, 33, 16}, v}};
    static const char *const ops[] = {"ATTENTION", "ATTENTION_CAUSAL"};
    static const char *const dst[] = {"q", "k", "v"};
    for (int o = 0; o < 2; o++) {
        size_t bytes;
        float *want = attention_want(o, 3, qd, q, kd, k, kd, v, &bytes);
        for (int d = 0; d < 3; d++) {
            char src[512];
            snprintf(src, sizeof src,
                     ".input q f32 output\n.input k f32 output\n.input v f32 output\n.output fresh f32\n"
                     "    %s fresh, q, k, v\n    %s %s, q, k, v\n    HALT\n",
                     ops[o], ops[o], dst[d]);
            for (int li = 0; li < ctx.n_levels; li++) {
                vm_run run = run_program(src, in, 3, simd_name((simd_level)ctx.levels[li]), 2);
                adead_tensor_view fresh = output_of(&run, "fresh"), same = output_of(&run, dst[d]);
                assert_int_equal(fresh.nbytes, bytes);
                assert_int_equal(same.nbytes, bytes);
                if (memcmp(fresh.data, want, bytes)) fail_msg("%s fresh: not the reference", ops[o]);
                if (memcmp(same.data, want, bytes)) fail_msg("%s %s, q, k, v (in place) at %s: not what a fresh destination gets", ops[o], dst[d], adead_vm_simd(run.vm));
                run_free(&run);
            }
        }
        free(want);
    }
    free(q), free(k), free(v);
}

/* VK_COMPUTE ATTENTION and ATTENTION_CAUSAL (the 4th tensor in the VK_ARG after them, written
 * either way) give the bits of the plain instructions, at every level, in place too. */
static const char *vk_attention_src = ".input q f32\n.input k f32\n.input v f32\n"
                                      ".output o f32\n.output oc f32\n.output vo f32\n.output voc f32\n.output vq f32 = [7]\n"
                                      "    ATTENTION o, q, k, v\n"
                                      "    ATTENTION_CAUSAL oc, q, k, v\n"
                                      "    VK_COMPUTE ATTENTION, vo, q, k, v\n"
                                      "    VK_COMPUTE ATTENTION_CAUSAL, voc, q, k\n"
                                      "    VK_ARG v\n"
                                      "    TCOPY vq, q\n"
                                      "    VK_COMPUTE ATTENTION_CAUSAL, vq, vq, k, v\n" /* onto q */
                                      "    HALT\n";

static void test_vm_vk_compute_attention_same_bits(void **state)
{
    (void)state;
    static const int64_t shapes[][7] = {/* rank, lead0, lead1, sq, sk, d, dv */
                                        {3, 2, 0, 40, 70, 17, 17}, {2, 0, 0, 80, 33, 16, 16}, {4, 2, 3, 5, 9, 3, 3},
                                        {3, 1, 0, 33, 0, 4, 4},    {2, 0, 0, 1, 1, 1, 1}};
    kd_rng r = {903};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int rank = (int)shapes[s][0];
        int64_t qd[4] = {0}, kd[4] = {0}, vd[4] = {0};
        for (int i = 0; i < rank - 2; i++) qd[i] = kd[i] = vd[i] = shapes[s][1 + i];
        qd[rank - 2] = shapes[s][3], qd[rank - 1] = shapes[s][5];
        kd[rank - 2] = shapes[s][4], kd[rank - 1] = shapes[s][5];
        vd[rank - 2] = shapes[s][4], vd[rank - 1] = shapes[s][6];
        float *q = random_floats(&r, kd_count(rank, qd), KD_SMALL), *k = random_floats(&r, kd_count(rank, kd), KD_SMALL),
              *v = random_floats(&r, kd_count(rank, vd), KD_SPARSE);
        size_t bytes, bytes_c;
        float *want = attention_want(0, rank, qd, q, kd, k, vd, v, &bytes), *want_c = attention_want(1, rank, qd, q, kd, k, vd, v, &bytes_c);
        vm_input in[3] = {{"q", rank, {0}, q}, {"k", rank, {0}, k}, {"v", rank, {0}, v}};
        memcpy(in[0].dims, qd, sizeof qd);
        memcpy(in[1].dims, kd, sizeof kd);
        memcpy(in[2].dims, vd, sizeof vd);
        for (int li = 0; li < ctx.n_levels; li++) {
            vm_run run = run_program(vk_attention_src, in, 3, simd_name((simd_level)ctx.levels[li]), li % 2 ? 3 : 1);
            adead_tensor_view o = output_of(&run, "o"), oc = output_of(&run, "oc"), vo = output_of(&run, "vo"), voc = output_of(&run, "voc"),
                              vq = output_of(&run, "vq");
            const char *lv = adead_vm_simd(run.vm);
            assert_int_equal(o.nbytes, bytes);
            assert_int_equal(vo.nbytes, bytes);
            assert_int_equal(voc.nbytes, bytes_c);
            assert_int_equal(vq.nbytes, bytes_c);
            assert_int_equal(vo.rank, o.rank);
            assert_memory_equal(vo.dims, o.dims, sizeof o.dims);
            assert_memory_equal(voc.dims, oc.dims, sizeof oc.dims);
            if (bytes && memcmp(vo.data, o.data, bytes)) fail_msg("VK_COMPUTE ATTENTION, shape %zu, level %s: not ATTENTION's bits", s, lv);
            if (bytes && memcmp(voc.data, oc.data, bytes)) fail_msg("VK_COMPUTE ATTENTION_CAUSAL, shape %zu, level %s: not ATTENTION_CAUSAL's bits", s, lv);
            if (bytes && memcmp(vq.data, oc.data, bytes)) fail_msg("VK_COMPUTE ATTENTION_CAUSAL onto q, shape %zu, level %s: not ATTENTION_CAUSAL's bits", s, lv);
            if (bytes && (memcmp(o.data, want, bytes) || memcmp(oc.data, want_c, bytes))) fail_msg("shape %zu, level %s: not the reference", s, lv);
            run_free(&run);
        }
        free(q), free(k), free(v), free(want), free(want_c);
    }
}

/* Shape errors of the VK_COMPUTE forms name the VK_COMPUTE's pc and line (not the VK_ARG's), and
 * say what the plain instruction says. */
static void test_vm_vk_compute_attention_shape_traps(void **state)
{
    (void)state;
    static float zeros[256];
    static const char *src = ".input q f32\n.input k f32\n.input v f32\n.output o f32\n"
                             "    NOP\n"
                             "    VK_COMPUTE ATTENTION, o, q, k, v\n" /* line 6, pc 1 and 2 */
                             "    HALT\n";
    static const char *src_c = ".input q f32\n.input k f32\n.input v f32\n.output o f32\n"
                               "    VK_COMPUTE ATTENTION_CAUSAL, o, q, k\n" /* line 5, pc 0 */
                               "    VK_ARG v\n"                           /* line 6, pc 1 */
                               "    HALT\n";
    vm_input bad_d[3] = {{"q", 2, {2, 3}, zeros}, {"k", 2, {4, 5}, zeros}, {"v", 2, {4, 2}, zeros}};
    const char *p1[] = {"test.adasm:6: pc 1 (VK_COMPUTE): ATTENTION: q = q [2,3], k = k [4,5], v = v [4,2]", "needs [...,Sq,D], [...,Sk,D], [...,Sk,Dv]",
                        NULL};
    expect_trap(src, bad_d, 3, p1);
    const char *p1c[] = {"test.adasm:5: pc 0 (VK_COMPUTE): ATTENTION_CAUSAL: q = q [2,3], k = k [4,5], v = v [4,2]", NULL};
    expect_trap(src_c, bad_d, 3, p1c);
    /* the 4th tensor's own shape */
    vm_input bad_sk[3] = {{"q", 3, {2, 5, 4}, zeros}, {"k", 3, {2, 6, 4}, zeros}, {"v", 3, {2, 7, 4}, zeros}};
    const char *p2[] = {"pc 1 (VK_COMPUTE): ATTENTION:", "q [2,5,4]", "k [2,6,4]", "v [2,7,4]", NULL};
    expect_trap(src, bad_sk, 3, p2);
    const char *p2c[] = {"pc 0 (VK_COMPUTE): ATTENTION_CAUSAL:", "v [2,7,4]", NULL};
    expect_trap(src_c, bad_sk, 3, p2c);
    vm_input bad_rank[3] = {{"q", 3, {1, 5, 4}, zeros}, {"k", 3, {1, 6, 4}, zeros}, {"v", 2, {6, 4}, zeros}};
    const char *p3[] = {"pc 1 (VK_COMPUTE): ATTENTION:", "v [6,4]", "of one rank (2..4)", NULL};
    expect_trap(src, bad_rank, 3, p3);
    /* an empty 4th tensor */
    const char *p4[] = {"test.adasm:6: pc 1 (VK_COMPUTE): ATTENTION: tensor v is empty", NULL};
    expect_trap(".input q f32\n.input k f32\n.tensor v f32\n.output o f32\n    NOP\n    VK_COMPUTE ATTENTION, o, q, k, v\n    HALT\n", bad_d, 2, p4);
}

/* ---------------------------------------------------------------- SIMD and thread selection */

static const char *all_ops_src = ".input a f32\n.input b f32\n.input bias f32\n.input col f32\n.input q f32\n.input k f32\n.input v f32\n"
                                 ".output mm f32\n.output sm f32\n.output re f32\n.output ad f32\n.output su f32\n.output mu f32\n"
                                 ".output tr f32\n.output at f32\n.output ac f32\n"
                                 "    MATMUL mm, a, b\n"
                                 "    SOFTMAX sm, mm\n"
                                 "    RELU re, mm\n"
                                 "    TADD ad, mm, bias\n"
                                 "    TSUB su, mm, col\n"
                                 "    TMUL mu, a, a\n"
                                 "    TRANSPOSE tr, mm\n"
                                 "    ATTENTION at, q, k, v\n"
                                 "    ATTENTION_CAUSAL ac, q, k, v\n"
                                 "    HALT\n";
static const char *const all_ops_outputs[] = {"mm", "sm", "re", "ad", "su", "mu", "tr", "at", "ac"};

static void test_api_each_level_same_outputs(void **state)
{
    (void)state;
    kd_rng r = {1001};
    float *a = random_floats(&r, 19 * 23, KD_SPARSE), *b = random_floats(&r, 23 * 37, KD_SPARSE);
    float *bias = random_floats(&r, 37, KD_MIXED), *col = random_floats(&r, 19, KD_MIXED);
    float *q = random_floats(&r, 2 * 40 * 17, KD_SMALL), *k = random_floats(&r, 2 * 70 * 17, KD_SMALL), *v = random_floats(&r, 2 * 70 * 9, KD_SPARSE);
    vm_input in[7] = {{"a", 2, {19, 23}, a},       {"b", 2, {23, 37}, b},       {"bias", 1, {37}, bias},     {"col", 2, {19, 1}, col},
                      {"q", 3, {2, 40, 17}, q},    {"k", 3, {2, 70, 17}, k},    {"v", 3, {2, 70, 9}, v}};
    vm_run base = run_program(all_ops_src, in, 7, "scalar", 1);
    assert_string_equal(adead_vm_simd(base.vm), "scalar");
    /* The scalar run is the reference (spot-check MATMUL and ATTENTION against ref_ops). */
    float *mm = malloc(19 * 37 * sizeof *mm);
    ref_matmul(a, b, mm, 19, 23, 37);
    adead_tensor_view t = output_of(&base, "mm");
    assert_memory_equal(t.data, mm, 19 * 37 * sizeof *mm);
    size_t bytes;
    int64_t qd[3] = {2, 40, 17}, kd[3] = {2, 70, 17}, vd[3] = {2, 70, 9};
    float *at = attention_want(0, 3, qd, q, kd, k, vd, v, &bytes);
    t = output_of(&base, "at");
    assert_int_equal(t.nbytes, bytes);
    assert_memory_equal(t.data, at, bytes);
    const char *names[] = {"scalar", "sse2", "avx2", "avx512", "neon"};
    for (int l = 0; l < SIMD_LEVELS; l++) {
        if (!cpu_detect()->has[l] || !cpu_kernels_for((simd_level)l)) {
            adead_program *p = assemble_ok(all_ops_src);
            adead_vm *vm = adead_vm_new(p);
            assert_int_equal(adead_vm_set_simd(vm, names[l]), ADEAD_E_ARG); /* a level this host lacks */
            if (!strstr(adead_vm_error(vm), "not available")) fail_msg("%s", adead_vm_error(vm));
            adead_vm_free(vm);
            adead_program_free(p);
            continue;
        }
        for (int th = 1; th <= 7; th += 6) {
            vm_run run = run_program(all_ops_src, in, 7, names[l], th);
            assert_string_equal(adead_vm_simd(run.vm), names[l]);
            assert_int_equal(adead_vm_threads(run.vm), th);
            for (size_t o = 0; o < sizeof all_ops_outputs / sizeof all_ops_outputs[0]; o++) {
                adead_tensor_view x = output_of(&base, all_ops_outputs[o]), y = output_of(&run, all_ops_outputs[o]);
                assert_int_equal(x.nbytes, y.nbytes);
                if (memcmp(x.data, y.data, x.nbytes)) fail_msg("output %s at %s, %d threads: not the scalar level's bits", all_ops_outputs[o], names[l], th);
            }
            run_free(&run);
        }
    }
    run_free(&base);
    free(a), free(b), free(bias), free(col), free(q), free(k), free(v), free(mm), free(at);
}

static void test_api_set_simd_and_threads_errors(void **state)
{
    (void)state;
    adead_program *p = assemble_ok(".output c f32 [1]\n    HALT\n");
    adead_vm *vm = adead_vm_new(p);
    assert_int_equal(adead_vm_set_simd(vm, "avx9"), ADEAD_E_ARG);
    assert_non_null(strstr(adead_vm_error(vm), "adead_vm_set_simd: \"avx9\" is not a SIMD level"));
    assert_int_equal(adead_vm_set_simd(vm, ""), ADEAD_E_ARG);
    assert_int_equal(adead_vm_set_threads(vm, -1), ADEAD_E_ARG);
    assert_non_null(strstr(adead_vm_error(vm), "adead_vm_set_threads: -1 is not a thread count"));
    assert_int_equal(adead_vm_set_threads(vm, CPU_MAX_THREADS + 1), ADEAD_E_ARG);
    assert_int_equal(adead_vm_set_threads(vm, 7), ADEAD_OK);
    assert_int_equal(adead_vm_threads(vm), 7);
    assert_int_equal(adead_vm_set_simd(vm, "SCALAR"), ADEAD_OK); /* names are case-insensitive */
    assert_string_equal(adead_vm_simd(vm), "scalar");
    assert_int_equal(adead_vm_set_simd(vm, NULL), ADEAD_OK); /* NULL: the best */
    assert_string_equal(adead_vm_simd(vm), simd_name(cpu_detect()->best));
    assert_int_equal(adead_vm_set_simd(vm, "auto"), ADEAD_OK);
    assert_int_equal(adead_vm_threads(vm), 7); /* the level does not reset the threads */
    assert_int_equal(adead_vm_run(vm), ADEAD_OK);
    assert_int_equal(adead_vm_set_simd(NULL, "scalar"), ADEAD_E_ARG);
    assert_int_equal(adead_vm_set_threads(NULL, 1), ADEAD_E_ARG);
    adead_vm_free(vm);
    adead_program_free(p);
}

/* A VM made while NAME=value is in the environment: the run's status and message. */
static int run_with_env(const char *name, const char *value, char *msg, size_t len, const char *then_simd)
{
    const char *old = getenv(name);
    char *saved = old ? strdup(old) : NULL;
    setenv(name, value, 1);
    adead_program *p = assemble_ok(".output c f32 [1]\n    HALT\n");
    adead_vm *vm = adead_vm_new(p);
    if (saved) setenv(name, saved, 1);
    else unsetenv(name);
    free(saved);
    assert_non_null(vm);
    if (then_simd) assert_int_equal(adead_vm_set_simd(vm, then_simd), ADEAD_OK);
    int rc = adead_vm_run(vm);
    snprintf(msg, len, "%s|%s|%d", adead_vm_error(vm), adead_vm_simd(vm), adead_vm_threads(vm));
    adead_vm_free(vm);
    adead_program_free(p);
    return rc;
}

static void test_api_environment(void **state)
{
    (void)state;
    char msg[512];
    assert_int_equal(run_with_env("ADEAD_SIMD", "bogus", msg, sizeof msg, NULL), ADEAD_E_ARG);
    if (!strstr(msg, "ADEAD_SIMD=bogus: not a SIMD level")) fail_msg("%s", msg);
    assert_int_equal(run_with_env("ADEAD_THREADS", "abc", msg, sizeof msg, NULL), ADEAD_E_ARG);
    if (!strstr(msg, "ADEAD_THREADS=abc: not a thread count")) fail_msg("%s", msg);
    assert_int_equal(run_with_env("ADEAD_THREADS", "-1", msg, sizeof msg, NULL), ADEAD_E_ARG);
    if (!strstr(msg, "ADEAD_THREADS=-1")) fail_msg("%s", msg);
    assert_int_equal(run_with_env("ADEAD_THREADS", "3x", msg, sizeof msg, NULL), ADEAD_E_ARG);
    /* An explicit adead_vm_set_simd replaces the environment's level, and its error. */
    assert_int_equal(run_with_env("ADEAD_SIMD", "bogus", msg, sizeof msg, "scalar"), ADEAD_OK);
    /* Good values are taken. */
    assert_int_equal(run_with_env("ADEAD_SIMD", "scalar", msg, sizeof msg, NULL), ADEAD_OK);
    if (!strstr(msg, "|scalar|")) fail_msg("%s", msg);
    assert_int_equal(run_with_env("ADEAD_THREADS", "3", msg, sizeof msg, NULL), ADEAD_OK);
    if (!strstr(msg, "|3")) fail_msg("%s", msg);
    assert_int_equal(run_with_env("ADEAD_SIMD", "auto", msg, sizeof msg, NULL), ADEAD_OK);
    /* A level this host lacks fails the run too. */
    for (int l = 0; l < SIMD_LEVELS; l++)
        if (!cpu_detect()->has[l] || !cpu_kernels_for((simd_level)l)) {
            assert_int_equal(run_with_env("ADEAD_SIMD", simd_name((simd_level)l), msg, sizeof msg, NULL), ADEAD_E_ARG);
            if (!strstr(msg, "ADEAD_SIMD=") || !strstr(msg, "not available")) fail_msg("%s", msg);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_tiles),
        cmocka_unit_test(test_matmul_blocking),
        cmocka_unit_test(test_matmul_empty_and_k0),
        cmocka_unit_test(test_matmul_ftz_boundary),
        cmocka_unit_test(test_matmul_random),
        cmocka_unit_test(test_softmax_row_kinds),
        cmocka_unit_test(test_softmax_items),
        cmocka_unit_test(test_softmax_random),
        cmocka_unit_test(test_exp_kernels),
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_elementwise_shapes),
        cmocka_unit_test(test_elementwise_random),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_attention_grid),
        cmocka_unit_test(test_attention_edges),
        cmocka_unit_test(test_attention_random),
        cmocka_unit_test(test_threads_agree),
        cmocka_unit_test(test_caller_flush_bits_do_not_matter),
        cmocka_unit_test(test_sse2_fma_emulation),
        cmocka_unit_test(test_vm_attention_matches_reference),
        cmocka_unit_test(test_vm_attention_shape_traps),
        cmocka_unit_test(test_vm_attention_aliasing),
        cmocka_unit_test(test_vm_vk_compute_attention_same_bits),
        cmocka_unit_test(test_vm_vk_compute_attention_shape_traps),
        cmocka_unit_test(test_api_each_level_same_outputs),
        cmocka_unit_test(test_api_set_simd_and_threads_errors),
        cmocka_unit_test(test_api_environment),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
