/* The NEON kernel table (AArch64): kern_template.h over v_neon.h, each entry wrapped in the
 * FPSR.UFC check that keeps it bit-exact with the model under FPCR.FZ (v_neon.h explains). */
#if defined(__aarch64__)
#define KLEVEL SIMD_NEON
#include "simd/v_neon.h"
#include "simd/kern_template.h"
#include "ref_ops.h"

#include "aarch64_fp.h"

#include <stdlib.h>
#include <string.h>

/* Each unit of work runs in a function that is not inlined, and the FPSR accesses are volatile
 * with a memory clobber, so no floating-point operation of the unit can move across them. */
static inline void ufc_clear(void)
{
    uint64_t s = get_fpsr();
    if (s & FPSR_UFC) set_fpsr(s & ~FPSR_UFC);
}
static inline int ufc_raised(void) { return (get_fpsr() & FPSR_UFC) != 0; }

/* The scalar reference runs with FZ off: under FZ its FTZ slow paths (isa/f32.c) would see a
 * flushed 0 where they must see FLT_MIN or a subnormal. */
static uint64_t fz_off(void)
{
    uint64_t c = get_fpcr();
    set_fpcr(c & ~FPCR_FZ);
    return c;
}
static void fz_restore(uint64_t c) { set_fpcr(c); }

/* Units recomputed by the reference, per kernel: 0 gemm tiles, 1 softmax rows, 2 TMUL runs,
 * 3 attention items. For tests/neon/neon_diff.c (it declares this function itself). */
static uint64_t fallbacks[4];
static void count_fallback(int kind) { __atomic_fetch_add(&fallbacks[kind], 1, __ATOMIC_RELAXED); }
uint64_t cpu_neon_fallbacks(int kind);
uint64_t cpu_neon_fallbacks(int kind) { return kind >= 0 && kind < 4 ? __atomic_load_n(&fallbacks[kind], __ATOMIC_RELAXED) : 0; }

/* f32_exp's bits through the vector exp, which never raises underflow (KEXP1, v_neon.h). */
static float neon_exp1(float x) { return f32_canon(vgetq_lane_f32(vexp_nonpos(vdupq_n_f32(x)), 0)); }

/* ---- the units of work, each a call that is not inlined ---- */
__attribute__((noinline)) static void gemm_unit(int64_t kc, const float *a, int64_t ars, int64_t acs, const float *b,
                                                float *c, int64_t ldc, int first, int last)
{
    gemm_micro(kc, a, ars, acs, b, c, ldc, first, last);
}

__attribute__((noinline)) static void softmax_unit(const float *x, float *y, int64_t n) { softmax_rows(x, y, 1, n, NULL, 0); }

__attribute__((noinline)) static void exp_unit(const float *x, float *y, int64_t n) { exp_nonpos(x, y, n); }

__attribute__((noinline)) static void mul_unit(const float *a, int64_t sa, const float *b, int64_t sb, float *out,
                                               int64_t n)
{
    binary(KOP_MUL, a, sa, b, sb, out, n);
}

__attribute__((noinline)) static void attention_unit(const attn_shape *s, const float *q, const float *k,
                                                     const float *v, float *o, int64_t r0, int64_t r1, float *scratch)
{
    attention_rows(s, q, k, v, o, r0, r1, scratch);
}

/* ---- MATMUL: one micro-tile over one kc block. The chain values it continues from (c when
 * !first) are kept so that the tile can be recomputed. ---- */
static void neon_gemm_micro(int64_t kc, const float *a, int64_t ars, int64_t acs, const float *b, float *c,
                            int64_t ldc, int first, int last)
{
    float c0[GEMM_MR * NR];
    if (!first)
        for (int i = 0; i < GEMM_MR; i++) memcpy(c0 + i * NR, c + i * ldc, sizeof(float) * NR);
    ufc_clear();
    gemm_unit(kc, a, ars, acs, b, c, ldc, first, last);
    if (!ufc_raised()) return;
    count_fallback(0);
    uint64_t fpcr = fz_off();
    for (int i = 0; i < GEMM_MR; i++)
        for (int j = 0; j < NR; j++) {
            float acc = first ? 0.0f : c0[i * NR + j];
            for (int64_t k = 0; k < kc; k++) acc = f32_fma(a[i * ars + k * acs], b[k * NR + j], acc);
            c[i * ldc + j] = last ? f32_canon(acc) : acc;
        }
    fz_restore(fpcr);
}

