/* The f32 model of docs/ops.md: checked against the hardware (x86 with MXCSR DAZ|FTZ, fused
 * FMA), against exhaustive sweeps where they are feasible, and against hand-derived values. */
#include "../isa/f32.h"
#include "testutil.h"

static int same(float x, float y) { return f32_isnan(x) ? f32_isnan(y) : f32_bits(x) == f32_bits(y); }

static float fbits(uint32_t b) { return f32_from(b); }

#if defined(__x86_64__)
/* The hardware with DAZ|FTZ, in inline asm so that the MXCSR switch and the operation cannot be
 * reordered by the compiler. */
#define MXCSR_DAZ_FTZ 0x8040u
#define HW_BINARY(name, insn)                                                                                   \
    static float name(float a, float b)                                                                         \
    {                                                                                                           \
        unsigned old, flush;                                                                                    \
        __asm__ volatile("stmxcsr %0" : "=m"(old));                                                             \
        flush = old | MXCSR_DAZ_FTZ;                                                                            \
        __asm__ volatile("ldmxcsr %[f]\n\t" insn " %[b], %[a]\n\tldmxcsr %[o]" : [a] "+x"(a) : [b] "x"(b), [f] "m"(flush), [o] "m"(old)); \
        return a;                                                                                               \
    }
HW_BINARY(hw_add, "addss")
HW_BINARY(hw_sub, "subss")
HW_BINARY(hw_mul, "mulss")
HW_BINARY(hw_div, "divss")

static float hw_fma(float a, float b, float c)
{
    unsigned old, flush;
    __asm__ volatile("stmxcsr %0" : "=m"(old));
    flush = old | MXCSR_DAZ_FTZ;
    __asm__ volatile("ldmxcsr %[f]\n\tvfmadd231ss %[b], %[a], %[c]\n\tldmxcsr %[o]"
                     : [c] "+x"(c)
                     : [a] "x"(a), [b] "x"(b), [f] "m"(flush), [o] "m"(old));
    return c;
}

/* Random operands that exercise the flush boundary: besides rng_f32_bits' mix, products that
 * land near FLT_MIN and third operands that nearly cancel a product. */
static void pick_operands(rng *r, uint64_t i, float *a, float *b, float *c)
{
    *a = fbits(rng_f32_bits(r));
    *b = fbits(rng_f32_bits(r));
    *c = fbits(rng_f32_bits(r));
    if (i % 4 == 1) { /* a*b around 2^-126 */
        *a = fbits((rng_u32(r) & 0x807FFFFFu) | (63u << 23));
        *b = fbits((rng_u32(r) & 0x807FFFFFu) | (64u << 23));
    }
    if (i % 4 == 2) { /* c = -(a*b) give or take a few ulp */
        double p = (double)*a * (double)*b;
        *c = fbits(f32_bits((float)-p) + (rng_u32(r) % 5u) - 2u);
    }
}

static void test_model_matches_x86_daz_ftz(void **state)
{
    (void)state;
    rng r = {0x9E3779B97F4A7C15ull};
    int have_fma = __builtin_cpu_supports("fma");
    if (!have_fma) printf("note: this CPU has no FMA; fma is checked by the fixed cases only\n");
    uint64_t tiny_paths = 0;
    for (uint64_t i = 0; i < 3000000; i++) {
        float a, b, c;
        pick_operands(&r, i, &a, &b, &c);
        if (!same(f32_add(a, b), hw_add(a, b))) fail_msg("add %08x %08x", f32_bits(a), f32_bits(b));
        if (!same(f32_sub(a, b), hw_sub(a, b))) fail_msg("sub %08x %08x", f32_bits(a), f32_bits(b));
        if (!same(f32_mul(a, b), hw_mul(a, b))) fail_msg("mul %08x %08x", f32_bits(a), f32_bits(b));
        if (!same(f32_div(a, b), hw_div(a, b))) fail_msg("div %08x %08x", f32_bits(a), f32_bits(b));
        if (have_fma && !same(f32_fma(a, b, c), hw_fma(a, b, c)))
            fail_msg("fma %08x %08x %08x: model %08x hw %08x", f32_bits(a), f32_bits(b), f32_bits(c), f32_bits(f32_fma(a, b, c)),
                     f32_bits(hw_fma(a, b, c)));
        tiny_paths += f32_needs_tiny_check(fmaf(f32_daz(a), f32_daz(b), f32_daz(c)));
    }
    assert_true(tiny_paths > 100000); /* the slow path was really exercised */
}

