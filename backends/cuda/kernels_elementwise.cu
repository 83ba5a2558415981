/* RELU, TADD/TSUB/TMUL (numpy broadcasting) and TRANSPOSE: memory-bound kernels, each element's
 * arithmetic one model operation (docs/ops.md 1 and 3). Launched by the host side through the
 * driver API, so every entry is extern "C" with plain arguments. */
#include "f32_model.cuh"
#include "fuse.cuh"

#include <stdint.h>

__device__ __forceinline__ float relu1(float x)
{
    x = m_daz(x);
    return m_isnan(x) ? __uint_as_float(CANON_NAN) : (x > 0.0f ? x : 0.0f);
}

/* td may be ta (no __restrict__: each element is read before it is written, by one thread).
 * Four elements per thread through 16-byte accesses when both ends are 16-byte aligned
 * (vec = 1, which the host decides), the tail and unaligned tensors one by one. */
extern "C" __global__ void adead_relu(const float *in, float *out, int64_t n, int vec)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (vec) {
        int64_t n4 = n / 4;
        const float4 *in4 = (const float4 *)in;
        float4 *out4 = (float4 *)out;
        for (int64_t k = i; k < n4; k += stride) {
            float4 v = in4[k];
            out4[k] = make_float4(relu1(v.x), relu1(v.y), relu1(v.z), relu1(v.w));
        }
        for (int64_t k = n4 * 4 + i; k < n; k += stride) out[k] = relu1(in[k]);
    } else {
        for (int64_t k = i; k < n; k += stride) out[k] = relu1(in[k]);
    }
}

__device__ __forceinline__ float binop(int op, float a, float b)
{
    float r = op == 0 ? m_add(a, b) : op == 1 ? m_sub(a, b) : m_mul(a, b);
    return m_canon(r);
}

__device__ __forceinline__ float4 binop4(int op, float4 a, float4 b)
{
    return make_float4(binop(op, a.x, b.x), binop(op, a.y, b.y), binop(op, a.z, b.z), binop(op, a.w, b.w));
}

__device__ __forceinline__ float4 splat(float x) { return make_float4(x, x, x, x); }

/* Same shapes, or one side a single element (sa/sb = 0 for it, else 1). vec: every full operand
 * and out are 16-byte aligned (the host decides): float4 accesses, the tail one by one. */
extern "C" __global__ void adead_binary_flat(int op, const float *a, int sa, const float *b, int sb,
                                             float *out, int64_t n, int vec)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (vec) {
        for (int64_t k = i; k < n / 4; k += stride) {
            float4 x = sa ? ((const float4 *)a)[k] : splat(a[0]), y = sb ? ((const float4 *)b)[k] : splat(b[0]);
            ((float4 *)out)[k] = binop4(op, x, y);
        }
        for (int64_t k = n / 4 * 4 + i; k < n; k += stride) out[k] = binop(op, a[sa ? k : 0], b[sb ? k : 0]);
    } else {
        for (int64_t k = i; k < n; k += stride) out[k] = binop(op, a[sa ? k : 0], b[sb ? k : 0]);
    }
}

/* General broadcasting over rank 4 (shapes right-aligned by the host): as/bs are the element
 * strides of a and b (0 along a broadcast axis), od the output's dims. A block row takes output
 * rows (the first three axes) and threads run along the last. vec: the last axis is a multiple
 * of 4, the pointers 16-byte aligned, and as[3], bs[3] are 0 or 1: float4 accesses. */
struct bcast4 {
    int64_t od[4], as[4], bs[4];
};