/* ---- SOFTMAX: row by row; an in-place row is copied first. ---- */
#define ROW_ON_STACK 2048

static void neon_softmax_rows(const float *in, float *out, int64_t rows, int64_t n, float *tmp, int stream)
{
    (void)tmp; /* row by row, for the UFC check: no overlap between rows, no streaming stores */
    (void)stream;
    float stack[ROW_ON_STACK], *keep = NULL;
    if (in == out) {
        keep = n <= ROW_ON_STACK ? stack : malloc((size_t)n * sizeof(float));
        if (!keep) { /* no room to keep a row: the reference, exact and slower */
            uint64_t fpcr = fz_off();
            ref_softmax(in, out, rows, n);
            fz_restore(fpcr);
            return;
        }
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *x = in + r * n;
        float *y = out + r * n;
        if (keep) memcpy(keep, x, (size_t)n * sizeof(float));
        ufc_clear();
        softmax_unit(x, y, n);
        if (!ufc_raised()) continue;
        count_fallback(1);
        uint64_t fpcr = fz_off();
        ref_softmax(keep ? keep : x, y, 1, n);
        fz_restore(fpcr);
    }
    if (keep != stack) free(keep);
}

/* ---- TADD / TSUB / TMUL. A sum or difference of DAZ'd operands below FLT_MIN is exact, and
 * FZ writes it as the model does (the zero of its sign): no check. TMUL goes in runs of
 * MUL_RUN, through a buffer when out overlaps an operand (which is then still there for the
 * reference). ---- */
#define MUL_RUN 1024

static int overlaps(const float *p, int64_t np, const float *q, int64_t nq) { return p < q + nq && q < p + np; }

static void neon_binary(int op, const float *a, int64_t sa, const float *b, int64_t sb, float *out, int64_t n)
{
    if (op != KOP_MUL) {
        binary(op, a, sa, b, sb, out, n);
        return;
    }
    float buf[MUL_RUN];
    int alias = overlaps(out, n, a, sa ? n : 1) || overlaps(out, n, b, sb ? n : 1);
    for (int64_t i0 = 0; i0 < n; i0 += MUL_RUN) {
        int64_t len = n - i0 < MUL_RUN ? n - i0 : MUL_RUN;
        const float *ai = a + i0 * sa, *bi = b + i0 * sb;
        ufc_clear();
        mul_unit(ai, sa, bi, sb, alias ? buf : out + i0, len);
        if (!ufc_raised()) {
            if (alias) memcpy(out + i0, buf, (size_t)len * sizeof(float));
            continue;
        }
        count_fallback(2);
        uint64_t fpcr = fz_off();
        for (int64_t i = 0; i < len; i++) out[i0 + i] = f32_canon(f32_mul(ai[i * sa], bi[i * sb]));
        fz_restore(fpcr);
    }
}

/* ---- ATTENTION: one item of query rows; o is not an input. ---- */
static void neon_attention_rows(const attn_shape *s, const float *q, const float *k, const float *v, float *o,
                                int64_t r0, int64_t r1, float *scratch)
{
    ufc_clear();
    attention_unit(s, q, k, v, o, r0, r1, scratch);
    if (!ufc_raised()) return;
    count_fallback(3);
    uint64_t fpcr = fz_off();
    ref_attention_rows(s, q, k, v, o, r0, r1);
    fz_restore(fpcr);
}

/* ---- exp (for tests): in runs of EXP_RUN; y is not x. ---- */
#define EXP_RUN 1024

static void neon_exp_nonpos(const float *x, float *y, int64_t n)
{
    for (int64_t i0 = 0; i0 < n; i0 += EXP_RUN) {
        int64_t len = n - i0 < EXP_RUN ? n - i0 : EXP_RUN;
        ufc_clear();
        exp_unit(x + i0, y + i0, len);
        if (!ufc_raised()) continue;
        uint64_t fpcr = fz_off();
        for (int64_t i = 0; i < len; i++) y[i0 + i] = f32_exp(x[i0 + i]);
        fz_restore(fpcr);
    }
}

/* RELU and TRANSPOSE only compare, mask and move bits: nothing to flush, the template's
 * kernels as they are. */
const cpu_kernels cpu_kernels_neon = {SIMD_NEON,         GEMM_MR, NR, neon_gemm_micro, neon_softmax_rows, relu, neon_binary, VW,
                                      transpose_tile32, neon_attention_rows, neon_exp_nonpos};
#else
typedef int simd_neon_not_on_this_architecture;
#endif
