/* Differential harness for the CPU executor's kernels, shared by tests/test_kernels.c (cmocka)
 * and tests/fuzz_kernels.c (a long standalone run): it builds exec_ops with edge-heavy random
 * inputs, computes the scalar reference (backends/cpu/ref_ops.c) once, runs the op at every SIMD
 * level this host has and at 1, 2 and 7 threads, and compares the outputs BIT FOR BIT (memcmp;
 * never a tolerance). It also checks that inputs are left alone, that every output element is
 * written (the output starts as a poison pattern), and that an empty output is not touched.
 * Buffers are allocated at their exact sizes so that ASan sees any read or write past them.
 *
 * No cmocka here: a mismatch is counted and described in kd_ctx, and the caller decides. */
#ifndef ADEAD_KERNEL_DIFF_H
#define ADEAD_KERNEL_DIFF_H

#include "../backends/cpu/cpu_features.h"
#include "../backends/cpu/kernels.h"
#include "../backends/cpu/ref_ops.h"
#include "../backends/executor.h"
#include "../isa/bib.h"
#include "../isa/f32.h"
#include "../isa/isa.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define KD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KD_SANITIZED 1
#endif
#endif
#ifndef KD_SANITIZED
#define KD_SANITIZED 0
#endif

/* ---- random numbers (xorshift64*, as tests/testutil.h; separate so fuzz_kernels needs no cmocka) ---- */
typedef struct {
    uint64_t s;
} kd_rng;

static inline uint64_t kd_next(kd_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}
static inline uint32_t kd_u32(kd_rng *r) { return (uint32_t)(kd_next(r) >> 32); }
/* Uniform in [0, n). */
static inline uint32_t kd_below(kd_rng *r, uint32_t n) { return (uint32_t)(((uint64_t)kd_u32(r) * n) >> 32); }
/* Uniform in [lo, hi]. */
static inline int64_t kd_range(kd_rng *r, int64_t lo, int64_t hi) { return lo + (int64_t)kd_below(r, (uint32_t)(hi - lo + 1)); }
static inline int64_t kd_pick(kd_rng *r, const int64_t *set, size_t n) { return set[kd_below(r, (uint32_t)n)]; }
#define KD_PICK(r, arr) kd_pick((r), (arr), sizeof(arr) / sizeof((arr)[0]))

/* ---- values ---- */

/* The values where implementations disagree: NaNs (payloads, both signs, quiet and signalling),
 * ±inf, subnormals, ±0, values near overflow and around FLT_MIN. */
static const uint32_t kd_special_bits[] = {
    0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFF800001u, 0x7FBFFFFFu, 0xFFFFFFFFu, 0x7FC12345u, 0xFFA5A5A5u, /* NaN */
    0x7F800000u, 0xFF800000u,                                                                           /* ±inf */
    0x00000001u, 0x80000001u, 0x007FFFFFu, 0x807FFFFFu, 0x00400000u, 0x80012345u,                         /* subnormal */
    0x00000000u, 0x80000000u,                                                                           /* ±0 */
    0x7F7FFFFFu, 0xFF7FFFFFu, 0x7F61B1E6u, 0xFF61B1E6u, 0x7F7FFFFEu, 0xFF7FC99Eu,                         /* FLT_MAX, 3e38 */
    0x00800000u, 0x80800000u, 0x00800001u, 0x80800001u, 0x00FFFFFFu, 0x80FFFFFFu,                         /* FLT_MIN */
    0x1F800000u, 0x9F800000u, 0x1F7FFFFFu, 0x20000001u,                                                 /* 2^-64, 2^-63 */
};

static inline uint32_t kd_special(kd_rng *r)
{
    uint32_t sign = kd_u32(r) & F32_SIGN, mant = kd_u32(r) & 0x007FFFFFu;
    switch (kd_below(r, 8)) {
    case 0: return sign | F32_EXP | (mant ? mant : 1u);               /* NaN, any payload */
    case 1: return sign | (mant ? mant : 1u);                         /* subnormal */
    case 2: return sign | (F32_MIN_BITS + (mant & 15u));              /* just above FLT_MIN */
    case 3: return sign | (0xFEu << 23) | mant;                       /* near FLT_MAX */
    default: return kd_special_bits[kd_below(r, sizeof kd_special_bits / sizeof kd_special_bits[0])];
    }
}

enum {
    KD_NORMAL, /* normals in [2^-10, 2^11), both signs */
    KD_SMALL,  /* normals in [2^-3, 4): attention scores stay finite */
    KD_SPARSE, /* KD_NORMAL with 1 in 64 special */
    KD_MIXED,  /* 1 in 4 special, tiny normals, near-overflow values */
    KD_FTZ,    /* magnitudes 2^-63 (1 ± u): products and sums land around FLT_MIN */
    KD_BIG,    /* magnitudes 2^120 .. FLT_MAX, some inf: sums overflow, inf - inf */
    KD_INT,    /* small integers and ±0: exact sums that cancel to signed zeros */
    KD_WIDE,   /* uniform in [-200, 60]: softmax and attention where exp underflows */
    KD_MODES
};
static const char *const kd_mode_names[KD_MODES] = {"normal", "small", "sparse", "mixed", "ftz", "big", "int", "wide"};

