/* The SIMD kernels, written once over a small vector vocabulary (v_avx512.h, v_avx2.h,
 * v_sse2.h, v_neon.h define V, VW and the v* functions; each level's .c file includes one of
 * them and then this file). Every kernel follows the reduction orders of docs/ops.md exactly;
 * the drivers set the floating-point environment (DAZ|FTZ, round to nearest). */
#include "../../../isa/f32.h"
#include "../kernels.h"

#include <stdint.h>

#define NR (GEMM_NV * VW)
#define NP (F32_PARTIALS / VW) /* registers of partials for the 1.3 row reductions */
#define KV (ATTN_BLOCK / VW)   /* registers per block of attention scores */

/* The scalar exp of attention's rescale factor: f32_exp, unless the level supplies a function
 * with the same bits (v_neon.h does, to keep exp(-inf) from raising underflow). */
#ifndef KEXP1
#define KEXP1 f32_exp
#endif

/* ---- MATMUL: the micro-kernel. Each c[i][j] continues its fma chain in k order. A's element
 * (i, k) is a[i * ars + k * acs]: a packed panel (ars 1, acs mr) or rows of A itself (ars lda,
 * acs 1). ---- */
static void gemm_micro(int64_t kc, const float *a, int64_t ars, int64_t acs, const float *b, float *c, int64_t ldc,
                       int first, int last)
{
    V acc[GEMM_MR][GEMM_NV];
    const float *ar[GEMM_MR];
#pragma GCC unroll 16
    for (int i = 0; i < GEMM_MR; i++) {
        ar[i] = a + i * ars;
#pragma GCC unroll 4
        for (int j = 0; j < GEMM_NV; j++) acc[i][j] = first ? vzero() : vload(c + i * ldc + j * VW);
    }
    for (int64_t k = 0; k < kc; k++) {
        V bv[GEMM_NV];
#pragma GCC unroll 4
        for (int j = 0; j < GEMM_NV; j++) bv[j] = vload(b + k * NR + j * VW);
#pragma GCC unroll 16
        for (int i = 0; i < GEMM_MR; i++) {
            V ai = vset(ar[i][k * acs]);
#pragma GCC unroll 4
            for (int j = 0; j < GEMM_NV; j++) acc[i][j] = vfma(ai, bv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < GEMM_MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < GEMM_NV; j++) vstore(c + i * ldc + j * VW, last ? vcanon(acc[i][j]) : acc[i][j]);
}

/* ---- exp (docs/ops.md 1.2) for x <= 0 or NaN, lane by lane: the only arguments SOFTMAX and
 * ATTENTION have (x - max). There k <= 0, so the definition's x > 89 and k = 128 cases never
 * arise, and the lanes below XLO are computed from F32_EXP_CLAMP instead, which gives them +0
 * (isa/f32.h says why). NaN lanes give some NaN (callers canonicalise): vmax_hw gives a NaN
 * when its second operand is one (x86 returns that operand, NEON's FMAX a NaN). In two stages, so that a loop can run one
 * block's argument reduction while it finishes the block before (a vector's chain of dependent
 * operations is long: about 40 cycles). ---- */
typedef struct {
    V t, r; /* t = 1.5*2^23 + n (steps 2 and 6 read n from it), r */
} vexp_part;

static inline vexp_part vexp_reduce(V x)
{
    V xa = vmax_hw(vset(F32_EXP_CLAMP), x), shifter = vset(F32_EXP_SHIFTER);
    vexp_part e;
    e.t = vfma(xa, vbits(F32_EXP_L16_BITS), shifter);
    V n = vsub(e.t, shifter);
    V r = vfnma(n, vbits(F32_EXP_LN2_HI16_BITS), xa);
    e.r = vfnma(n, vbits(F32_EXP_LN2_LO16_BITS), r);
    return e;
}

static inline V vexp_finish(vexp_part e)
{
    V p = vfma(vbits(F32_EXP_P3_BITS), e.r, vset(0.5f));
    p = vfma(p, e.r, vset(1.0f));
    V q = vmul(p, e.r);
    V sc = vexp_scale(e.t);
    return vfma(sc, q, sc);
}

static inline V vexp_nonpos(V x) { return vexp_finish(vexp_reduce(x)); }

/* For tests: y[i] = exp(x[i]) for x[i] <= 0 or NaN, canonicalised. */
static void exp_nonpos(const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + VW <= n; i += VW) vstore(y + i, vcanon(vexp_nonpos(vload(x + i))));
    if (i < n) vstore_n(y + i, vcanon(vexp_nonpos(vload_n(x + i, (int)(n - i), 0.0f))), (int)(n - i));
}

/* ---- row reductions (1.3) ---- */

/* The 1.3 tree over 32 partials held as NP registers: w = 16 ... VW fold registers, then lanes. */
static inline float fold_partials(V *P)
{
    for (int w = NP / 2; w >= 1; w /= 2)
        for (int r = 0; r < w; r++) P[r] = vadd(P[r], P[r + w]);
    return vtree_sum(P[0]);
}

/* sum: partial p is lane p % VW of register p / VW. The tail adds +0.0 to the partials it does
 * not reach, which changes nothing: a partial starts at +0 and so is never -0. */
static float row_sum(const float *x, int64_t n)
{
    V P[NP];
    for (int r = 0; r < NP; r++) P[r] = vzero();
    int64_t i = 0;
    for (; i + F32_PARTIALS <= n; i += F32_PARTIALS)
        for (int r = 0; r < NP; r++) P[r] = vadd(P[r], vload(x + i + r * VW));
    for (int r = 0; r < NP && i + r * VW < n; r++) {
        int64_t left = n - i - r * VW;
        P[r] = vadd(P[r], vload_n(x + i + r * VW, left < VW ? (int)left : VW, 0.0f));
    }
    return fold_partials(P);
}

/* max is associative and commutative in the model, so any order gives the reference's bits. */
static float lanes_max(V m)
{
    float t[VW];
    vto_array(m, t);
    float r = t[0];
    for (int i = 1; i < VW; i++) r = f32_max(r, t[i]);
    return r;
}

/* The exact model max, in any order. */
static float row_max_model(const float *x, int64_t n)
{
    V m = vset(-INFINITY);
    int64_t i = 0;
    for (; i + VW <= n; i += VW) m = vmax_model(m, vdaz(vload(x + i)));
    if (i < n) m = vmax_model(m, vdaz(vload_n(x + i, (int)(n - i), -INFINITY)));
    return lanes_max(m);
}

/* ---- SOFTMAX (docs/ops.md): per row, m = max; e_i = exp(x_i - m), stored and summed into
 * the 32 partials in the same pass (element i to partial i % 32, in increasing i, as row_sum
 * would); then y_i = e_i * (1/s). With scratch for two rows of e, the passes over memory are
 * spread over the arithmetic: while row r's exps are computed, the next row's max is taken
 * (its loads) and row r-1's y is written (its stores). ---- */

/* The max of a row from the hardware max (m0, m1 over all its elements): it can differ from
 * the model's max only in which zero or flushed subnormal wins, which matters only when the
 * result is zero or subnormal; then the row is taken again the exact way. A NaN in the row may
 * or may not come out; either way exp(x - m) of that element is NaN, so the row's sum (SOFTMAX)
 * or running sum l (ATTENTION) is NaN and every output NaN, as the definitions have it. */
static inline __attribute__((always_inline)) float finish_max(V m0, V m1, const float *x, int64_t n)
{
    float r = vtree_max_hw(vmax_hw(m0, m1));
    return (f32_bits(r) & 0x7FFFFFFFu) < F32_MIN_BITS ? row_max_model(x, n) : r;
}

static float row_max_hw(const float *x, int64_t n)
{
    V m0 = vset(-INFINITY), m1 = m0;
    int64_t i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        m0 = vmax_hw(m0, vload(x + i));
        m1 = vmax_hw(m1, vload(x + i + VW));
    }
    for (; i < n; i += VW) m0 = vmax_hw(m0, vload_n(x + i, n - i < VW ? (int)(n - i) : VW, -INFINITY));
    return finish_max(m0, m1, x, n);
}