/* Every product and fma of significands next to 1 with values next to FLT_MIN: the window
 * where the flush decision needs the exact result is only ~2^-24 wide, too narrow for random
 * operands to find reliably. */
static void test_model_matches_x86_near_flt_min(void **state)
{
    (void)state;
    int have_fma = __builtin_cpu_supports("fma");
    for (uint32_t ua = 0x3F7FFE00u; ua < 0x3F800200u; ua++)
        for (uint32_t ub = 0x00800000u; ub < 0x00800100u; ub++)
            for (uint32_t sign = 0; sign < 2; sign++) {
                float a = fbits(ua | sign << 31), b = fbits(ub);
                if (!same(f32_mul(a, b), hw_mul(a, b))) fail_msg("mul %08x %08x", f32_bits(a), f32_bits(b));
                float c = fbits(ub & 0x00FFFFFFu ? 0x00800000u | (ua & 0xFFu) : 0u);
                if (have_fma && !same(f32_fma(a, b, -c), hw_fma(a, b, -c)))
                    fail_msg("fma %08x %08x %08x", f32_bits(a), f32_bits(b), f32_bits(-c));
                if (have_fma && !same(f32_fma(a, b, 0.0f), hw_fma(a, b, 0.0f)))
                    fail_msg("fma %08x %08x 0", f32_bits(a), f32_bits(b));
            }
}
#else
static void test_model_matches_x86_daz_ftz(void **state)
{
    (void)state;
    printf("note: not an x86-64 host; the model is checked by the fixed and exhaustive cases only\n");
}

static void test_model_matches_x86_near_flt_min(void **state) { (void)state; }
#endif

/* The flush boundary, by hand: tininess is decided after rounding to 24 bits. */
static void test_flush_boundary_cases(void **state)
{
    (void)state;
    float flt_min = fbits(0x00800000u), below = fbits(0x3F7FFFFFu); /* 1 - 2^-24 */
    assert_int_equal(f32_bits(f32_mul(below, flt_min)), 0);               /* IEEE: FLT_MIN; model: 0 */
    assert_int_equal(f32_bits(f32_mul(-below, flt_min)), 0x80000000u);    /* with the sign */
    assert_int_equal(f32_bits(f32_mul(1.0f, flt_min)), 0x00800000u);
    assert_int_equal(f32_bits(f32_mul(fbits(0x3F800001u), flt_min)), 0x00800001u);
    /* (1 - 2^-23) * 2^-126 * (1 + 2^-23): exact value >= FLT_MIN - 2^-151 rounds up and is kept. */
    assert_int_equal(f32_bits(f32_mul(fbits(0x3F7FFFFFu), fbits(0x00800001u))), 0x00800000u);
    /* Subnormal inputs read as zero. */
    assert_int_equal(f32_bits(f32_add(fbits(0x00000001u), fbits(0x00000001u))), 0);
    assert_int_equal(f32_bits(f32_mul(fbits(0x80400000u), 2.0f)), 0x80000000u);
    /* Exact cancellation into the subnormal range flushes. */
    assert_int_equal(f32_bits(f32_sub(fbits(0x00800001u), fbits(0x00800000u))), 0);
    /* fma rounds once: (1 + 2^-23)^2 - (1 + 2^-22) = 2^-46, which a separate multiply loses. */
    float x = fbits(0x3F800001u);
    assert_true(f32_fma(x, x, -fbits(0x3F800002u)) == 0x1p-46f);
    assert_true(f32_add(f32_mul(x, x), -fbits(0x3F800002u)) == 0.0f);
    /* fma whose exact result is just below FLT_MIN (tiny after rounding) and just at it. */
    assert_int_equal(f32_bits(f32_fma(below, flt_min, 0.0f)), 0);
    assert_int_equal(f32_bits(f32_fma(1.0f, flt_min, -0.0f)), 0x00800000u);
}