static inline float kd_value(kd_rng *r, int mode)
{
    uint32_t sign = kd_u32(r) & F32_SIGN, mant = kd_u32(r) & 0x007FFFFFu;
    switch (mode) {
    case KD_SMALL: return f32_from(sign | ((124u + kd_below(r, 4)) << 23) | mant);
    case KD_SPARSE:
        if (kd_below(r, 64) == 0) return f32_from(kd_special(r));
        return f32_from(sign | ((117u + kd_below(r, 21)) << 23) | mant);
    case KD_MIXED:
        switch (kd_below(r, 8)) {
        case 0:
        case 1: return f32_from(kd_special(r));
        case 2: return f32_from(sign | ((1u + kd_below(r, 40)) << 23) | mant);
        case 3: return f32_from(sign | ((0xF0u + kd_below(r, 15)) << 23) | mant);
        default: return f32_from(sign | ((100u + kd_below(r, 55)) << 23) | mant);
        }
    case KD_FTZ: {
        uint32_t k = kd_below(r, 32);
        if (k == 0) return f32_from(sign | (mant & 0xFFFu));                  /* subnormal */
        if (k == 1) return f32_from(sign);                                    /* ±0 */
        if (k < 4) return f32_from(sign | (F32_MIN_BITS + kd_below(r, 64)));  /* FLT_MIN + a few ulp */
        if (k < 6) return f32_from(sign | ((1u + kd_below(r, 4)) << 23) | mant); /* tiny normal */
        uint32_t e = kd_below(r, 8) < 6 ? 63u + kd_below(r, 2) : 62u + 3u * kd_below(r, 2); /* 2^-64, 2^-63 (2^-65, 2^-62) */
        uint32_t m = kd_below(r, 3) == 0 ? mant : kd_below(r, 2) ? (mant & 0xFFFu) : 0x7FFFFFu - (mant & 0xFFFu);
        return f32_from(sign | (e << 23) | m);
    }
    case KD_BIG:
        if (kd_below(r, 32) == 0) return f32_from(sign | F32_EXP);
        if (kd_below(r, 32) == 0) return f32_from(sign | 0x7F7FFFFFu);
        return f32_from(sign | ((0xF8u + kd_below(r, 7)) << 23) | mant);
    case KD_INT: return f32_from(f32_bits((float)(int)kd_range(r, -8, 8)) | (kd_below(r, 4) == 0 ? sign : 0u));
    case KD_WIDE: return -200.0f + 260.0f * (float)(kd_u32(r) >> 8) / 16777216.0f;
    default: return f32_from(sign | ((117u + kd_below(r, 21)) << 23) | mant);
    }
}

static inline int kd_random_mode(kd_rng *r)
{
    static const int weights[KD_MODES] = {5, 3, 4, 2, 2, 1, 2, 1}; /* out of 20 */
    int x = (int)kd_below(r, 20);
    for (int m = 0; m < KD_MODES; m++) {
        if (x < weights[m]) return m;
        x -= weights[m];
    }
    return KD_NORMAL;
}

static inline void kd_fill(kd_rng *r, float *x, int64_t n, int mode)
{
    for (int64_t i = 0; i < n; i++) x[i] = kd_value(r, mode);
}

/* Softmax rows of a chosen kind (0..KD_ROW_KINDS-1). */
#define KD_ROW_KINDS 14
static const char *const kd_row_names[KD_ROW_KINDS] = {"normal", "wide",  "all -inf",  "+inf", "nan",    "equal",   "huge",
                                                      "mixed",  "subn",  "-inf+few", "underflow", "int", "sparse", "exp edge"};

static inline void kd_softmax_row(kd_rng *r, float *x, int64_t n, int kind)
{
    switch (kind) {
    case 1: kd_fill(r, x, n, KD_WIDE); break;
    case 2:
        for (int64_t i = 0; i < n; i++) x[i] = -INFINITY;
        break;
    case 3:
        kd_fill(r, x, n, KD_NORMAL);
        x[kd_below(r, (uint32_t)n)] = INFINITY;
        break;
    case 4:
        kd_fill(r, x, n, KD_NORMAL);
        x[kd_below(r, (uint32_t)n)] = f32_from((kd_u32(r) & F32_SIGN) | F32_EXP | 1u | (kd_u32(r) & 0x7FFFFFu));
        break;
    case 5: {
        float v = kd_value(r, KD_NORMAL);
        for (int64_t i = 0; i < n; i++) x[i] = v;
        break;
    }
    case 6:
        for (int64_t i = 0; i < n; i++) x[i] = kd_below(r, 2) ? kd_value(r, KD_BIG) : f32_from((kd_u32(r) & F32_SIGN) | 0x7F61B1E6u);
        break;
    case 7: kd_fill(r, x, n, KD_MIXED); break;
    case 8:
        for (int64_t i = 0; i < n; i++) x[i] = f32_from((kd_u32(r) & F32_SIGN) | (kd_u32(r) & 0x7FFFFFu));
        break;
    case 9:
        for (int64_t i = 0; i < n; i++) x[i] = kd_below(r, 8) ? -INFINITY : kd_value(r, KD_SMALL);
        break;
    case 10: /* one 0, the rest 80..110 below it: exp results subnormal (flushed) or just normal */
        for (int64_t i = 0; i < n; i++) x[i] = -80.0f - 30.0f * (float)(kd_u32(r) >> 8) / 16777216.0f;
        x[kd_below(r, (uint32_t)n)] = 0.0f;
        break;
    case 13: /* one 0; the rest within a few ulps of exp's +0 threshold (XLO) or of ln(FLT_MIN) */
        for (int64_t i = 0; i < n; i++)
            x[i] = f32_from((kd_below(r, 2) ? F32_EXP_XLO_BITS : 0xC2AEAC50u /* -87.3365 */) + kd_below(r, 9) - 4u);
        x[kd_below(r, (uint32_t)n)] = 0.0f;
        break;
    case 11: kd_fill(r, x, n, KD_INT); break;
    case 12: kd_fill(r, x, n, KD_SPARSE); break;
    default: kd_fill(r, x, n, KD_NORMAL); break;
    }
}