/* y[i..n) = e[i..n) * inv; streamed (around the caches) when asked, y + i then being aligned
 * to a vector. The row's sum was finite, so no NaN can appear. */
static void scale_span(const float *e, float *y, int64_t i, int64_t n, V inv, int stream)
{
    if (stream)
        for (; i + VW <= n; i += VW) vstream(y + i, vmul(vload(e + i), inv));
    for (; i + VW <= n; i += VW) vstore(y + i, vmul(vload(e + i), inv));
    if (i < n) vstore_n(y + i, vmul(vload_n(e + i, (int)(n - i), 0.0f), inv), (int)(n - i));
}

/* Levels with registers to spare (v_avx512.h) set SOFTMAX_AHEAD: the main loop then reduces
 * the next block's arguments while it finishes this block's exps (10% faster on Zen 5). */
#ifndef SOFTMAX_AHEAD
#define SOFTMAX_AHEAD 0
#endif

/* One row's exps: e[i] = exp(x[i] - m) for i < n, added into the partials P. Done in the same
 * loop, when given: the max of the row `next` (its loads, into *m0 and *m1), the previous
 * row's y = pe * pinv (its stores), and a prefetch of the row `pf` into the L2. Each caller
 * passes constant NULLs for what it does not use, so each gets a loop of its own. */
