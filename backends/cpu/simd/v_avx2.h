/* AVX2+FMA vectors for kern_template.h: 8 lanes. */
#include "../../../isa/f32.h"

#include <immintrin.h>
#include <stdint.h>

#define VW 8
typedef __m256 V;
typedef __m256i VI;
#define KSUFFIX(name) name##_avx2
#define GEMM_MR 6
#define GEMM_NV 2
#define ATT_G 1

static inline V vzero(void) { return _mm256_setzero_ps(); }
static inline V vset(float x) { return _mm256_set1_ps(x); }
static inline V vbits(uint32_t u) { return _mm256_castsi256_ps(_mm256_set1_epi32((int)u)); }
static inline V vload(const float *p) { return _mm256_loadu_ps(p); }
static inline void vstore(float *p, V v) { _mm256_storeu_ps(p, v); }
static inline VI vmask_n(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline V vload_n(const float *p, int n, float fill)
{
    VI m = vmask_n(n);
    return _mm256_blendv_ps(vset(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
static inline void vstore_n(float *p, V v, int n) { _mm256_maskstore_ps(p, vmask_n(n), v); }
static inline V vadd(V a, V b) { return _mm256_add_ps(a, b); }
static inline V vsub(V a, V b) { return _mm256_sub_ps(a, b); }
static inline V vmul(V a, V b) { return _mm256_mul_ps(a, b); }
static inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
static inline V vfnma(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
static inline V vsel(V mask, V yes, V no) { return _mm256_blendv_ps(no, yes, mask); }
static inline V vcanon(V x) { return vsel(_mm256_cmp_ps(x, x, _CMP_UNORD_Q), vbits(0x7FC00000u), x); }
static inline V vmax_hw(V a, V b) { return _mm256_max_ps(a, b); }
/* maxps(x, +0) returns its second operand, +0, for -0, subnormals (DAZ) and NaN; NaN lanes
 * then get the canonical NaN or-ed in. */
static inline V vrelu(V x)
{
    return _mm256_or_ps(_mm256_max_ps(x, vzero()), _mm256_and_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q), vbits(0x7FC00000u)));
}
static inline V vmax_model(V a, V b)
{
    V r = _mm256_and_ps(a, b);
    r = vsel(_mm256_cmp_ps(a, b, _CMP_GT_OQ), a, r);
    r = vsel(_mm256_cmp_ps(b, a, _CMP_GT_OQ), b, r);
    return vsel(_mm256_cmp_ps(a, b, _CMP_UNORD_Q), vbits(0x7FC00000u), r);
}
static inline V vdaz(V x) { return _mm256_mul_ps(x, vset(1.0f)); }
/* exp's scale s = 2^(j/16) * 2^k from t = 1.5*2^23 + n (v_avx512.h says how): two 8-entry
 * vpermps (j's low 3 bits) and bit 3 of j, shifted to the sign, picks the half. */
static inline V vexp_scale(V t)
{
    VI tb = _mm256_castps_si256(t);
    const float *tab = (const float *)f32_exp_scale_table;
    V lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(tab), tb), hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(tab + 8), tb);
    V s = _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(tb, 28)));
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(s), _mm256_slli_epi32(tb, 19)));
}
static inline void vstream(float *p, V v) { _mm256_stream_ps(p, v); }
static inline void vstream_fence(void) { _mm_sfence(); }
static inline float vtree_max_hw(V x)
{
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
}
static inline float vtree_sum(V x)
{
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
}
static inline void vto_array(V x, float *out) { _mm256_storeu_ps(out, x); }

/* 8 x 8 transpose in registers (bit moves only). */
static inline void vtranspose(V *r)
{
    V t[8], u[8];
    for (int k = 0; k < 4; k++) {
        t[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 2; k++) {
        u[4 * k] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0x44);
        u[4 * k + 1] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0xEE);
        u[4 * k + 2] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0x44);
        u[4 * k + 3] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0xEE);
    }
    for (int m = 0; m < 4; m++) {
        r[m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x20);
        r[4 + m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x31);
    }
}