/* ---- op cases ---- */
typedef struct {
    exec_op op;
    int alias;            /* -1, or the input the output aliases (written in place) */
    void *orig[3];        /* the inputs (exact sizes); in place, the aliased one is copied in first */
    size_t in_bytes[3];
    size_t out_bytes;
    int64_t fed;          /* input elements */
    char desc[1024];
} kd_case;

static inline size_t kd_dtype_size(uint32_t dt) { return dt == BIB_DT_I64 ? 8 : 4; }

static inline int64_t kd_count(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    return n;
}

static inline void kd_shape_text(int rank, const int64_t *dims, char *buf, size_t len)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, len - n, "[");
    for (int i = 0; i < rank && n < len; i++) n += (size_t)snprintf(buf + n, len - n, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (n < len) snprintf(buf + n, len - n, "]");
}

static inline exec_tensor kd_tensor(uint32_t dtype, int rank, const int64_t *dims)
{
    exec_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.rank = rank;
    for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
    t.count = kd_count(rank, dims);
    return t;
}

/* Allocates input i of the case (exact size; at least 1 byte so that the pointer is real). */
static inline void *kd_input(kd_case *c, int i, uint32_t dtype, int rank, const int64_t *dims)
{
    c->op.in[i] = kd_tensor(dtype, rank, dims);
    c->in_bytes[i] = (size_t)c->op.in[i].count * kd_dtype_size(dtype);
    c->orig[i] = malloc(c->in_bytes[i] ? c->in_bytes[i] : 1);
    if (!c->orig[i]) abort();
    c->op.in[i].data = c->orig[i];
    c->fed += c->op.in[i].count;
    if (i + 1 > c->op.n_in) c->op.n_in = i + 1;
    return c->orig[i];
}

static inline void kd_output(kd_case *c, uint32_t dtype, int rank, const int64_t *dims)
{
    c->op.out = kd_tensor(dtype, rank, dims);
    c->out_bytes = (size_t)c->op.out.count * kd_dtype_size(dtype);
}

static inline void kd_case_init(kd_case *c, int kernel)
{
    memset(c, 0, sizeof *c);
    c->op.kernel = kernel;
    c->alias = -1;
}

static inline void kd_case_free(kd_case *c)
{
    for (int i = 0; i < 3; i++) free(c->orig[i]);
    memset(c, 0, sizeof *c);
}

static inline const char *kd_op_name(int kernel) { return isa_ops[kernel].name; }

/* MATMUL a[M,K] x b[K,N]. */
static inline void kd_matmul(kd_case *c, kd_rng *r, int64_t M, int64_t K, int64_t N, int mode_a, int mode_b)
{
    kd_case_init(c, OP_MATMUL);
    int64_t da[2] = {M, K}, db[2] = {K, N}, dc[2] = {M, N};
    kd_fill(r, kd_input(c, 0, BIB_DT_F32, 2, da), M * K, mode_a);
    kd_fill(r, kd_input(c, 1, BIB_DT_F32, 2, db), K * N, mode_b);
    kd_output(c, BIB_DT_F32, 2, dc);
    snprintf(c->desc, sizeof c->desc, "MATMUL a[%lld,%lld] (%s) x b[%lld,%lld] (%s)", (long long)M, (long long)K, kd_mode_names[mode_a],
             (long long)K, (long long)N, kd_mode_names[mode_b]);
}