static inline __attribute__((always_inline)) void exp_pass(const float *x, float *e, int64_t n, V mv, V *P,
                                                           const float *next, V *m0, V *m1, const float *pe,
                                                           float *py, V pinv, int pstream, const float *pf)
{
    vexp_part A[NP]; /* SOFTMAX_AHEAD: the current block's first stage, from the iteration before */
    if (SOFTMAX_AHEAD && n >= F32_PARTIALS)
        for (int r = 0; r < NP; r++) A[r] = vexp_reduce(vsub(vload(x + r * VW), mv));
    int64_t i = 0;
    for (; i + F32_PARTIALS <= n; i += F32_PARTIALS) {
        int64_t j = i + 2 * F32_PARTIALS <= n ? i + F32_PARTIALS : i; /* the next full block (or this one) */
        if (pf)
            for (int l = 0; l < F32_PARTIALS; l += 64 / (int)sizeof(float)) __builtin_prefetch(pf + i + l, 0, 1);
#pragma GCC unroll 8
        for (int r = 0; r < NP; r++) {
            if (next) {
                if (r & 1)
                    *m1 = vmax_hw(*m1, vload(next + i + r * VW));
                else
                    *m0 = vmax_hw(*m0, vload(next + i + r * VW));
            }
            vexp_part a;
            if (SOFTMAX_AHEAD) {
                a = A[r];
                A[r] = vexp_reduce(vsub(vload(x + j + r * VW), mv));
            } else {
                a = vexp_reduce(vsub(vload(x + i + r * VW), mv));
            }
            V ev = vexp_finish(a);
            vstore(e + i + r * VW, ev);
            P[r] = vadd(P[r], ev);
        }
        if (pe)
#pragma GCC unroll 8
            for (int r = 0; r < NP; r++) {
                V v = vmul(vload(pe + i + r * VW), pinv);
                if (pstream)
                    vstream(py + i + r * VW, v);
                else
                    vstore(py + i + r * VW, v);
            }
    }
    if (pe && i < n) scale_span(pe, py, i, n, pinv, pstream); /* a call: only when a tail is left */
#pragma GCC unroll 8
    for (int r = 0; r < NP; r++) { /* unrolled: P stays in registers */
        int64_t left = n - i - r * VW;
        if (left <= 0) break;
        int cnt = left < VW ? (int)left : VW;
        if (next) *m0 = vmax_hw(*m0, vload_n(next + i + r * VW, cnt, -INFINITY));
        V ev = vexp_nonpos(vsub(vload_n(x + i + r * VW, cnt, 0.0f), mv));
        vstore_n(e + i + r * VW, ev, cnt);
        P[r] = vadd(P[r], vload_n(e + i + r * VW, cnt, 0.0f)); /* +0 past the end: exact */
    }
}

