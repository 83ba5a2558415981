/* The f32 model of docs/ops.md, in portable C: the reference every executor must match.
 *
 * IEEE binary32, round to nearest even, subnormal inputs read as signed zero (DAZ), results
 * that are tiny after rounding written as signed zero (FTZ; x86 MXCSR DAZ|FTZ semantics),
 * fused multiply-add, NaN results canonicalised. The functions here do not depend on the
 * host's MXCSR/FPCR flush bits; they do need round-to-nearest, which the VM sets on entry.
 */
#ifndef ADEAD_F32_H
#define ADEAD_F32_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "the f32 model needs float arithmetic evaluated in float (FLT_EVAL_METHOD == 0)"
#endif

#define F32_CANON_NAN 0x7FC00000u
#define F32_SIGN 0x80000000u
#define F32_EXP 0x7F800000u
#define F32_MIN_BITS 0x00800000u /* FLT_MIN */

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float f32_from(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline int f32_isnan(float x) { return (f32_bits(x) & 0x7FFFFFFFu) > F32_EXP; }

/* Subnormal -> zero of the same sign (DAZ on an input, or FTZ of an exact result). */
static inline float f32_daz(float x)
{
    uint32_t u = f32_bits(x);
    return (u & F32_EXP) ? x : f32_from(u & F32_SIGN);
}

/* Every NaN -> the one canonical NaN; applied at each op's output. */
static inline float f32_canon(float x) { return f32_isnan(x) ? f32_from(F32_CANON_NAN) : x; }

/* Slow paths (f32.c): results whose flush decision needs the exact value. */
float f32_mul_tiny(float a, float b, float r);
float f32_fma_tiny(float a, float b, float c, float r);

/* Sums and differences of DAZ'd operands are exact when they are below FLT_MIN, so a plain
 * flush of the IEEE result is the model. */
static inline float f32_add(float a, float b) { return f32_daz(f32_daz(a) + f32_daz(b)); }
static inline float f32_sub(float a, float b) { return f32_daz(f32_daz(a) - f32_daz(b)); }

/* |r| in (0, FLT_MIN]: subnormal or exactly FLT_MIN, where FTZ needs a second look. */
static inline int f32_needs_tiny_check(float r)
{
    return (f32_bits(r) & 0x7FFFFFFFu) - 1u < F32_MIN_BITS;
}

static inline float f32_mul(float a, float b)
{
    a = f32_daz(a);
    b = f32_daz(b);
    float r = a * b;
    return f32_needs_tiny_check(r) ? f32_mul_tiny(a, b, r) : r;
}

static inline float f32_fma(float a, float b, float c)
{
    a = f32_daz(a);
    b = f32_daz(b);
    c = f32_daz(c);
    float r = fmaf(a, b, c);
    return f32_needs_tiny_check(r) ? f32_fma_tiny(a, b, c, r) : r;
}

static inline float f32_neg(float x) { return f32_from(f32_bits(f32_daz(x)) ^ F32_SIGN); }
static inline float f32_abs(float x) { return f32_from(f32_bits(f32_daz(x)) & 0x7FFFFFFFu); }

/* Comparisons read their operands with DAZ; any NaN compares false. */
static inline int f32_eq(float a, float b) { return f32_daz(a) == f32_daz(b); }
static inline int f32_lt(float a, float b) { return f32_daz(a) < f32_daz(b); }
static inline int f32_le(float a, float b) { return f32_daz(a) <= f32_daz(b); }

/* max/min: NaN if either is NaN, -0 < +0; associative and commutative. */
static inline float f32_max(float a, float b)
{
    a = f32_daz(a);
    b = f32_daz(b);
    if (f32_isnan(a) || f32_isnan(b)) return f32_from(F32_CANON_NAN);
    if (a > b) return a;
    if (b > a) return b;
    return f32_from(f32_bits(a) & f32_bits(b)); /* equal: +0 beats -0 */
}

static inline float f32_min(float a, float b)
{
    a = f32_daz(a);
    b = f32_daz(b);
    if (f32_isnan(a) || f32_isnan(b)) return f32_from(F32_CANON_NAN);
    if (a < b) return a;
    if (b < a) return b;
    return f32_from(f32_bits(a) | f32_bits(b)); /* equal: -0 beats +0 */
}

/* The project's formulas (docs/ops.md), built from the operations above only. */
float f32_div(float a, float b);
float f32_recip(float b);
float f32_exp(float x);

/* exp's constants (docs/ops.md 1.2), shared by the reference and the SIMD kernels. */
#define F32_EXP_XLO_BITS 0xC2AEB766u     /* x below this (-87.3582) gives +0: n < -2016 */
#define F32_EXP_SHIFTER 12582912.0f      /* 1.5 * 2^23: fma(x, c, shifter) - shifter rounds x*c */
#define F32_EXP_L16_BITS 0x41B8AA3Bu     /* 16 * log2(e) */
#define F32_EXP_LN2_HI16_BITS 0x3D318000u /* 0.693359375 / 16: n * it is exact */
#define F32_EXP_LN2_LO16_BITS 0xB75E8083u /* (ln 2 - 0.693359375) / 16 */
#define F32_EXP_P3_BITS 0x3E2AAAABu      /* 1/6 */
extern const uint32_t f32_exp_table[16]; /* 2^(j/16) rounded to nearest, j = 0..15 */
/* For vector kernels, which read n from t = 1.5*2^23 + n (step 2): t's bits shifted left by 19
 * are (k << 23) + (j << 19) mod 2^32, so entry j of this table, f32_exp_table[j] - (j << 19),
 * plus them is step 6's s = T[j] * 2^k (k <= 127) without masking j off. */
extern const uint32_t f32_exp_scale_table[16];
/* Vector kernels clamp x <= 0 from below at this instead of testing x < XLO: from any x in
 * [-88, XLO), steps 2-6 give k = -127, an s whose exponent field is 0 (a subnormal, read as 0
 * under DAZ), and so y = +0, as step 1 says. */
#define F32_EXP_CLAMP (-88.0f)

/* Row reductions: 32 strided partials, partial p taking x[p], x[p+32], ... in order from its
 * start value, then folded pairwise: p[i] op= p[i+w] for w = 16, 8, 4, 2, 1. */
#define F32_PARTIALS 32
float f32_reduce_sum(const float *x, size_t n);
float f32_reduce_max(const float *x, size_t n);

#endif