/* SOFTMAX of `rows` rows of n; row_kind < 0: a random kind per row. */
static inline void kd_softmax(kd_case *c, kd_rng *r, int rank, const int64_t *dims, int row_kind, int in_place)
{
    kd_case_init(c, OP_SOFTMAX);
    float *x = kd_input(c, 0, BIB_DT_F32, rank, dims);
    int64_t n = dims[rank - 1], rows = n ? c->op.in[0].count / n : 0;
    char kinds[64] = "";
    for (int64_t i = 0; i < rows; i++) {
        int k = row_kind >= 0 ? row_kind : (int)kd_below(r, KD_ROW_KINDS);
        kd_softmax_row(r, x + i * n, n, k);
        if (i < 4) snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds), "%s%s", i ? "," : "", kd_row_names[k]);
    }
    kd_output(c, BIB_DT_F32, rank, dims);
    if (in_place) c->alias = 0;
    char s[96];
    kd_shape_text(rank, dims, s, sizeof s);
    snprintf(c->desc, sizeof c->desc, "SOFTMAX a%s rows %s%s%s", s, kinds, rows > 4 ? ",..." : "", in_place ? " (in place)" : "");
}

static inline void kd_relu(kd_case *c, kd_rng *r, int64_t count, int mode, int in_place)
{
    kd_case_init(c, OP_RELU);
    int64_t d[1] = {count};
    kd_fill(r, kd_input(c, 0, BIB_DT_F32, 1, d), count, mode);
    kd_output(c, BIB_DT_F32, 1, d);
    if (in_place) c->alias = 0;
    snprintf(c->desc, sizeof c->desc, "RELU a[%lld] (%s)%s", (long long)count, kd_mode_names[mode], in_place ? " (in place)" : "");
}

/* TRANSPOSE of an [M,N] f32/i32/i64 tensor of random bits. */
static inline void kd_transpose(kd_case *c, kd_rng *r, int64_t M, int64_t N, uint32_t dtype)
{
    kd_case_init(c, OP_TRANSPOSE);
    int64_t da[2] = {M, N}, dc[2] = {N, M};
    uint32_t *x = kd_input(c, 0, dtype, 2, da);
    for (size_t i = 0; i < c->in_bytes[0] / 4; i++) x[i] = kd_u32(r);
    kd_output(c, dtype, 2, dc);
    snprintf(c->desc, sizeof c->desc, "TRANSPOSE %s a[%lld,%lld]", dtype == BIB_DT_F32 ? "f32" : dtype == BIB_DT_I32 ? "i32" : "i64",
             (long long)M, (long long)N);
}

/* TADD/TSUB/TMUL with numpy broadcasting; alias: -1, 0 (out is a) or 1 (out is b); same: b is a. */
static inline int kd_broadcast(int ra, const int64_t *a, int rb, const int64_t *b, int *ro, int64_t *o)
{
    int r = ra > rb ? ra : rb;
    for (int i = 0; i < r; i++) {
        int ia = ra - r + i, ib = rb - r + i;
        int64_t x = ia >= 0 ? a[ia] : 1, y = ib >= 0 ? b[ib] : 1;
        if (x != y && x != 1 && y != 1) return -1;
        o[i] = x == 1 ? y : x;
    }
    *ro = r;
    return 0;
}

static inline void kd_elementwise(kd_case *c, kd_rng *r, int kernel, int ra, const int64_t *da, int rb, const int64_t *db, int mode_a,
                                  int mode_b, int alias, int same)
{
    kd_case_init(c, kernel);
    int ro = 0;
    int64_t dout[4] = {0, 0, 0, 0};
    if (kd_broadcast(ra, da, rb, db, &ro, dout)) abort();
    kd_fill(r, kd_input(c, 0, BIB_DT_F32, ra, da), kd_count(ra, da), mode_a);
    if (same) { /* both operands are one buffer (TADD c, a, a) */
        c->op.in[1] = c->op.in[0];
        c->op.n_in = 2;
    } else {
        kd_fill(r, kd_input(c, 1, BIB_DT_F32, rb, db), kd_count(rb, db), mode_b);
    }
    kd_output(c, BIB_DT_F32, ro, dout);
    /* In place only where the VM would do it: the operand has the result's shape. */
    if (alias >= 0) {
        const exec_tensor *t = &c->op.in[alias];
        if (same || t->rank != ro || memcmp(t->dims, dout, sizeof dout)) alias = -1;
    }
    c->alias = alias;
    char sa[96], sb[96], so[96];
    kd_shape_text(ra, da, sa, sizeof sa);
    kd_shape_text(rb, db, sb, sizeof sb);
    kd_shape_text(ro, dout, so, sizeof so);
    snprintf(c->desc, sizeof c->desc, "%s a%s (%s) %s b%s (%s) -> %s%s", kd_op_name(kernel), sa, kd_mode_names[mode_a], same ? "with" : "and",
             same ? sa : sb, same ? "a itself" : kd_mode_names[mode_b], so, alias == 0 ? " (out is a)" : alias == 1 ? " (out is b)" : "");
}