/* tmp: NULL (e is kept in y, and y scaled in place), or 2n floats; stream: write y with
 * streaming stores where it is aligned (needs tmp: y is never read back).
 * Rows up to SOFTMAX_TMP_ROW with tmp: the next row's max is taken in the exp loop; for rows
 * up to SOFTMAX_TWO_AHEAD_ROW, the max of the row after it (kernels.h says why).
 * Longer rows with tmp (the driver gives it them when it streams): the two rows of e and the
 * row being read no longer fit the L1 together, so the max gets a pass of its own, over a row
 * the exp loop before prefetched into the L2; the exp loop keeps the previous row's stores. */
static inline __attribute__((always_inline)) void softmax_rows_ahead(const float *in, float *out, int64_t rows,
                                                                     int64_t n, float *tmp, int stream, const int ahead)
{
    /* The exp loop of row r takes the max of row r + ahead, a constant in each copy of this
     * loop (a variable one lost half the gain). m: row r's max; mn: the next row's, when
     * ahead is 2. */
    int split = ahead == 1 && tmp && n > SOFTMAX_TMP_ROW;
    float m = split ? 0.0f : row_max_hw(in, n), mn = ahead == 2 && rows > 1 ? row_max_hw(in + n, n) : 0.0f;
    const float *pe = NULL; /* the previous row's exps, to be scaled into py during this row */
    float *py = NULL;
    V pinv = vzero();
    int pstream = 0;
    for (int64_t row = 0; row < rows; row++) {
        const float *x = in + row * n;
        float *y = out + row * n, *e = tmp ? tmp + (row & 1) * n : y;
        V P[NP];
        for (int r = 0; r < NP; r++) P[r] = vzero();
        if (split) {
            exp_pass(x, e, n, vset(row_max_hw(x, n)), P, NULL, NULL, NULL, pe, py, pinv, pstream,
                     row + 1 < rows ? x + n : NULL);
        } else {
            /* The last rows take their own max again (unused). */
            const float *next = row + ahead < rows ? x + ahead * n : x;
            V m0 = vset(-INFINITY), m1 = m0;
            exp_pass(x, e, n, vset(m), P, next, &m0, &m1, pe, py, pinv, pstream, NULL);
            float mx = finish_max(m0, m1, next, n);
            m = ahead == 2 ? mn : mx;
            mn = mx;
        }
        float sum = fold_partials(P);
        pe = NULL;
        if (f32_isnan(sum)) { /* then every y is NaN (1/sum is) */
            for (int64_t i = 0; i < n; i++) y[i] = f32_from(F32_CANON_NAN);
            continue;
        }
        /* sum is in [1, n] (the max contributes exactly 1): the hardware quotient is the
         * correctly rounded one, which docs/ops.md 1.1's recip is. */
        V inv = vset(1.0f / sum);
        if (!tmp) {
            scale_span(y, y, 0, n, inv, 0);
            continue;
        }
        pe = e;
        py = y;
        pinv = inv;
        pstream = stream && (uintptr_t)y % (VW * sizeof(float)) == 0;
    }
    if (pe) scale_span(pe, py, 0, n, pinv, pstream);
    if (stream && tmp) vstream_fence();
}

static void softmax_rows(const float *in, float *out, int64_t rows, int64_t n, float *tmp, int stream)
{
    if (rows <= 0 || n <= 0) return;
    if (tmp && n <= SOFTMAX_TWO_AHEAD_ROW)
        softmax_rows_ahead(in, out, rows, n, tmp, stream, 2);
    else
        softmax_rows_ahead(in, out, rows, n, tmp, stream, 1);
}

