/* SOFTMAX over rows (docs/ops.md 3). The sum is the definition's: 32 strided partials (partial p
 * adds elements p, p + 32, ... in increasing order), folded by the fixed tree of 1.3; lane p of
 * a warp holds partial p, and the tree is the shuffles of warp_fold_sum.
 *   rows <= 1024:   a warp per row, the row in registers (one read, one write)
 *   rows <= SMEM:   a block per row, the row and its exps in shared memory; the 32 partial
 *                   chains are run by one warp over the exps the whole block computed
 *   longer rows:    a warp per row, three passes over memory (max, sum, results)
 * Shortcuts that keep the bits (f32_model.cuh): the row maximum by the hardware max, the exps
 * by m_exp_nonpos (every argument x - m is <= 0 or NaN), and the results canonicalised by
 * one test of the sum: when it is not NaN no result is NaN, and when it is, every result is. */
#include "f32_model.cuh"

#include <stdint.h>

#define WARPS 4 /* rows per block of the warp kernels */

__device__ __forceinline__ float bcast0(float v) { return __shfl_sync(0xFFFFFFFFu, v, 0); }

__device__ __forceinline__ float warp_max_hw(float v)
{
#pragma unroll
    for (int w = 16; w > 0; w >>= 1) v = m_max_hw(v, __shfl_xor_sync(0xFFFFFFFFu, v, w));
    return v; /* every lane has it: max is order-free */
}

/* y = e / s for a row whose sum is s: inv = recip(s); NaN everywhere when s is. */
__device__ __forceinline__ float scale(float e, float inv, bool nan_row)
{
    return nan_row ? __uint_as_float(CANON_NAN) : m_mul(e, inv);
}

template <int NPL>
__device__ __forceinline__ void softmax_cached(const float *in, float *out, int64_t rows, int n)
{
    __shared__ unsigned tab[16];
    exp_table_shifted_to_shared(tab);
    const int lane = threadIdx.x & 31;
    for (int64_t r = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32; r < rows; r += (int64_t)gridDim.x * WARPS) {
        const float *x = in + r * n;
        float v[NPL], mx = __uint_as_float(0xFF800000u);
#pragma unroll
        for (int t = 0; t < NPL; t++) {
            int i = lane + 32 * t;
            v[t] = i < n ? x[i] : __uint_as_float(0xFF800000u);
            mx = m_max_hw(mx, v[t]);
        }
        mx = warp_max_hw(mx);
        /* Slots past n add +0, which changes no partial (each is +0 or more, never -0). */
        float s = 0.0f;
#pragma unroll
        for (int t = 0; t < NPL; t++) {
            v[t] = m_exp_nonpos(m_sub(v[t], mx), tab);
            s = m_add(s, lane + 32 * t < n ? v[t] : 0.0f);
        }
        s = bcast0(warp_fold_sum(s));
        float inv = m_recip(s);
        bool nan_row = m_isnan(s);
        float *y = out + r * n;
#pragma unroll
        for (int t = 0; t < NPL; t++)
            if (lane + 32 * t < n) y[lane + 32 * t] = scale(v[t], inv, nan_row);
    }
}

#define SOFTMAX_ENTRY(NPL)                                                                             \
    extern "C" __global__ void __launch_bounds__(32 * WARPS) adead_softmax_##NPL(const float *in, float *out, \
                                                                                 int64_t rows, int n)    \
    {                                                                                                  \
        softmax_cached<NPL>(in, out, rows, n);                                                         \
    }

SOFTMAX_ENTRY(1)
SOFTMAX_ENTRY(2)
SOFTMAX_ENTRY(4)
SOFTMAX_ENTRY(8)
SOFTMAX_ENTRY(16)
SOFTMAX_ENTRY(32)

#define BLOCK_THREADS 256

/* A block per row, n floats of dynamic shared memory. in may be out: the row is read whole
 * before the first result is written. */