/* ATTENTION(_CAUSAL): lead holds the leading axes (rank - 2 of them). */
static inline void kd_attention(kd_case *c, kd_rng *r, int causal, int rank, const int64_t *lead, int64_t sq, int64_t sk, int64_t d,
                                int64_t dv, int mode_q, int mode_k, int mode_v)
{
    kd_case_init(c, causal ? OP_ATTENTION_CAUSAL : OP_ATTENTION);
    int64_t dq[4], dk[4], dvv[4], dout[4];
    for (int i = 0; i < rank - 2; i++) dq[i] = dk[i] = dvv[i] = dout[i] = lead[i];
    dq[rank - 2] = sq, dq[rank - 1] = d;
    dk[rank - 2] = sk, dk[rank - 1] = d;
    dvv[rank - 2] = sk, dvv[rank - 1] = dv;
    dout[rank - 2] = sq, dout[rank - 1] = dv;
    kd_fill(r, kd_input(c, 0, BIB_DT_F32, rank, dq), kd_count(rank, dq), mode_q);
    kd_fill(r, kd_input(c, 1, BIB_DT_F32, rank, dk), kd_count(rank, dk), mode_k);
    kd_fill(r, kd_input(c, 2, BIB_DT_F32, rank, dvv), kd_count(rank, dvv), mode_v);
    kd_output(c, BIB_DT_F32, rank, dout);
    char sq_[96], sk_[96], sv_[96];
    kd_shape_text(rank, dq, sq_, sizeof sq_);
    kd_shape_text(rank, dk, sk_, sizeof sk_);
    kd_shape_text(rank, dvv, sv_, sizeof sv_);
    snprintf(c->desc, sizeof c->desc, "%s q%s (%s) k%s (%s) v%s (%s)", kd_op_name(c->op.kernel), sq_, kd_mode_names[mode_q], sk_,
             kd_mode_names[mode_k], sv_, kd_mode_names[mode_v]);
}

/* ---- the reference ---- */
static inline void kd_right_align(const exec_tensor *t, int64_t *d)
{
    for (int i = 0; i < 4; i++) d[i] = 1;
    for (int i = 0; i < t->rank; i++) d[4 - t->rank + i] = t->dims[i];
}

static inline void kd_reference(const kd_case *c, void *want)
{
    const exec_op *op = &c->op;
    const exec_tensor *a = &op->in[0], *b = &op->in[1];
    if (!op->out.count) return;
    switch (op->kernel) {
    case OP_MATMUL: ref_matmul(a->data, b->data, want, a->dims[0], a->dims[1], b->dims[1]); break;
    case OP_TRANSPOSE: ref_transpose(a->data, want, a->dims[0], a->dims[1], (int)kd_dtype_size(a->dtype)); break;
    case OP_SOFTMAX: {
        int64_t n = a->dims[a->rank - 1];
        ref_softmax(a->data, want, a->count / n, n);
        break;
    }
    case OP_RELU: ref_relu(a->data, want, a->count); break;
    case OP_TADD:
    case OP_TSUB:
    case OP_TMUL: {
        int64_t ad[4], bd[4], od[4];
        kd_right_align(a, ad);
        kd_right_align(b, bd);
        kd_right_align(&op->out, od);
        int rop = op->kernel == OP_TADD ? REF_ADD : op->kernel == OP_TSUB ? REF_SUB : REF_MUL;
        ref_elementwise(rop, a->data, ad, b->data, bd, want, od);
        break;
    }
    case OP_ATTENTION:
    case OP_ATTENTION_CAUSAL: {
        const exec_tensor *v = &op->in[2];
        int r = a->rank;
        attn_shape s;
        memset(&s, 0, sizeof s);
        s.sq = a->dims[r - 2];
        s.d = a->dims[r - 1];
        s.sk = b->dims[r - 2];
        s.dv = v->dims[r - 1];
        s.causal = op->kernel == OP_ATTENTION_CAUSAL;
        s.scale = ref_attention_scale(s.d);
        int64_t slices = 1;
        for (int i = 0; i < r - 2; i++) slices *= a->dims[i];
        const float *q = a->data, *k = b->data, *vv = v->data;
        float *o = want;
        for (int64_t h = 0; h < slices; h++)
            ref_attention_rows(&s, q + h * s.sq * s.d, k + h * s.sk * s.d, vv + h * s.sk * s.dv, o + h * s.sq * s.dv, 0, s.sq);
        break;
    }
    default: abort();
    }
}

/* ---- running ---- */
#define KD_THREAD_COUNTS 3
static const int kd_threads[KD_THREAD_COUNTS] = {1, 2, 7};

typedef struct {
    executor *ex[KD_THREAD_COUNTS]; /* one executor (and pool) per thread count */
    int levels[SIMD_LEVELS];
    int n_levels;
    uint64_t cases, runs, fed;
    uint64_t mismatches; /* runs whose output differed, or that failed */
    int reports;         /* mismatch descriptions printed so far */
    int max_reports;     /* print at most this many (to stderr) */
    char first[2048];    /* the first mismatch, for the failure message */
    unsigned poison;
} kd_ctx;