/* ---- RELU ---- */
static void relu(const float *in, float *out, int64_t count)
{
    int64_t i = 0;
    for (; i + 4 * VW <= count; i += 4 * VW) {
        V a = vload(in + i), b = vload(in + i + VW), c = vload(in + i + 2 * VW), d = vload(in + i + 3 * VW);
        vstore(out + i, vrelu(a));
        vstore(out + i + VW, vrelu(b));
        vstore(out + i + 2 * VW, vrelu(c));
        vstore(out + i + 3 * VW, vrelu(d));
    }
    for (; i + VW <= count; i += VW) vstore(out + i, vrelu(vload(in + i)));
    if (i < count) vstore_n(out + i, vrelu(vload_n(in + i, (int)(count - i), 0.0f)), (int)(count - i));
}

/* ---- TADD / TSUB / TMUL on one run: strides 0 (a repeated scalar) or 1 ---- */
static inline V apply(int op, V a, V b)
{
    return op == KOP_ADD ? vadd(a, b) : op == KOP_SUB ? vsub(a, b) : vmul(a, b);
}

#define BINARY_LOOP(LOADA, LOADB, LOADA_N, LOADB_N)                                                                   \
    do {                                                                                                               \
        int64_t i = 0;                                                                                                 \
        for (; i + VW <= n; i += VW) vstore(out + i, vcanon(apply(op, LOADA, LOADB)));                                 \
        if (i < n) vstore_n(out + i, vcanon(apply(op, LOADA_N, LOADB_N)), (int)(n - i));                              \
    } while (0)

static inline void binary_op(int op, const float *a, int64_t sa, const float *b, int64_t sb, float *out, int64_t n)
{
    V as = vset(a[0]), bs = vset(b[0]);
    if (sa && sb)
        BINARY_LOOP(vload(a + i), vload(b + i), vload_n(a + i, (int)(n - i), 0.0f), vload_n(b + i, (int)(n - i), 0.0f));
    else if (sa)
        BINARY_LOOP(vload(a + i), bs, vload_n(a + i, (int)(n - i), 0.0f), bs);
    else if (sb)
        BINARY_LOOP(as, vload(b + i), as, vload_n(b + i, (int)(n - i), 0.0f));
    else
        BINARY_LOOP(as, bs, as, bs);
}

static void binary(int op, const float *a, int64_t sa, const float *b, int64_t sb, float *out, int64_t n)
{
    switch (op) { /* constant op per call: lets the compiler drop the select in apply() */
    case KOP_ADD: binary_op(KOP_ADD, a, sa, b, sb, out, n); break;
    case KOP_SUB: binary_op(KOP_SUB, a, sa, b, sb, out, n); break;
    default: binary_op(KOP_MUL, a, sa, b, sb, out, n); break;
    }
}

/* ---- TRANSPOSE: one VW x VW tile of 32-bit elements, moved bit for bit through registers,
 * so every store fills whole cache lines (a scalar transpose at a power-of-two stride keeps
 * evicting its own lines). ---- */
static void transpose_tile32(const float *src, int64_t lds, float *dst, int64_t ldd)
{
    V r[VW];
    for (int i = 0; i < VW; i++) r[i] = vload(src + i * lds);
    vtranspose(r);
    for (int i = 0; i < VW; i++) vstore(dst + i * ldd, r[i]);
}

/* ---- ATTENTION (docs/ops.md): key blocks of 64, online softmax, per query row. ---- */

/* o_row = mul(o_row, c), then the fma chain over the block's visible keys, lanes over dv
 * (columns from c0 on). */
