/* Slow paths and formulas of the f32 model; docs/ops.md is the normative text. */
#include "f32.h"

/* Values that are exactly representable and whose rounding we reason about below. */
#define TWO_POW_64 18446744073709551616.0f /* 2^64 */
#define TWO_POW_M62 2.168404344971008868e-19f /* 2^-62 = FLT_MIN * 2^64 */

static float signed_zero_of(float r) { return f32_from(f32_bits(r) & F32_SIGN); }

/* |r| in (0, FLT_MIN]. A subnormal IEEE result means the exact value is below FLT_MIN even
 * after rounding to 24 bits: flush. r == FLT_MIN is ambiguous: the exact product p is tiny after
 * rounding iff |p| < FLT_MIN - 2^-151 (that value and above round to FLT_MIN). */
float f32_mul_tiny(float a, float b, float r)
{
    if ((f32_bits(r) & 0x7FFFFFFFu) != F32_MIN_BITS) return signed_zero_of(r);
    double p = (double)a * (double)b; /* exact: 24 + 24 bits */
    const double boundary = 0x1.ffffffp-127; /* FLT_MIN - 2^-151, exact in double */
    return fabs(p) < boundary ? signed_zero_of(r) : r;
}

/* Same question for a*b+c. When the exact value is that close to FLT_MIN, |c| and |a*b| are
 * below 2^-77 (their low bits must reach 2^-126), so scaling the smaller factor and c by 2^64
 * is exact and moves the exact value to about 2^-62, where fmaf rounds it to 24 bits with no
 * underflow; tininess after rounding is then a comparison. */
float f32_fma_tiny(float a, float b, float c, float r)
{
    if ((f32_bits(r) & 0x7FFFFFFFu) != F32_MIN_BITS) return signed_zero_of(r);
    if (fabsf(a) <= fabsf(b))
        a *= TWO_POW_64;
    else
        b *= TWO_POW_64;
    float scaled = fmaf(a, b, c * TWO_POW_64);
    return fabsf(scaled) < TWO_POW_M62 ? signed_zero_of(r) : r;
}

static float pow2(int k) /* k in [-126, 127] */
{
    return f32_from((uint32_t)(k + 127) << 23);
}

static int floor_half(int k) { return k >= 0 ? k / 2 : -((1 - k) / 2); }

/* q * 2^k, with overflow to inf and underflow to a flushed zero by the model's own multiply.
 * |k| is clamped to 150: beyond that the result is 0 or inf for any q in [0.5, 2). */
static float scale(float q, int k)
{
    if (k > 150) k = 150;
    if (k < -150) k = -150;
    int k1 = floor_half(k);
    return f32_mul(f32_mul(q, pow2(k1)), pow2(k - k1));
}

float f32_div(float a, float b)
{
    uint32_t ua = f32_bits(f32_daz(a)), ub = f32_bits(f32_daz(b));
    uint32_t sign = (ua ^ ub) & F32_SIGN;
    uint32_t ma = ua & 0x7FFFFFFFu, mb = ub & 0x7FFFFFFFu;
    if (ma > F32_EXP || mb > F32_EXP) return f32_from(F32_CANON_NAN);
    if (ma == F32_EXP) return f32_from(mb == F32_EXP ? F32_CANON_NAN : (sign | F32_EXP));
    if (mb == F32_EXP) return f32_from(sign);
    if (mb == 0) return f32_from(ma == 0 ? F32_CANON_NAN : (sign | F32_EXP));
    if (ma == 0) return f32_from(sign);

    /* Both normal: divide the significands xa, xb in [1, 2), then scale. */
    int ea = (int)(ma >> 23) - 127, eb = (int)(mb >> 23) - 127;
    float xa = f32_from((ma & 0x007FFFFFu) | 0x3F800000u);
    float xb = f32_from((mb & 0x007FFFFFu) | 0x3F800000u);

    /* Reciprocal: linear start (error <= 1/17), then Newton y += y*(1 - xb*y), whose last
     * step rounds it correctly; Markstein's correction then gives the rounded quotient. */
    float y = f32_fma(-0.47058823704719543457f /* 8/17 */, xb, 1.41176474094390869141f /* 24/17 */);
    for (int i = 0; i < 4; i++) {
        float e = f32_fma(-xb, y, 1.0f);
        y = f32_fma(e, y, y);
    }
    /* Markstein's one exception (tested exhaustively): for xb = 2 - 2^-23 the last step lands
     * on a tie and rounds down; its correctly rounded reciprocal is 0.5 + 2^-24. */
    if (f32_bits(xb) == 0x3FFFFFFFu) y = f32_from(0x3F000001u);
    float q = f32_mul(xa, y);
    float rem = f32_fma(-xb, q, xa);
    q = f32_fma(rem, y, q);

    float mag = scale(q, ea - eb);
    return f32_from(f32_bits(mag) | sign);
}

float f32_recip(float b) { return f32_div(1.0f, b); }

float f32_exp(float x)
{
    x = f32_daz(x);
    if (f32_isnan(x)) return f32_from(F32_CANON_NAN);
    /* Outside [-104, 89] the result is 0 or inf either way; clamping keeps n in int range. */
    if (x < -104.0f) x = -104.0f;
    if (x > 89.0f) x = 89.0f;

    /* n = x*log2(e) rounded to nearest even, by the 1.5*2^23 shifter. */
    const float shifter = 12582912.0f;
    float t = f32_fma(x, 1.44269502162933349609f /* log2(e) */, shifter);
    float n = f32_sub(t, shifter);
    int k = (int)n;

    /* r = x - n*ln2, Cody-Waite in two parts. */
    float r = f32_fma(-n, 0.693359375f, x);
    r = f32_fma(-n, -2.12194440e-4f, r);

    /* e^r on |r| <= ln2/2: 1 + r + r^2 * p(r), p by Horner. */
    float p = 1.9875691500e-4f;
    p = f32_fma(p, r, 1.3981999507e-3f);
    p = f32_fma(p, r, 8.3334519073e-3f);
    p = f32_fma(p, r, 4.1665795894e-2f);
    p = f32_fma(p, r, 1.6666665459e-1f);
    p = f32_fma(p, r, 5.0000001201e-1f);
    float r2 = f32_mul(r, r);
    float y = f32_fma(p, r2, r);
    y = f32_add(y, 1.0f);
    return scale(y, k);
}

float f32_reduce_sum(const float *x, size_t n)
{
    float p[F32_PARTIALS];
    for (int i = 0; i < F32_PARTIALS; i++) p[i] = 0.0f;
    for (size_t i = 0; i < n; i++) p[i % F32_PARTIALS] = f32_add(p[i % F32_PARTIALS], x[i]);
    for (int w = F32_PARTIALS / 2; w > 0; w /= 2)
        for (int i = 0; i < w; i++) p[i] = f32_add(p[i], p[i + w]);
    return p[0];
}

float f32_reduce_max(const float *x, size_t n)
{
    float p[F32_PARTIALS];
    for (int i = 0; i < F32_PARTIALS; i++) p[i] = -INFINITY;
    for (size_t i = 0; i < n; i++) p[i % F32_PARTIALS] = f32_max(p[i % F32_PARTIALS], x[i]);
    for (int w = F32_PARTIALS / 2; w > 0; w /= 2)
        for (int i = 0; i < w; i++) p[i] = f32_max(p[i], p[i + w]);
    return p[0];
}