/* Creates the executors and finds the levels; one line per level this host lacks. 0, or -1. */
static inline int kd_ctx_init(kd_ctx *ctx, const char *who)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->max_reports = 20;
    for (int t = 0; t < KD_THREAD_COUNTS; t++) {
        ctx->ex[t] = cpu_executor_create();
        char err[256];
        if (!ctx->ex[t] || cpu_executor_configure(ctx->ex[t], SIMD_SCALAR, kd_threads[t], err, sizeof err)) return -1;
        /* The streaming-store path (outputs bigger than the caches) on the 2- and 7-thread runs,
         * whatever the size; the cached path on the 1-thread run. */
        cpu_executor_set_stream_bytes(ctx->ex[t], t ? 0 : UINT64_MAX);
    }
    static int announced;
    for (int l = 0; l < SIMD_LEVELS; l++) {
        char err[256];
        if (cpu_executor_configure(ctx->ex[0], l, 1, err, sizeof err)) {
            if (!announced) printf("%s: level %s skipped: %s\n", who, simd_name((simd_level)l), err);
            continue;
        }
        ctx->levels[ctx->n_levels++] = l;
    }
    announced = 1;
    return 0;
}

static inline void kd_ctx_free(kd_ctx *ctx)
{
    for (int t = 0; t < KD_THREAD_COUNTS; t++) cpu_executor_destroy(ctx->ex[t]);
    memset(ctx, 0, sizeof *ctx);
}

/* Index -> "[i,j,...]" in the output's shape. */
static inline void kd_index_text(const exec_tensor *t, int64_t flat, char *buf, size_t len)
{
    int64_t idx[4] = {0, 0, 0, 0};
    for (int i = t->rank - 1; i >= 0; i--) {
        idx[i] = t->dims[i] ? flat % t->dims[i] : 0;
        flat = t->dims[i] ? flat / t->dims[i] : 0;
    }
    kd_shape_text(t->rank, idx, buf, len);
}

static inline void kd_report(kd_ctx *ctx, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!ctx->first[0]) snprintf(ctx->first, sizeof ctx->first, "%s", msg);
    if (ctx->reports++ < ctx->max_reports) fprintf(stderr, "MISMATCH %s\n", msg);
    ctx->mismatches++;
}

/* Runs one op at one level and thread count into out (exact size); returns the executor's rc. */
static inline int kd_run_one(kd_ctx *ctx, const kd_case *c, int level, int ti, void *out, char *err, size_t errlen)
{
    executor *ex = ctx->ex[ti];
    if (cpu_executor_configure(ex, level, kd_threads[ti], err, errlen)) return -1;
    exec_op op = c->op;
    if (!c->out_bytes)
        memset(out, 0x5A, 4); /* the sentinel of an empty output */
    else if (c->alias >= 0)
        memcpy(out, c->orig[c->alias], c->in_bytes[c->alias]);
    else
        memset(out, (int)(0xA5u ^ (ctx->poison++ & 0xFFu)), c->out_bytes); /* unwritten elements show */
    if (c->alias >= 0) op.in[c->alias].data = out;
    op.out.data = out;
    return ex->run(ex, &op, err, errlen);
}

#if defined(__x86_64__)
#include <xmmintrin.h>
static inline unsigned kd_fpenv(void) { return _mm_getcsr() & ~0x3Fu; } /* the controls; not the sticky flags */
#else
static inline unsigned kd_fpenv(void) { return 0; }
#endif

/* Every level x thread count against the reference. The kernels read copies of the inputs placed
 * 0..3 elements past an aligned address (the VM's tensors need not be aligned) and write an output
 * placed the same way; afterwards the copies must still equal the inputs, and the caller's
 * floating-point environment (MXCSR) must be what it was. want: the reference's output. Returns
 * the number of bad runs. */