static void attn_pv_cols(float *orow, const float *vblk, const float *p, int64_t nb, int64_t dv, int64_t c0, float c)
{
    V cv = vset(c);
    for (; c0 + 4 * VW <= dv; c0 += 4 * VW) {
        V a0 = vmul(vload(orow + c0), cv), a1 = vmul(vload(orow + c0 + VW), cv);
        V a2 = vmul(vload(orow + c0 + 2 * VW), cv), a3 = vmul(vload(orow + c0 + 3 * VW), cv);
        const float *vr = vblk + c0;
        for (int64_t j = 0; j < nb; j++, vr += dv) {
            V pj = vset(p[j]);
            a0 = vfma(pj, vload(vr), a0);
            a1 = vfma(pj, vload(vr + VW), a1);
            a2 = vfma(pj, vload(vr + 2 * VW), a2);
            a3 = vfma(pj, vload(vr + 3 * VW), a3);
        }
        vstore(orow + c0, a0);
        vstore(orow + c0 + VW, a1);
        vstore(orow + c0 + 2 * VW, a2);
        vstore(orow + c0 + 3 * VW, a3);
    }
    for (; c0 < dv; c0 += VW) {
        int cnt = dv - c0 < VW ? (int)(dv - c0) : VW;
        V a = vmul(vload_n(orow + c0, cnt, 0.0f), cv);
        const float *vr = vblk + c0;
        for (int64_t j = 0; j < nb; j++, vr += dv) a = vfma(vset(p[j]), vload_n(vr, cnt, 0.0f), a);
        vstore_n(orow + c0, a, cnt);
    }
}

static void attn_pv(float *orow, const float *vblk, const float *p, int64_t nb, int64_t dv, float c)
{
    attn_pv_cols(orow, vblk, p, nb, dv, 0, c);
}

/* attn_pv for ATT_G consecutive rows with the same visible keys: each row of V is loaded once
 * for all of them. Row g's chain is the same as attn_pv's. */
static void attn_pv_group(float *o, const float *vblk, const float *p, int64_t nb, int64_t dv, const float *c)
{
    int64_t c0 = 0;
    for (; c0 + 2 * VW <= dv; c0 += 2 * VW) {
        V a[ATT_G][2];
#pragma GCC unroll 8
        for (int g = 0; g < ATT_G; g++) {
            V cv = vset(c[g]);
            a[g][0] = vmul(vload(o + g * dv + c0), cv);
            a[g][1] = vmul(vload(o + g * dv + c0 + VW), cv);
        }
        const float *vr = vblk + c0;
        for (int64_t j = 0; j < nb; j++, vr += dv) {
            V v0 = vload(vr), v1 = vload(vr + VW);
#pragma GCC unroll 8
            for (int g = 0; g < ATT_G; g++) {
                V pj = vset(p[g * ATTN_BLOCK + j]);
                a[g][0] = vfma(pj, v0, a[g][0]);
                a[g][1] = vfma(pj, v1, a[g][1]);
            }
        }
#pragma GCC unroll 8
        for (int g = 0; g < ATT_G; g++) {
            vstore(o + g * dv + c0, a[g][0]);
            vstore(o + g * dv + c0 + VW, a[g][1]);
        }
    }
    if (c0 < dv) /* the last columns, row by row */
        for (int g = 0; g < ATT_G; g++) attn_pv_cols(o + g * dv, vblk, p + g * ATTN_BLOCK, nb, dv, c0, c[g]);
}

