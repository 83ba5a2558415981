/* The f32 model of docs/ops.md on an NVIDIA GPU: the device twin of isa/f32.h.
 *
 * Built with nvcc -ftz=true -fmad=false -prec-div=true: __fadd_rn, __fsub_rn, __fmul_rn and
 * __fmaf_rn are then the .ftz.rn instructions, which read subnormal operands as zero and write
 * tiny results as zero with tininess after rounding: x86 DAZ|FTZ, the model (the executor's
 * conformance probe checks this on every device before it is called exact). Everything else
 * (max, exp, division) is built from those four, as the reference builds it. */
#ifndef ADEAD_CUDA_F32_MODEL_CUH
#define ADEAD_CUDA_F32_MODEL_CUH

#define CANON_NAN 0x7FC00000u

__device__ __forceinline__ bool m_isnan(float x) { return (__float_as_uint(x) & 0x7FFFFFFFu) > 0x7F800000u; }

__device__ __forceinline__ float m_daz(float x)
{
    unsigned u = __float_as_uint(x);
    return (u & 0x7F800000u) ? x : __uint_as_float(u & 0x80000000u);
}

__device__ __forceinline__ float m_canon(float x) { return m_isnan(x) ? __uint_as_float(CANON_NAN) : x; }

__device__ __forceinline__ float m_add(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float m_sub(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ float m_mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float m_fma(float a, float b, float c) { return __fmaf_rn(a, b, c); }

/* NaN if either is NaN; +0 beats -0. Not fmaxf, which returns the other operand of a NaN. */
__device__ __forceinline__ float m_max(float a, float b)
{
    a = m_daz(a);
    b = m_daz(b);
    if (m_isnan(a) || m_isnan(b)) return __uint_as_float(CANON_NAN);
    if (a > b) return a;
    if (b > a) return b;
    return __uint_as_float(__float_as_uint(a) & __float_as_uint(b));
}

__device__ __forceinline__ float m_pow2(int k) { return __uint_as_float((unsigned)(k + 127) << 23); } /* k in [-126, 127] */

/* docs/ops.md 1.1, step by step as isa/f32.c's f32_div. */
__device__ __forceinline__ float m_div(float a, float b)
{
    unsigned ua = __float_as_uint(m_daz(a)), ub = __float_as_uint(m_daz(b));
    unsigned sign = (ua ^ ub) & 0x80000000u;
    unsigned ma = ua & 0x7FFFFFFFu, mb = ub & 0x7FFFFFFFu;
    if (ma > 0x7F800000u || mb > 0x7F800000u) return __uint_as_float(CANON_NAN);
    if (ma == 0x7F800000u) return __uint_as_float(mb == 0x7F800000u ? CANON_NAN : (sign | 0x7F800000u));
    if (mb == 0x7F800000u) return __uint_as_float(sign);
    if (mb == 0) return __uint_as_float(ma == 0 ? CANON_NAN : (sign | 0x7F800000u));
    if (ma == 0) return __uint_as_float(sign);
    int ea = (int)(ma >> 23) - 127, eb = (int)(mb >> 23) - 127;
    float xa = __uint_as_float((ma & 0x007FFFFFu) | 0x3F800000u);
    float xb = __uint_as_float((mb & 0x007FFFFFu) | 0x3F800000u);
    float y = m_fma(__uint_as_float(0xBEF0F0F1u) /* -8/17 */, xb, __uint_as_float(0x3FB4B4B5u) /* 24/17 */);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float e = m_fma(__uint_as_float(__float_as_uint(xb) ^ 0x80000000u), y, 1.0f);
        y = m_fma(e, y, y);
    }
    if (__float_as_uint(xb) == 0x3FFFFFFFu) y = __uint_as_float(0x3F000001u);
    float nxb = __uint_as_float(__float_as_uint(xb) ^ 0x80000000u);
    float q = m_mul(xa, y);
    float rem = m_fma(nxb, q, xa);
    q = m_fma(rem, y, q);
    int k = ea - eb;
    k = k > 150 ? 150 : k < -150 ? -150 : k;
    int k1 = k >= 0 ? k / 2 : -((1 - k) / 2), k2 = k - k1;
    float mag = m_mul(m_mul(q, m_pow2(k1)), m_pow2(k2));
    return __uint_as_float(__float_as_uint(mag) | sign);
}

__device__ __forceinline__ float m_recip(float b) { return m_div(1.0f, b); }

/* 2^(j/16). Kernels copy it into shared memory first (exp_table_to_shared): lanes index it by
 * their own j, which the constant cache would serialise. */
__constant__ unsigned m_exp_table[16] = {0x3F800000u, 0x3F85AAC3u, 0x3F8B95C2u, 0x3F91C3D3u, 0x3F9837F0u, 0x3F9EF532u,
                                         0x3FA5FED7u, 0x3FAD583Fu, 0x3FB504F3u, 0x3FBD08A4u, 0x3FC5672Au, 0x3FCE248Cu,
                                         0x3FD744FDu, 0x3FE0CCDFu, 0x3FEAC0C7u, 0x3FF5257Du};

/* Every thread of the block calls it (it synchronises the block). */
__device__ __forceinline__ void exp_table_to_shared(unsigned *tab)
{
    for (unsigned i = threadIdx.x + threadIdx.y * blockDim.x; i < 16; i += blockDim.x * blockDim.y) tab[i] = m_exp_table[i];
    __syncthreads();
}

/* docs/ops.md 1.2, as isa/f32.c's f32_exp; tab: m_exp_table's 16 entries. */
__device__ __forceinline__ float m_exp(float x, const unsigned *tab)
{
    x = m_daz(x);
    if (m_isnan(x)) return __uint_as_float(CANON_NAN);
    if (x < __uint_as_float(0xC2AEB766u)) return 0.0f;
    if (x > 89.0f) return __uint_as_float(0x7F800000u);
    const float shifter = 12582912.0f;
    float t = m_fma(x, __uint_as_float(0x41B8AA3Bu), shifter);
    float n = m_sub(t, shifter);
    float nn = __uint_as_float(__float_as_uint(n) ^ 0x80000000u);
    float r = m_fma(nn, __uint_as_float(0x3D318000u), x);
    r = m_fma(nn, __uint_as_float(0xB75E8083u), r);
    int ni = (int)n, j = ni & 15, k = (ni - j) / 16;
    float p = m_fma(__uint_as_float(0x3E2AAAABu), r, 0.5f);
    p = m_fma(p, r, 1.0f);
    float q = m_mul(p, r);
    int kk = k < 127 ? k : 127;
    float s = __uint_as_float(tab[j] + ((unsigned)kk << 23));
    float y = m_fma(s, q, s);
    return k == 128 ? m_mul(y, 2.0f) : y;
}

/* max(a, b) as the hardware computes it (subnormals read as zero): the model's max except
 * when one is NaN (the other is returned) and for which zero of equal zeros wins. SOFTMAX and
 * ATTENTION may use it for their row maxima m: a NaN in the row turns its exp into NaN and so
 * the sum and every output, whatever m is; and exp(x - m) is the same for m = +0 and m = -0
 * (x - m differs only for x = 0, where it is a zero of either sign, and exp(±0) = 1). */
__device__ __forceinline__ float m_max_hw(float a, float b) { return fmaxf(a, b); }

/* max(x, lo) that keeps a NaN (PTX max.NaN, sm_80 and later); flushes a subnormal x. */
__device__ __forceinline__ float max_nan(float x, float lo)
{
    float r;
    asm("max.NaN.ftz.f32 %0, %1, %2;" : "=f"(r) : "f"(x), "f"(lo));
    return r;
}

/* m_exp_table[j] - (j << 19), for m_exp_nonpos. */
__constant__ unsigned m_exp_table_shifted[16] = {
    0x3F800000u, 0x3F7DAAC3u, 0x3F7B95C2u, 0x3F79C3D3u, 0x3F7837F0u, 0x3F76F532u, 0x3F75FED7u, 0x3F75583Fu,
    0x3F7504F3u, 0x3F7508A4u, 0x3F75672Au, 0x3F76248Cu, 0x3F7744FDu, 0x3F78CCDFu, 0x3F7AC0C7u, 0x3F7D257Du};

__device__ __forceinline__ void exp_table_shifted_to_shared(unsigned *tab)
{
    for (unsigned i = threadIdx.x + threadIdx.y * blockDim.x; i < 16; i += blockDim.x * blockDim.y)
        tab[i] = m_exp_table_shifted[i];
    __syncthreads();
}

/* m_exp(x) for x <= 0 or NaN (what SOFTMAX and ATTENTION take the exp of), in the shortcut
 * docs/ops.md 1.2 allows: x raised to -88 instead of the XLO test (every x in [-88, XLO) makes
 * s a subnormal, read as zero, so y = +0 as the definition says), and s read off t's bits:
 * t = 1.5 * 2^23 + n, so (t's bits << 19) = (k << 23) + (j << 19) modulo 2^32. tab: the shifted
 * table. Same bits as m_exp (tests/test_cuda.c checks it over every such float). */
__device__ __forceinline__ float m_exp_nonpos(float x, const unsigned *tab)
{
    x = max_nan(x, -88.0f);
    const float shifter = 12582912.0f;
    float t = m_fma(x, __uint_as_float(0x41B8AA3Bu), shifter);
    float n = m_sub(t, shifter);
    float r = m_fma(-n, __uint_as_float(0x3D318000u), x);
    r = m_fma(-n, __uint_as_float(0xB75E8083u), r);
    float p = m_fma(__uint_as_float(0x3E2AAAABu), r, 0.5f);
    p = m_fma(p, r, 1.0f);
    float q = m_mul(p, r);
    unsigned tb = __float_as_uint(t);
    float s = __uint_as_float(tab[tb & 15u] + (tb << 19));
    return m_fma(s, q, s);
}

/* The fixed tree of docs/ops.md 1.3 over a warp whose lane p holds partial P[p]: for w = 16 ... 1,
 * P[p] = op(P[p], P[p + w]); lane 0 ends with the result (the other lanes with garbage). */
__device__ __forceinline__ float warp_fold_sum(float v)
{
#pragma unroll
    for (int w = 16; w > 0; w >>= 1) v = m_add(v, __shfl_down_sync(0xFFFFFFFFu, v, w));
    return v;
}

__device__ __forceinline__ float warp_fold_max(float v)
{
#pragma unroll
    for (int w = 16; w > 0; w >>= 1) v = m_max(v, __shfl_down_sync(0xFFFFFFFFu, v, w));
    return v;
}

#endif
