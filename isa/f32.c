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

const uint32_t f32_exp_table[16] = {0x3F800000u, 0x3F85AAC3u, 0x3F8B95C2u, 0x3F91C3D3u, 0x3F9837F0u, 0x3F9EF532u,
                                     0x3FA5FED7u, 0x3FAD583Fu, 0x3FB504F3u, 0x3FBD08A4u, 0x3FC5672Au, 0x3FCE248Cu,
                                     0x3FD744FDu, 0x3FE0CCDFu, 0x3FEAC0C7u, 0x3FF5257Du};
const uint32_t f32_exp_scale_table[16] = {
    0x3F800000u, 0x3F7DAAC3u, 0x3F7B95C2u, 0x3F79C3D3u, 0x3F7837F0u, 0x3F76F532u, 0x3F75FED7u, 0x3F75583Fu,
    0x3F7504F3u, 0x3F7508A4u, 0x3F75672Au, 0x3F76248Cu, 0x3F7744FDu, 0x3F78CCDFu, 0x3F7AC0C7u, 0x3F7D257Du};

/* exp(x) = 2^(n/16) * e^r with n = x*16*log2(e) rounded and r = x - n*ln2/16 (|r| <= ln2/32):
 * 2^(j/16) from the table (j = n mod 16) times 2^k (k = floor(n/16)) is one exact float s,
 * and e^r = 1 + q with q = r + r^2/2 + r^3/6, so the result is fma(s, q, s). Short enough to
 * cost about seven fused operations per vector (SOFTMAX is bound by it), within 1 ulp of exp
 * over every float (98% correctly rounded). */
float f32_exp(float x)
{
    x = f32_daz(x);
    if (f32_isnan(x)) return f32_from(F32_CANON_NAN);
    if (x < f32_from(F32_EXP_XLO_BITS)) return 0.0f; /* also -inf; below, s would not be normal */
    if (x > 89.0f) return f32_from(F32_EXP);         /* also +inf */

    float t = f32_fma(x, f32_from(F32_EXP_L16_BITS), F32_EXP_SHIFTER);
    float n = f32_sub(t, F32_EXP_SHIFTER); /* an integer in [-2016, 2054] */
    float r = f32_fma(-n, f32_from(F32_EXP_LN2_HI16_BITS), x);
    r = f32_fma(-n, f32_from(F32_EXP_LN2_LO16_BITS), r);

    int ni = (int)n, j = ni & 15, k = (ni - j) / 16; /* k in [-126, 128] */
    float p = f32_fma(f32_from(F32_EXP_P3_BITS), r, 0.5f);
    p = f32_fma(p, r, 1.0f);
    float q = f32_mul(p, r);

    /* s = 2^(j/16) * 2^k by adding k to the exponent field: normal for k <= 127. */
    int kk = k < 127 ? k : 127;
    float s = f32_from(f32_exp_table[j] + ((uint32_t)kk << 23));
    float y = f32_fma(s, q, s);
    return k == 128 ? f32_mul(y, 2.0f) : y;
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