static void test_canonical_nan_and_minmax(void **state)
{
    (void)state;
    float qnan = fbits(0x7FC00001u), neg_nan = fbits(0xFFC00000u);
    assert_int_equal(f32_bits(f32_canon(qnan)), F32_CANON_NAN);
    assert_int_equal(f32_bits(f32_canon(neg_nan)), F32_CANON_NAN);
    assert_int_equal(f32_bits(f32_max(0.0f, -0.0f)), 0);
    assert_int_equal(f32_bits(f32_max(-0.0f, 0.0f)), 0);
    assert_int_equal(f32_bits(f32_min(0.0f, -0.0f)), 0x80000000u);
    assert_int_equal(f32_bits(f32_min(-0.0f, 0.0f)), 0x80000000u);
    assert_true(f32_isnan(f32_max(qnan, 1.0f)) && f32_isnan(f32_max(1.0f, qnan)));
    assert_true(f32_isnan(f32_min(qnan, 1.0f)) && f32_isnan(f32_min(1.0f, qnan)));
    assert_true(f32_max(-INFINITY, 3.0f) == 3.0f);
    assert_int_equal(f32_bits(f32_max(fbits(0x00000005u), -0.0f)), 0); /* subnormal reads as +0 */
    assert_int_equal(f32_bits(f32_neg(fbits(0x00000005u))), 0x80000000u);
    assert_int_equal(f32_bits(f32_abs(fbits(0x80000005u))), 0);
    assert_false(f32_lt(fbits(0x80000001u), fbits(0x00000001u))); /* both read as zero */
    assert_true(f32_eq(fbits(0x80000001u), 0.0f));
}

/* The reciprocal is correctly rounded on every significand (2^23 cases). The reference is the
 * double quotient rounded to float: 1/b is never within double precision of a float midpoint. */
static void test_recip_every_significand(void **state)
{
    (void)state;
    for (uint32_t m = 0; m < 0x800000u; m++) {
        float b = fbits(0x3F800000u | m);
        float want = (float)(1.0 / (double)b);
        if (f32_bits(f32_recip(b)) != f32_bits(want)) fail_msg("recip(%08x) = %08x, want %08x", f32_bits(b), f32_bits(f32_recip(b)), f32_bits(want));
    }
}

static void test_division_specials_and_exceptions(void **state)
{
    (void)state;
    assert_true(f32_isnan(f32_div(0.0f, 0.0f)));
    assert_true(f32_isnan(f32_div(INFINITY, -INFINITY)));
    assert_true(f32_isnan(f32_div(fbits(0x7FC00001u), 1.0f)));
    assert_int_equal(f32_bits(f32_div(-1.0f, 0.0f)), 0xFF800000u);
    assert_int_equal(f32_bits(f32_div(1.0f, -0.0f)), 0xFF800000u);
    assert_int_equal(f32_bits(f32_div(fbits(0x00000003u), 1.0f)), 0); /* 0 / 1 after DAZ */
    assert_int_equal(f32_bits(f32_div(-3.0f, INFINITY)), 0x80000000u);
    assert_int_equal(f32_bits(f32_div(INFINITY, -2.0f)), 0xFF800000u);
    assert_int_equal(f32_bits(f32_div(FLT_MAX, 0.5f)), 0x7F800000u);   /* overflow */
    assert_int_equal(f32_bits(f32_div(FLT_MIN, 2.0f)), 0);             /* tiny: flushed */
    assert_int_equal(f32_bits(f32_div(1.0f, 3.0f)), 0x3EAAAAABu);
    /* The Markstein exception, divided into every significand, and 1 by every significand. */
    float b = fbits(0x3FFFFFFFu);
    for (uint32_t m = 0; m < 0x800000u; m += 3) {
        float a = fbits(0x3F800000u | m);
        assert_int_equal(f32_bits(f32_div(a, b)), f32_bits((float)((double)a / (double)b)));
        assert_int_equal(f32_bits(f32_div(1.0f, a)), f32_bits((float)(1.0 / (double)a)));
    }
}

