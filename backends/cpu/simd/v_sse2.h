/* SSE2 vectors for kern_template.h: 4 lanes, and no FMA instruction, so vfma is emulated
 * exactly: the product of two floats is exact in double; the sum, rounded to nearest, is right
 * unless it lands exactly on a float midpoint, and then it is redone rounded to odd (TwoSum gives
 * the error; an even result with a nonzero error steps one ulp towards it); rounding that to
 * float (cvtpd2ps, round-to-nearest, FTZ) is then the correctly rounded fused result: 53 >= 24 + 2
 * bits make round-to-odd followed by rounding innocuous. */
#include "../../../isa/f32.h"

#include <emmintrin.h>
#include <stdint.h>

#define VW 4
typedef __m128 V;
typedef __m128i VI;
#define KSUFFIX(name) name##_sse2
#define GEMM_MR 4
#define GEMM_NV 2
#define ATT_G 1

static inline V vzero(void) { return _mm_setzero_ps(); }
static inline V vset(float x) { return _mm_set1_ps(x); }
static inline V vbits(uint32_t u) { return _mm_castsi128_ps(_mm_set1_epi32((int)u)); }
static inline V vload(const float *p) { return _mm_loadu_ps(p); }
static inline void vstore(float *p, V v) { _mm_storeu_ps(p, v); }
static inline V vload_n(const float *p, int n, float fill)
{
    float t[VW];
    for (int i = 0; i < VW; i++) t[i] = i < n ? p[i] : fill;
    return _mm_loadu_ps(t);
}
static inline void vstore_n(float *p, V v, int n)
{
    float t[VW];
    _mm_storeu_ps(t, v);
    for (int i = 0; i < n; i++) p[i] = t[i];
}
static inline V vadd(V a, V b) { return _mm_add_ps(a, b); }
static inline V vsub(V a, V b) { return _mm_sub_ps(a, b); }
static inline V vmul(V a, V b) { return _mm_mul_ps(a, b); }
static inline V vsel(V mask, V yes, V no) { return _mm_or_ps(_mm_and_ps(mask, yes), _mm_andnot_ps(mask, no)); }
static inline V vdaz(V x) { return _mm_mul_ps(x, vset(1.0f)); }

/* Round-to-odd a + b (doubles, b = exact product): RNE sum, then fix an even inexact result. */
static inline __m128d sum_round_odd(__m128d p, __m128d c)
{
    __m128d s = _mm_add_pd(p, c);
    __m128d bb = _mm_sub_pd(s, p);
    __m128d e = _mm_add_pd(_mm_sub_pd(p, _mm_sub_pd(s, bb)), _mm_sub_pd(c, bb));
    __m128d zero = _mm_setzero_pd();
    __m128d finite = _mm_cmpeq_pd(_mm_sub_pd(s, s), zero); /* s not inf/NaN */
    __m128d inexact = _mm_and_pd(_mm_cmpneq_pd(e, zero), finite);
    __m128i sb = _mm_castpd_si128(s);
    __m128i one = _mm_set_epi32(0, 1, 0, 1);
    __m128i lsb = _mm_and_si128(sb, one);
    __m128i even = _mm_cmpeq_epi32(lsb, _mm_setzero_si128());
    even = _mm_shuffle_epi32(even, _MM_SHUFFLE(2, 2, 0, 0)); /* the low dword decides */
    __m128i away = _mm_srli_epi64(_mm_xor_si128(_mm_castpd_si128(e), sb), 63); /* signs differ: 1 */
    __m128i delta = _mm_sub_epi64(one, _mm_add_epi64(away, away));              /* +1 or -1 */
    __m128i fix = _mm_and_si128(_mm_and_si128(even, _mm_castpd_si128(inexact)), delta);
    return _mm_castsi128_pd(_mm_add_epi64(sb, fix));
}

/* Lanes of s (two doubles) exactly halfway between two floats: the 29 bits below float
 * precision are 1000...0 (they sit in each double's low dword). */