static inline uint64_t kd_check_against(kd_ctx *ctx, kd_case *c, const void *want)
{
    uint64_t before = ctx->mismatches;
    size_t es = kd_dtype_size(c->op.out.dtype), shift = (size_t)(ctx->cases % 4);
    char *out_base = malloc((c->out_bytes > 4 ? c->out_bytes : 4) + shift * es); /* exact size past the shift */
    void *out = out_base + shift * es;
    char *work_base[3] = {NULL, NULL, NULL};
    kd_case w = *c; /* the case as the kernels see it: shifted copies */
    if (!out_base) abort();
    for (int i = 0; i < c->op.n_in; i++) {
        if (!c->orig[i]) continue;
        size_t ies = kd_dtype_size(c->op.in[i].dtype);
        size_t bytes = c->in_bytes[i] + shift * ies;
        work_base[i] = malloc(bytes ? bytes : 1); /* exact: ASan sees a read past the end */
        if (!work_base[i]) abort();
        w.orig[i] = work_base[i] + shift * ies;
        memcpy(w.orig[i], c->orig[i], c->in_bytes[i]);
        w.op.in[i].data = w.orig[i];
    }
    if (c->op.n_in > 1 && !c->orig[1] && c->op.in[1].data == c->orig[0]) w.op.in[1].data = w.orig[0]; /* b is a */
    ctx->cases++;
    ctx->fed += (uint64_t)c->fed;
    char so[96];
    kd_shape_text(c->op.out.rank, c->op.out.dims, so, sizeof so);
    for (int li = 0; li < ctx->n_levels; li++)
        for (int ti = 0; ti < KD_THREAD_COUNTS; ti++) {
            const char *lv = simd_name((simd_level)ctx->levels[li]);
            int th = kd_threads[ti];
            char err[512] = "";
            ctx->runs++;
            unsigned env = kd_fpenv();
            int rc = kd_run_one(ctx, &w, ctx->levels[li], ti, out, err, sizeof err);
            if (kd_fpenv() != env)
                kd_report(ctx, "%s: level %s, threads %d: the caller's MXCSR changed from 0x%x to 0x%x", c->desc, lv, th, env, kd_fpenv());
            if (rc) {
                kd_report(ctx, "%s -> %s: level %s, threads %d: run failed: %s", c->desc, so, lv, th, err);
                continue;
            }
            if (!c->out_bytes) {
                uint32_t s;
                memcpy(&s, out, 4);
                if (s != 0x5A5A5A5Au) kd_report(ctx, "%s -> %s (empty): level %s, threads %d: wrote into the empty output", c->desc, so, lv, th);
            } else if (memcmp(out, want, c->out_bytes)) {
                int64_t n = c->op.out.count, first = -1, ndiff = 0;
                for (int64_t i = 0; i < n; i++)
                    if (memcmp((char *)out + i * es, (char *)want + i * es, es)) {
                        if (first < 0) first = i;
                        ndiff++;
                    }
                char at[96];
                kd_index_text(&c->op.out, first, at, sizeof at);
                uint64_t g = 0, wb = 0;
                memcpy(&g, (char *)out + first * es, es);
                memcpy(&wb, (char *)want + first * es, es);
                kd_report(ctx, "%s -> %s: level %s, threads %d: element %lld %s is 0x%0*llx, reference 0x%0*llx (%lld of %lld elements differ)",
                          c->desc, so, lv, th, (long long)first, at, (int)(2 * es), (unsigned long long)g, (int)(2 * es),
                          (unsigned long long)wb, (long long)ndiff, (long long)n);
            }
            for (int i = 0; i < c->op.n_in; i++)
                if (work_base[i] && i != c->alias && memcmp(w.orig[i], c->orig[i], c->in_bytes[i])) {
                    kd_report(ctx, "%s: level %s, threads %d: input %d was modified", c->desc, lv, th, i);
                    memcpy(w.orig[i], c->orig[i], c->in_bytes[i]);
                }
        }
    for (int i = 0; i < 3; i++) free(work_base[i]);
    free(out_base);
    return ctx->mismatches - before;
}

/* The reference, then every level x thread count against it. */
static inline uint64_t kd_check(kd_ctx *ctx, kd_case *c)
{
    void *want = malloc(c->out_bytes ? c->out_bytes : 1);
    if (!want) abort();
    kd_reference(c, want);
    uint64_t n = kd_check_against(ctx, c, want);
    free(want);
    return n;
}

/* Check, then free the case. */
static inline uint64_t kd_check_free(kd_ctx *ctx, kd_case *c)
{
    uint64_t n = kd_check(ctx, c);
    kd_case_free(c);
    return n;
}

/* ---- random shapes ---- */

/* Sizes that matter to the kernels: 1, odd, around multiples of 4/8/16/32/64, the GEMM micro-tiles
 * (4x8 sse2, 6x16 avx2, 14x32 avx512) and the attention blocks. */
static const int64_t kd_sizes[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  13, 14, 15, 16, 17, 23, 28,  29,
                                   31, 32, 33, 43, 47, 48, 63, 64, 65, 95, 96, 97, 127, 129, 130};

static inline int64_t kd_size(kd_rng *r, int64_t max)
{
    for (;;) {
        int64_t s = kd_below(r, 4) ? KD_PICK(r, kd_sizes) : kd_range(r, 1, max);
        if (s <= max) return s;
    }
}

/* A random broadcasting pair of shapes whose result has at most max_count elements (0 allowed
 * now and then: an empty result). */
static inline void kd_random_bcast(kd_rng *r, int *ra, int64_t *da, int *rb, int64_t *db, int64_t max_count)
{
    static const int64_t ax[] = {1, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 65, 100};
    for (;;) {
        int ro = (int)kd_below(r, 5);
        int64_t od[4];
        for (int i = 0; i < ro; i++) od[i] = kd_below(r, 40) ? KD_PICK(r, ax) : 0;
        int r1 = ro, r2 = (int)kd_below(r, (uint32_t)ro + 1);
        int64_t d1[4], d2[4];
        for (int i = 0; i < r1; i++) d1[i] = kd_below(r, 3) ? od[i] : 1;
        for (int i = 0; i < r2; i++) d2[i] = kd_below(r, 3) ? od[ro - r2 + i] : 1;
        for (int i = 0; i < ro; i++) { /* the result's size must come from somewhere */
            int i2 = i - (ro - r2);
            if (od[i] != 1 && d1[i] != od[i] && (i2 < 0 || d2[i2] != od[i])) {
                if (i2 >= 0 && kd_below(r, 2)) d2[i2] = od[i];
                else d1[i] = od[i];
            }
        }
        if (kd_count(ro, od) > max_count) continue;
        if (kd_below(r, 2)) {
            *ra = r1, *rb = r2;
            memcpy(da, d1, sizeof d1), memcpy(db, d2, sizeof d2);
        } else {
            *ra = r2, *rb = r1;
            memcpy(da, d2, sizeof d2), memcpy(db, d1, sizeof d1);
        }
        return;
    }
}