/* Random quotients whose result is a normal number, against the double quotient rounded once
 * (the flush cases are covered against the hardware above). */
static void test_division_random(void **state)
{
    (void)state;
    rng r = {12345};
    for (int i = 0; i < 4000000; i++) {
        float a = fbits((rng_u32(&r) & 0x807FFFFFu) | ((64u + rng_u32(&r) % 64u) << 23));
        float b = fbits((rng_u32(&r) & 0x807FFFFFu) | ((96u + rng_u32(&r) % 64u) << 23));
        float want = (float)((double)a / (double)b);
        if (f32_bits(f32_div(a, b)) != f32_bits(want)) fail_msg("%08x / %08x", f32_bits(a), f32_bits(b));
    }
}

/* ulp distance between two finite floats of the same sign (or zero). */
static long ulp_distance(float x, float y)
{
    long d = (long)f32_bits(x) - (long)f32_bits(y);
    return d < 0 ? -d : d;
}

/* exp against the double-precision one, flushed like the model: its ulp distance. */
static long exp_error(float x)
{
    double e = exp((double)x);
    float want = e < FLT_MIN ? 0.0f : (float)e;
    return ulp_distance(f32_exp(x), want);
}

static void test_exp_accuracy_and_specials(void **state)
{
    (void)state;
    assert_int_equal(f32_bits(f32_exp(0.0f)), 0x3F800000u);
    assert_int_equal(f32_bits(f32_exp(-0.0f)), 0x3F800000u);
    assert_int_equal(f32_bits(f32_exp(fbits(0x00000001u))), 0x3F800000u);
    assert_int_equal(f32_bits(f32_exp(-INFINITY)), 0);
    assert_int_equal(f32_bits(f32_exp(INFINITY)), 0x7F800000u);
    assert_int_equal(f32_bits(f32_exp(100.0f)), 0x7F800000u);
    assert_int_equal(f32_bits(f32_exp(-100.0f)), 0);
    assert_true(f32_isnan(f32_exp(fbits(0xFFC00123u))));
    assert_true(f32_exp(88.72f) < INFINITY); /* k = 128: the last doubling */
    assert_int_equal(f32_bits(f32_exp(1.0f)), 0x402DF854u); /* e, correctly rounded */
    /* XLO: the first float below it gives +0 by rule (n would be -2017); at XLO n = -2016. */
    float xlo = fbits(F32_EXP_XLO_BITS);
    assert_int_equal(f32_bits(f32_exp(fbits(F32_EXP_XLO_BITS + 1u))), 0);
    assert_true(f32_sub(f32_fma(xlo, fbits(F32_EXP_L16_BITS), F32_EXP_SHIFTER), F32_EXP_SHIFTER) == -2016.0f);
    assert_true(f32_sub(f32_fma(fbits(F32_EXP_XLO_BITS + 1u), fbits(F32_EXP_L16_BITS), F32_EXP_SHIFTER), F32_EXP_SHIFTER) ==
                -2017.0f);
    /* Within 1 ulp across the range, and almost always correctly rounded (exhaustively: 98.04%
     * of all floats; docs/ops.md 1.2). Every float near both ends, a sample elsewhere. */
    long worst = 0, exact = 0, total = 0;
    for (uint32_t u = 0; u < 0xFFFFFFFFu - 1000; u += 997) {
        float x = fbits(u);
        if (f32_isnan(x)) continue;
        long d = exp_error(x);
        worst = d > worst ? d : worst;
        exact += d == 0;
        total++;
    }
    for (float x = 88.0f; x <= 89.0f; x = nextafterf(x, INFINITY)) worst = exp_error(x) > worst ? exp_error(x) : worst;
    for (float x = -87.5f; x <= -87.2f; x = nextafterf(x, INFINITY)) worst = exp_error(x) > worst ? exp_error(x) : worst;
    assert_true(worst <= 1);
    assert_true(exact * 100 >= total * 97);
}