extern "C" __global__ void __launch_bounds__(BLOCK_THREADS) adead_softmax_block(const float *in, float *out, int64_t rows,
                                                                               int n)
{
    extern __shared__ float e[];
    __shared__ unsigned tab[16];
    __shared__ float part[BLOCK_THREADS / 32], total;
    exp_table_shifted_to_shared(tab);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *x = in + r * n;
        float mx = __uint_as_float(0xFF800000u);
        for (int i0 = 0; i0 < n; i0 += 8 * BLOCK_THREADS) { /* 8 loads in flight per thread */
            float v[8];
#pragma unroll
            for (int t = 0; t < 8; t++) {
                int i = i0 + tid + t * BLOCK_THREADS;
                v[t] = i < n ? x[i] : __uint_as_float(0xFF800000u);
            }
#pragma unroll
            for (int t = 0; t < 8; t++) {
                int i = i0 + tid + t * BLOCK_THREADS;
                if (i < n) e[i] = v[t];
                mx = m_max_hw(mx, v[t]);
            }
        }
        mx = warp_max_hw(mx);
        if (!lane) part[warp] = mx;
        __syncthreads();
        mx = part[0];
#pragma unroll
        for (int w = 1; w < BLOCK_THREADS / 32; w++) mx = m_max_hw(mx, part[w]);
        for (int i = tid; i < n; i += BLOCK_THREADS) e[i] = m_exp_nonpos(m_sub(e[i], mx), tab);
        __syncthreads();
        if (warp == 0) { /* the 32 partial chains, in increasing i */
            float s = 0.0f;
#pragma unroll 8
            for (int i = lane; i < n; i += 32) s = m_add(s, e[i]);
            s = warp_fold_sum(s);
            if (!lane) total = s;
        }
        __syncthreads();
        float s = total, inv = m_recip(s);
        bool nan_row = m_isnan(s);
        float *y = out + r * n;
        for (int i = tid; i < n; i += BLOCK_THREADS) y[i] = scale(e[i], inv, nan_row);
        __syncthreads(); /* e and part are reused by the next row */
    }
}

/* Any row length: a warp per row, three passes. Loads are batched 8 deep so that a lane's
 * chain waits for memory once per batch, not once per element. */
extern "C" __global__ void __launch_bounds__(32 * WARPS) adead_softmax_long(const float *in, float *out, int64_t rows,
                                                                            int64_t n)
{
    __shared__ unsigned tab[16];
    exp_table_shifted_to_shared(tab);
    const int lane = threadIdx.x & 31;
    const float ninf = __uint_as_float(0xFF800000u);
    for (int64_t r = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32; r < rows; r += (int64_t)gridDim.x * WARPS) {
        const float *x = in + r * n;
        float mx = ninf;
        for (int64_t i0 = 0; i0 < n; i0 += 256) {
            float v[8];
#pragma unroll
            for (int t = 0; t < 8; t++) {
                int64_t i = i0 + lane + 32 * t;
                v[t] = i < n ? x[i] : ninf;
            }
#pragma unroll
            for (int t = 0; t < 8; t++) mx = m_max_hw(mx, v[t]);
        }
        mx = warp_max_hw(mx);
        float s = 0.0f;
        for (int64_t i0 = 0; i0 < n; i0 += 256) {
            float v[8];
#pragma unroll
            for (int t = 0; t < 8; t++) {
                int64_t i = i0 + lane + 32 * t;
                v[t] = i < n ? x[i] : 0.0f;
            }
#pragma unroll
            for (int t = 0; t < 8; t++)
                if (i0 + lane + 32 * t < n) s = m_add(s, m_exp_nonpos(m_sub(v[t], mx), tab));
        }
        s = bcast0(warp_fold_sum(s));
        float inv = m_recip(s);
        bool nan_row = m_isnan(s);
        float *y = out + r * n;
        for (int64_t i = lane; i < n; i += 32) y[i] = scale(m_exp_nonpos(m_sub(x[i], mx), tab), inv, nan_row);
    }
}

/* Self-check of the exp shortcut: m_exp_nonpos against m_exp for every float that softmax and
 * attention can pass (sign bit set: -0, negative numbers, -inf, negative NaNs; and +0 and the
 * positive NaNs). out[0] counts differences (NaN = NaN), out[1] is the first input that differs. */
extern "C" __global__ void adead_exp_selfcheck(unsigned *out)
{
    __shared__ unsigned tab[16], tab2[16];
    exp_table_to_shared(tab);
    exp_table_shifted_to_shared(tab2);
    const uint64_t total = (1ull << 31) + (1ull << 23);
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (uint64_t)gridDim.x * blockDim.x) {
        unsigned u = i < (1ull << 31) ? 0x80000000u + (unsigned)i : (i == (1ull << 31) ? 0u : 0x7F800000u + (unsigned)(i - (1ull << 31)));
        float x = __uint_as_float(u);
        float a = m_exp(x, tab), b = m_exp_nonpos(x, tab2);
        bool same = m_isnan(a) ? m_isnan(b) : __float_as_uint(a) == __float_as_uint(b);
        if (!same && atomicAdd(&out[0], 1u) == 0) out[1] = u;
    }
}