/* One random case of a random op, about `budget` elements of work or fewer; op < 0: any. */
static inline void kd_random_case(kd_case *c, kd_rng *r, int op, int64_t budget)
{
    static const int ops[] = {OP_MATMUL, OP_SOFTMAX, OP_RELU, OP_TADD, OP_TSUB, OP_TMUL, OP_TRANSPOSE, OP_ATTENTION, OP_ATTENTION_CAUSAL};
    if (op < 0) op = ops[kd_below(r, sizeof ops / sizeof ops[0])];
    switch (op) {
    case OP_MATMUL: {
        int64_t M, K, N;
        do {
            M = kd_below(r, 16) ? kd_size(r, 200) : kd_below(r, 2) * kd_range(r, 1, 3); /* now and then 0 */
            K = kd_below(r, 16) ? kd_size(r, kd_below(r, 8) ? 130 : 900) : 0;
            N = kd_below(r, 16) ? kd_size(r, kd_below(r, 8) ? 130 : 3200) : 0;
        } while ((M ? M : 1) * (K ? K : 1) * (N ? N : 1) > budget);
        int ma = kd_random_mode(r), mb = kd_below(r, 3) ? kd_random_mode(r) : ma;
        kd_matmul(c, r, M, K, N, ma, mb);
        break;
    }
    case OP_SOFTMAX: {
        int64_t dims[4];
        int rank;
        do {
            rank = 1 + (int)kd_below(r, 4);
            for (int i = 0; i < rank - 1; i++) dims[i] = kd_below(r, 2) ? kd_range(r, 1, 5) : kd_size(r, 64);
            dims[rank - 1] = kd_below(r, 8) ? kd_size(r, 300) : kd_range(r, 300, 5000);
        } while (kd_count(rank, dims) > budget);
        kd_softmax(c, r, rank, dims, kd_below(r, 4) ? -1 : (int)kd_below(r, KD_ROW_KINDS), kd_below(r, 4) == 0);
        break;
    }
    case OP_RELU: {
        int64_t n = kd_below(r, 4) ? kd_size(r, 130) : kd_range(r, 0, budget < 200000 ? budget : 200000);
        kd_relu(c, r, n, kd_random_mode(r), kd_below(r, 3) == 0);
        break;
    }
    case OP_TADD:
    case OP_TSUB:
    case OP_TMUL: {
        int ra, rb;
        int64_t da[4], db[4];
        kd_random_bcast(r, &ra, da, &rb, db, budget < 40000 ? budget : 40000);
        int same = ra == rb && !memcmp(da, db, sizeof(int64_t) * (size_t)ra) && kd_below(r, 4) == 0;
        kd_elementwise(c, r, op, ra, da, rb, db, kd_random_mode(r), kd_random_mode(r), kd_below(r, 3) ? -1 : (int)kd_below(r, 2), same);
        break;
    }
    case OP_TRANSPOSE: {
        int64_t M, N;
        do {
            M = kd_below(r, 20) ? kd_size(r, 300) : 0;
            N = kd_below(r, 20) ? kd_size(r, 300) : 0;
        } while (M * N > budget);
        static const uint32_t dts[] = {BIB_DT_F32, BIB_DT_I32, BIB_DT_I64};
        kd_transpose(c, r, M, N, dts[kd_below(r, 3)]);
        break;
    }
    default: { /* ATTENTION, ATTENTION_CAUSAL */
        static const int64_t dsz[] = {1, 3, 16, 17, 64, 65, 2, 8, 32, 33};
        static const int64_t sqs[] = {1, 2, 3, 5, 8, 31, 32, 33, 40, 64, 65, 70, 97};
        static const int64_t sks[] = {1, 2, 7, 31, 63, 64, 65, 100, 127, 128, 129, 200, 257};
        int rank = 2 + (int)kd_below(r, 3);
        int64_t lead[2], sq, sk, d, dv, slices;
        do {
            slices = 1;
            for (int i = 0; i < rank - 2; i++) slices *= (lead[i] = kd_range(r, 1, 3));
            sq = KD_PICK(r, sqs);
            sk = kd_below(r, 24) ? KD_PICK(r, sks) : 0; /* now and then no keys at all */
            d = kd_below(r, 24) ? KD_PICK(r, dsz) : 0;  /* or empty q and k rows */
            dv = kd_below(r, 24) ? KD_PICK(r, dsz) : 0; /* or an empty result */
        } while (slices * sq * (sk ? sk : 1) * (d + dv + 1) > budget);
        int mq = kd_below(r, 2) ? KD_SMALL : kd_random_mode(r);
        int mk = kd_below(r, 2) ? KD_SMALL : kd_random_mode(r);
        int mv = kd_below(r, 2) ? KD_SMALL : kd_random_mode(r);
        kd_attention(c, r, op == OP_ATTENTION_CAUSAL, rank, lead, sq, sk, d, dv, mq, mk, mv);
        break;
    }
    }
}

#endif
