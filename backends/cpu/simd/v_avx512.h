/* AVX-512 vectors for kern_template.h: 16 lanes; masks for tails. Under MXCSR DAZ|FTZ these
 * instructions are the f32 model (tests/test_f32.c shows it for add/sub/mul/fma). */
#include "../../../isa/f32.h"

#include <immintrin.h>
#include <stdint.h>

#define VW 16
typedef __m512 V;
typedef __m512i VI;
#define KSUFFIX(name) name##_avx512
#define GEMM_MR 6
#define GEMM_NV 4
#define ATT_G 4
#define SOFTMAX_AHEAD 1 /* kern_template.h: 2 x 2 registers carried between blocks */

static inline V vzero(void) { return _mm512_setzero_ps(); }
static inline V vset(float x) { return _mm512_set1_ps(x); }
static inline V vbits(uint32_t u) { return _mm512_castsi512_ps(_mm512_set1_epi32((int)u)); }
static inline V vload(const float *p) { return _mm512_loadu_ps(p); }
static inline void vstore(float *p, V v) { _mm512_storeu_ps(p, v); }
static inline __mmask16 vmask_n(int n) { return (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1u); }
/* The first n lanes (0 <= n <= VW); other lanes read as fill. */
static inline V vload_n(const float *p, int n, float fill) { return _mm512_mask_loadu_ps(vset(fill), vmask_n(n), p); }
static inline void vstore_n(float *p, V v, int n) { _mm512_mask_storeu_ps(p, vmask_n(n), v); }
static inline V vadd(V a, V b) { return _mm512_add_ps(a, b); }
static inline V vsub(V a, V b) { return _mm512_sub_ps(a, b); }
static inline V vmul(V a, V b) { return _mm512_mul_ps(a, b); }
static inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
static inline V vfnma(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); } /* fma(-a, b, c) */
/* Lanes where x is NaN become the canonical NaN. */
static inline V vcanon(V x)
{
    return _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), vbits(0x7FC00000u));
}
/* The hardware max: right for everything but NaN and signed zeros, which finish_max (the
 * template) accounts for. */
static inline V vmax_hw(V a, V b) { return _mm512_max_ps(a, b); }
/* relu: daz; NaN -> canonical; x > 0 ? x : +0. vmaxps(x, +0) is that for every non-NaN x
 * (it returns its second operand, +0, when x is -0 or a subnormal, which DAZ reads as 0);
 * NaN lanes are left out of the max and keep the canonical NaN. */
static inline V vrelu(V x)
{
    return _mm512_mask_max_ps(vbits(0x7FC00000u), _mm512_cmp_ps_mask(x, x, _CMP_ORD_Q), x, vzero());
}
/* The model's max of DAZ'd operands: NaN wins; +0 beats -0 (bitwise and of equal values). */
static inline V vmax_model(V a, V b)
{
    V eq = _mm512_and_ps(a, b);
    V r = _mm512_mask_mov_ps(eq, _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ), a);
    r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ), b);
    return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q), vbits(0x7FC00000u));
}
/* daz(x): x * 1 under DAZ (exact for every other x; NaN stays NaN). */
static inline V vdaz(V x) { return _mm512_mul_ps(x, vset(1.0f)); }
/* exp's scale s = 2^(j/16) * 2^k (docs/ops.md 1.2) from t = 1.5*2^23 + n, j = n mod 16,
 * k = floor(n/16), by bits: vpermps takes j from t's low 4 bits, and t << 19 added to the
 * biased table entry adds k to its exponent (isa/f32.h, f32_exp_scale_table). */
static inline V vexp_scale(V t)
{
    __m512i tb = _mm512_castps_si512(t);
    __m512i s = _mm512_castps_si512(_mm512_permutexvar_ps(tb, _mm512_loadu_ps((const float *)f32_exp_scale_table)));
    return _mm512_castsi512_ps(_mm512_add_epi32(s, _mm512_slli_epi32(tb, 19)));
}
/* Stores that bypass the caches (p aligned to the vector), and the fence that orders them
 * before whatever the caller does next. */
static inline void vstream(float *p, V v) { _mm512_stream_ps(p, v); }
static inline void vstream_fence(void) { _mm_sfence(); }
/* The hardware max of the lanes (NaN and zeros as vmaxps has them: the caller checks). */
static inline float vtree_max_hw(V x)
{
    __m256 h = _mm256_max_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1));
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
}
/* Lane-wise fold for the 1.3 tree: lanes [0, w) += lanes [w, 2w), for w = VW/2 ... 1; lane 0. */
static inline float vtree_sum(V x)
{
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
}
/* Lanes as floats, for the order-free max. */
static inline void vto_array(V x, float *out) { _mm512_storeu_ps(out, x); }

/* 16 x 16 transpose in registers (bit moves only): r[i] lane j -> r[j] lane i. */
static inline void vtranspose(V *r)
{
    V t[16], u[16];
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 4; k++) {
        __m512d a = _mm512_castps_pd(t[4 * k]), b = _mm512_castps_pd(t[4 * k + 1]);
        __m512d c = _mm512_castps_pd(t[4 * k + 2]), d = _mm512_castps_pd(t[4 * k + 3]);
        u[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* u[4k+m], 128-bit lane L: column 4L+m of rows 4k..4k+3. */
    for (int m = 0; m < 4; m++) {
        V a = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88), b = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xDD);
        V c = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88), d = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xDD);
        r[m] = _mm512_shuffle_f32x4(a, c, 0x88);
        r[8 + m] = _mm512_shuffle_f32x4(a, c, 0xDD);
        r[4 + m] = _mm512_shuffle_f32x4(b, d, 0x88);
        r[12 + m] = _mm512_shuffle_f32x4(b, d, 0xDD);
    }
}