static inline int any_float_midpoint(__m128d s)
{
    __m128i low29 = _mm_and_si128(_mm_castpd_si128(s), _mm_set_epi32(0, 0x1FFFFFFF, 0, 0x1FFFFFFF));
    return _mm_movemask_epi8(_mm_cmpeq_epi32(low29, _mm_set_epi32(-1, 0x10000000, -1, 0x10000000))) & 0x0F0F;
}

/* The plain double sum s = RN(p + c) rounds to the right float unless s lies exactly halfway
 * between two floats: otherwise no float midpoint separates s from the exact p + c (a midpoint
 * is a double, and s is the double nearest p + c), so both round alike, flushes included. Only
 * then (rare: the ties of the tests, about 2^-28 of random data) is the sum redone rounded to
 * odd. */
static inline V vfma(V a, V b, V c)
{
    a = vdaz(a);
    b = vdaz(b);
    c = vdaz(c);
    __m128d plo = _mm_mul_pd(_mm_cvtps_pd(a), _mm_cvtps_pd(b)), clo = _mm_cvtps_pd(c);
    __m128d phi = _mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(a, a)), _mm_cvtps_pd(_mm_movehl_ps(b, b)));
    __m128d chi = _mm_cvtps_pd(_mm_movehl_ps(c, c));
    __m128d lo = _mm_add_pd(plo, clo), hi = _mm_add_pd(phi, chi);
    if (any_float_midpoint(lo) | any_float_midpoint(hi)) {
        lo = sum_round_odd(plo, clo);
        hi = sum_round_odd(phi, chi);
    }
    return _mm_movelh_ps(_mm_cvtpd_ps(lo), _mm_cvtpd_ps(hi));
}
static inline V vfnma(V a, V b, V c) { return vfma(_mm_xor_ps(a, vbits(0x80000000u)), b, c); }
static inline V vcanon(V x) { return vsel(_mm_cmpunord_ps(x, x), vbits(0x7FC00000u), x); }
static inline V vmax_hw(V a, V b) { return _mm_max_ps(a, b); }
/* maxps(x, +0) returns its second operand, +0, for -0, subnormals (DAZ) and NaN; NaN lanes
 * then get the canonical NaN or-ed in. */
static inline V vrelu(V x) { return _mm_or_ps(_mm_max_ps(x, vzero()), _mm_and_ps(_mm_cmpunord_ps(x, x), vbits(0x7FC00000u))); }
static inline V vmax_model(V a, V b)
{
    V r = _mm_and_ps(a, b);
    r = vsel(_mm_cmpgt_ps(a, b), a, r);
    r = vsel(_mm_cmpgt_ps(b, a), b, r);
    return vsel(_mm_cmpunord_ps(a, b), vbits(0x7FC00000u), r);
}
/* exp's scale s = 2^(j/16) * 2^k from t = 1.5*2^23 + n (v_avx512.h says how); SSE2 has no
 * variable permute, so the table is read lane by lane. */
static inline V vexp_scale(V t)
{
    uint32_t tb[4], s[4];
    _mm_storeu_si128((__m128i *)tb, _mm_castps_si128(t));
    for (int i = 0; i < 4; i++) s[i] = f32_exp_scale_table[tb[i] & 15u] + (tb[i] << 19);
    return _mm_castsi128_ps(_mm_loadu_si128((const __m128i *)s));
}
static inline void vstream(float *p, V v) { _mm_stream_ps(p, v); }
static inline void vstream_fence(void) { _mm_sfence(); }
static inline float vtree_max_hw(V q)
{
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
}
static inline float vtree_sum(V q)
{
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
}
static inline void vto_array(V x, float *out) { _mm_storeu_ps(out, x); }

/* 4 x 4 transpose in registers (bit moves only). */
static inline void vtranspose(V *r) { _MM_TRANSPOSE4_PS(r[0], r[1], r[2], r[3]); }