extern "C" __global__ void adead_binary_bcast(int op, const float *a, const float *b, float *out,
                                              bcast4 g, int64_t rows, int vec)
{
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        int64_t i2 = r % g.od[2], t = r / g.od[2];
        int64_t i1 = t % g.od[1], i0 = t / g.od[1];
        const float *ar = a + i0 * g.as[0] + i1 * g.as[1] + i2 * g.as[2];
        const float *br = b + i0 * g.bs[0] + i1 * g.bs[1] + i2 * g.bs[2];
        float *o = out + r * g.od[3];
        int64_t step = (int64_t)gridDim.x * blockDim.x, x0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
        if (vec) {
            for (int64_t x = x0; x < g.od[3] / 4; x += step) {
                float4 va = g.as[3] ? ((const float4 *)ar)[x] : splat(ar[0]);
                float4 vb = g.bs[3] ? ((const float4 *)br)[x] : splat(br[0]);
                ((float4 *)o)[x] = binop4(op, va, vb);
            }
        } else {
            for (int64_t x = x0; x < g.od[3]; x += step) o[x] = binop(op, ar[x * g.as[3]], br[x * g.bs[3]]);
        }
    }
}

/* out[N,M] = in[M,N], moved as bits through a 32x33 shared tile (the pad keeps the column reads
 * off one bank). T is the element's size class: 4 or 8 bytes. Blocks are 32x8 threads. */
template <typename T>
__device__ __forceinline__ void transpose_tile(const T *__restrict__ in, T *__restrict__ out, int64_t M, int64_t N)
{
    __shared__ T tile[32][33];
    for (int64_t by = blockIdx.y; by * 32 < M; by += gridDim.y)
        for (int64_t bx = blockIdx.x; bx * 32 < N; bx += gridDim.x) {
            const int64_t i0 = by * 32, j0 = bx * 32;
            const bool whole = i0 + 32 <= M && j0 + 32 <= N;
            T v[4];
            /* All four loads in flight before the first store. */
#pragma unroll
            for (int t = 0; t < 4; t++) {
                int r = threadIdx.y + 8 * t;
                int64_t i = i0 + r, j = j0 + threadIdx.x;
                if (whole || (i < M && j < N)) v[t] = in[i * N + j];
            }
#pragma unroll
            for (int t = 0; t < 4; t++) tile[threadIdx.y + 8 * t][threadIdx.x] = v[t];
            __syncthreads();
#pragma unroll
            for (int t = 0; t < 4; t++) {
                int r = threadIdx.y + 8 * t;
                int64_t j = j0 + r, i = i0 + threadIdx.x;
                if (whole || (i < M && j < N)) out[j * M + i] = tile[threadIdx.x][r];
            }
            __syncthreads();
        }
}

extern "C" __global__ void adead_transpose4(const unsigned *in, unsigned *out, int64_t M, int64_t N)
{
    transpose_tile<unsigned>(in, out, M, N);
}

extern "C" __global__ void adead_transpose8(const unsigned long long *in, unsigned long long *out, int64_t M, int64_t N)
{
    transpose_tile<unsigned long long>(in, out, M, N);
}

/* A run of elementwise ops fused into one pass (docs/cuda.md): out[r][c] = the chain's steps
 * applied to base[r][c] in order; rows along the grid's y, columns along threads. out may be base
 * (each element is read before it is written, by one thread); no other operand is out. */
extern "C" __global__ void adead_fused_elementwise(const float *base, float *out, int64_t rows, int64_t cols,
                                                   fuse_chain ch, int vec)
{
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        int64_t step = (int64_t)gridDim.x * blockDim.x, c0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
        if (vec) { /* cols % 4 == 0 and every pointer 16-byte aligned: four columns a thread */
            for (int64_t c = c0 * 4; c < cols; c += step * 4) {
                float4 v = *(const float4 *)&base[r * cols + c];
                v.x = fuse_apply(ch, v.x, r, c, cols);
                v.y = fuse_apply(ch, v.y, r, c + 1, cols);
                v.z = fuse_apply(ch, v.z, r, c + 2, cols);
                v.w = fuse_apply(ch, v.w, r, c + 3, cols);
                *(float4 *)&out[r * cols + c] = v;
            }
        } else {
            for (int64_t c = c0; c < cols; c += step) out[r * cols + c] = fuse_apply(ch, base[r * cols + c], r, c, cols);
        }
    }
}