/* The table of 1.2 (2^(j/16) rounded to nearest), the kernels' biased copy of it, and the
 * kernels' clamp: every x in [F32_EXP_CLAMP, XLO) rounds to n in [-2032, -2017], so k = -127
 * and s has a zero exponent field (read as 0 under DAZ: y = +0, as the definition says). */
static void test_exp_tables_and_clamp(void **state)
{
    (void)state;
    for (uint32_t j = 0; j < 16; j++) {
        assert_true(fbits(f32_exp_table[j]) == (float)exp2((double)j / 16.0));
        assert_int_equal(f32_exp_scale_table[j], f32_exp_table[j] - (j << 19));
    }
    for (float x = F32_EXP_CLAMP; x < fbits(F32_EXP_XLO_BITS); x = nextafterf(x, 0.0f)) {
        float n = f32_sub(f32_fma(x, fbits(F32_EXP_L16_BITS), F32_EXP_SHIFTER), F32_EXP_SHIFTER);
        if (!(n >= -2032.0f && n <= -2017.0f)) fail_msg("x = %a gives n = %g", (double)x, (double)n);
    }
}

/* The reduction tree of docs/ops.md 1.3, on a case where it differs from a left-to-right sum:
 * 2^24 at x[0], ones at x[1] and x[3]. The ones meet first (P1 += P3 at w = 2), so the total is
 * 2^24 + 2, where adding them one at a time to 2^24 would round each away. */
static void test_reduction_order(void **state)
{
    (void)state;
    float x[40] = {0};
    x[0] = 16777216.0f;
    x[1] = 1.0f;
    x[3] = 1.0f;
    assert_true(f32_reduce_sum(x, 40) == 16777218.0f);
    /* Strided partials: x[1] and x[33] land in the same partial and add first. */
    float y[40] = {0};
    y[0] = 16777216.0f;
    y[1] = 1.0f;
    y[33] = 1.0f;
    assert_true(f32_reduce_sum(y, 40) == 16777218.0f);
    /* ...while x[1] and x[2] only meet through P0 after it holds 2^24. */
    float z[40] = {0};
    z[0] = 16777216.0f;
    z[1] = 1.0f;
    z[2] = 1.0f;
    assert_true(f32_reduce_sum(z, 40) == 16777216.0f);
    assert_int_equal(f32_bits(f32_reduce_sum(z, 0)), 0);
    assert_true(f32_reduce_max(z, 0) == -INFINITY);
    float w[3] = {-0.0f, -0.0f, -0.0f};
    assert_int_equal(f32_bits(f32_reduce_max(w, 3)), 0x80000000u);
    assert_int_equal(f32_bits(f32_reduce_sum(w, 3)), 0); /* partials start at +0 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_matches_x86_daz_ftz),
        cmocka_unit_test(test_model_matches_x86_near_flt_min),
        cmocka_unit_test(test_flush_boundary_cases),
        cmocka_unit_test(test_canonical_nan_and_minmax),
        cmocka_unit_test(test_recip_every_significand),
        cmocka_unit_test(test_division_specials_and_exceptions),
        cmocka_unit_test(test_division_random),
        cmocka_unit_test(test_exp_accuracy_and_specials),
        cmocka_unit_test(test_exp_tables_and_clamp),
        cmocka_unit_test(test_reduction_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