static void attention_rows(const attn_shape *s, const float *q, const float *k, const float *v, float *o, int64_t r0,
                           int64_t r1, float *scratch)
{
    const int64_t d = s->d, dv = s->dv, sk = s->sk;
    float *kt = scratch;                  /* [d][ATTN_BLOCK]: the block's keys, transposed */
    float *mrow = kt + d * ATTN_BLOCK;    /* running max per row */
    float *lrow = mrow + ATTN_ROWS;       /* running sum per row */
    float *pbuf = lrow + ATTN_ROWS;       /* [ATT_G][ATTN_BLOCK] scores, then weights */
    for (int64_t i = r0; i < r1; i++) {
        mrow[i - r0] = -INFINITY;
        lrow[i - r0] = 0.0f;
        for (int64_t c = 0; c < dv; c++) o[i * dv + c] = 0.0f;
    }
    int64_t last_visible = attn_visible_keys(s, r1 - 1); /* the most any row of [r0, r1) sees */
    for (int64_t j0 = 0; j0 < last_visible; j0 += ATTN_BLOCK) {
        int64_t nbk = sk - j0 < ATTN_BLOCK ? sk - j0 : ATTN_BLOCK;
        for (int64_t dd = 0; dd < d; dd++)
            for (int64_t j = 0; j < ATTN_BLOCK; j++) kt[dd * ATTN_BLOCK + j] = j < nbk ? k[(j0 + j) * d + dd] : 0.0f;
        for (int64_t i = r0; i < r1; i += ATT_G) {
            int g = r1 - i < ATT_G ? (int)(r1 - i) : ATT_G;
            /* Scores of g rows x 64 keys: the fma chain over d (as MATMUL), then times scale. */
            V acc[ATT_G][KV];
            const float *qr[ATT_G];
            for (int gi = 0; gi < ATT_G; gi++) {
                qr[gi] = d ? q + (i + (gi < g ? gi : g - 1)) * d : q; /* D = 0: q may be NULL (no arithmetic on it) */
                for (int x = 0; x < KV; x++) acc[gi][x] = vzero();
            }
            for (int64_t dd = 0; dd < d; dd++) {
                const float *kr = kt + dd * ATTN_BLOCK;
#pragma GCC unroll 4
                for (int gi = 0; gi < ATT_G; gi++) {
                    V qv = vset(qr[gi][dd]);
#pragma GCC unroll 16
                    for (int x = 0; x < KV; x++) acc[gi][x] = vfma(qv, vload(kr + x * VW), acc[gi][x]);
                }
            }
            V scale = vset(s->scale);
            int64_t nbs[ATT_G] = {0};
            float cs[ATT_G] = {0.0f};
            int same = g == ATT_G;
            for (int gi = 0; gi < g; gi++) {
                int64_t row = i + gi, nb = attn_visible_keys(s, row) - j0;
                nbs[gi] = nb = nb <= 0 ? 0 : nb > ATTN_BLOCK ? ATTN_BLOCK : nb;
                same &= nb == nbs[0];
                if (!nb) continue;
                float *p = pbuf + gi * ATTN_BLOCK;
                for (int x = 0; x < KV; x++) vstore(p + x * VW, vmul(acc[gi][x], scale));
                float m_old = mrow[row - r0], m_new = f32_max(m_old, row_max_hw(p, nb));
                float c = cs[gi] = KEXP1(f32_sub(m_old, m_new));
                V mn = vset(m_new);
                for (int x = 0; x < KV; x++) {
                    int64_t left = nb - x * VW;
                    int cnt = left <= 0 ? 0 : left < VW ? (int)left : VW;
                    V e = vexp_nonpos(vsub(vload(p + x * VW), mn));
                    vstore(p + x * VW, vzero());
                    vstore_n(p + x * VW, e, cnt); /* past the visible keys: +0 */
                }
                lrow[row - r0] = f32_fma(lrow[row - r0], c, row_sum(p, ATTN_BLOCK));
                mrow[row - r0] = m_new;
            }
            if (same && nbs[0] && ATT_G > 1) {
                attn_pv_group(o + i * dv, v + j0 * dv, pbuf, nbs[0], dv, cs);
                continue;
            }
            for (int gi = 0; gi < g; gi++)
                if (nbs[gi]) attn_pv(o + (i + gi) * dv, v + j0 * dv, pbuf + gi * ATTN_BLOCK, nbs[gi], dv, cs[gi]);
        }
    }
    for (int64_t i = r0; i < r1; i++) {
        if (!attn_visible_keys(s, i)) continue; /* no key: the row stays +0 */
        V inv = vset(f32_recip(lrow[i - r0]));
        float *orow = o + i * dv;
        int64_t c0 = 0;
        for (; c0 + VW <= dv; c0 += VW) vstore(orow + c0, vcanon(vmul(vload(orow + c0), inv)));
        if (c0 < dv) vstore_n(orow + c0, vcanon(vmul(vload_n(orow + c0, (int)(dv - c0), 0.0f), inv)), (int)(dv - c0));
    }
}

const cpu_kernels KSUFFIX(cpu_kernels) = {KLEVEL, GEMM_MR, NR, gemm_micro, softmax_rows, relu, binary, VW, transpose_tile32,
                                          attention_rows, exp_nonpos};
