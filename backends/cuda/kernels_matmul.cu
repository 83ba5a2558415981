/* MATMUL: c[i][j] = the fma chain over k = 0..K-1 from +0.0 (docs/ops.md 3), on CUDA cores.
 *
 * Tiled kernels (adead_matmul_<BM>x<BN>x<BK>): a block computes a BM x BN tile of C with 256
 * threads, each a TM x TN register block; k is walked in steps of BK through a STAGES-deep ring
 * of shared-memory tiles filled by cp.async, so that later steps load while this one computes.
 * Every c[i][j] stays in one thread's register from k = 0 to K-1 and is fed in increasing k:
 * the chain of the definition, whatever the tiling. No split-K (partial sums: other bits).
 *
 * The skinny kernel (adead_matmul_skinny) is for outputs too small to give every SM a tile
 * (64 x 64 with K = 8192): without split-K each c[i][j] is a chain of K dependent fmas, so the
 * time is at least K fma latencies, and the kernel is built to stay near that bound: a lane
 * holds two chains and the operands of 64 k steps arrive 8 stages ahead.
 *
 * Edges: rows and columns past M or N are loaded as zeros (cp.async's zero fill) and never
 * stored. The last k step runs only to K: padding k with zeros would change bits (fma(0, x, -0)
 * is +0 where the chain holds -0, and 0 * inf is NaN). Blocks whose tile lies inside M and N
 * skip the row and column tests.
 *
 * A is stored transposed (As[k][m], filled by 4-byte copies) so that a thread reads its TM
 * values of a column with float4 loads; B keeps its layout (Bs[k][n], 16-byte copies when rows
 * are 16-byte aligned). Threads form a 16 x 16 grid; with TM = 8 a thread's rows are two runs
 * of four, 64 apart (and so its columns with TN = 8), so that a warp's float4 reads hit distinct
 * banks or broadcast. */
#include "f32_model.cuh"
#include "fuse.cuh"

#include <stdint.h>

#define THREADS 256
#define GROUP_M 8 /* tiles are walked in groups of 8 block rows: B's columns are reused from L2 */

__device__ __forceinline__ unsigned smem_addr(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }

/* valid = 0: the destination gets zeros and src is not read. */
__device__ __forceinline__ void cp_async4(float *dst, const float *src, bool valid)
{
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(valid ? 4 : 0));
}

__device__ __forceinline__ void cp_async16(float *dst, const float *src, bool valid)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(valid ? 16 : 0));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

/* Row (or column) of a thread's i-th value within the tile: t is its coordinate in the 16 x 16
 * thread grid. */
template <int T>
__device__ __forceinline__ int lane_index(int t, int i)
{
    return T >= 4 ? (i >> 2) * 64 + t * 4 + (i & 3) : t * T + i;
}

template <int T>
__device__ __forceinline__ void load_frag(float *f, const float *row, int t)
{
    if (T >= 4) {
#pragma unroll
        for (int g = 0; g < T / 4; g++) {
            float4 v = *(const float4 *)(row + g * 64 + t * 4);
            f[g * 4 + 0] = v.x;
            f[g * 4 + 1] = v.y;
            f[g * 4 + 2] = v.z;
            f[g * 4 + 3] = v.w;
        }
    } else {
#pragma unroll
        for (int i = 0; i < T; i++) f[i] = row[t * T + i];
    }
}

/* What a thread copies of each k step: its A elements (column ak, rows arow + r * AROWS) and its
 * B elements or float4s (row bk + r * BROWS, column bn), as pointers advanced by BK per step. */
template <int BM, int BN, int BK, bool VEC>
struct tile_loader {
    static constexpr int A_N = BM * BK / THREADS, AROWS = THREADS / BK;
    static constexpr int BW = VEC ? 4 : 1; /* floats per B copy */
    static constexpr int B_TOTAL = BK * BN / BW; /* copies per step: fewer than threads for 32 x 32 */
    static constexpr int B_N = B_TOTAL >= THREADS ? B_TOTAL / THREADS : 1, BROWS = THREADS * BW / BN;
    const float *a, *b;
    int64_t a_step, b_step, n; /* AROWS rows of A, BROWS rows of B; N */
    int ak, bk;
    unsigned a_rows_ok, b_col_ok; /* bit r: row r of A inside M; B's column inside N */

    __device__ __forceinline__ tile_loader(const float *A, const float *B, int64_t M, int64_t K, int64_t N, int64_t m0,
                                           int64_t n0)
    {
        const int tid = threadIdx.x;
        ak = tid % BK;
        int arow = tid / BK;
        a = A + (m0 + arow) * K + ak;
        a_step = (int64_t)AROWS * K;
        a_rows_ok = 0;
#pragma unroll
        for (int r = 0; r < A_N; r++) a_rows_ok |= (unsigned)(m0 + arow + r * AROWS < M) << r;
        int bn = tid % (BN / BW) * BW;
        bk = tid / (BN / BW);
        b = B + (int64_t)bk * N + n0 + bn;
        b_step = (int64_t)BROWS * N;
        n = N;
        b_col_ok = n0 + bn < N; /* VEC: N % 4 == 0, so all four or none */
        if (!(a_rows_ok & 1)) a = A; /* never read; keeps the pointer inside the tensor */
        if (!b_col_ok) b = B;
    }

    /* Step kt into stage (As, Bs). full: the step lies inside K (no k test). */
    __device__ __forceinline__ void load(float (*As)[BM + 4], float (*Bs)[BN], int64_t k0, int64_t K, bool full,
                                         const float *A, const float *B) const
    {
        const int tid = threadIdx.x, arow = tid / BK;
        bool ak_ok = full || k0 + ak < K;
#pragma unroll
        for (int r = 0; r < A_N; r++) {
            bool ok = ak_ok && ((a_rows_ok >> r) & 1);
            cp_async4(&As[ak][arow + r * AROWS], ok ? a + r * a_step + k0 : A, ok);
        }
        const int bn = tid % (BN / BW) * BW;
        if (B_TOTAL < THREADS && bk >= BK) return; /* a thread with no B copy */
#pragma unroll
        for (int r = 0; r < B_N; r++) {
            bool ok = b_col_ok && (full || k0 + bk + r * BROWS < K);
            const float *src = ok ? b + r * b_step + k0 * n : B;
            if (VEC) cp_async16(&Bs[bk + r * BROWS][bn], src, ok);
            else cp_async4(&Bs[bk + r * BROWS][bn], src, ok);
        }
    }
};

template <int BM, int BN, int BK, int TM, int TN, int STAGES, bool VEC>
__device__ __forceinline__ void matmul_tile(const float *__restrict__ A, const float *__restrict__ B, float *__restrict__ C,
                                            int64_t M, int64_t K, int64_t N, const fuse_chain &ep)
{
    static_assert(BM == 16 * TM && BN == 16 * TN, "a 16 x 16 thread grid covers the tile");
    extern __shared__ __align__(16) float smem[];
    typedef float ATile[BK][BM + 4];
    typedef float BTile[BK][BN];
    ATile *As = (ATile *)smem;
    BTile *Bs = (BTile *)(smem + STAGES * BK * (BM + 4));

    /* Tile coordinates: groups of GROUP_M block rows, column-major inside a group. */
    const int64_t tiles_m = (M + BM - 1) / BM, tiles_n = (N + BN - 1) / BN;
    const int64_t tile = blockIdx.x, per_group = GROUP_M * tiles_n;
    const int64_t first_m = tile / per_group * GROUP_M;
    const int64_t group_rows = tiles_m - first_m < GROUP_M ? tiles_m - first_m : GROUP_M;
    const int64_t in_group = tile % per_group;
    const int64_t m0 = (first_m + in_group % group_rows) * BM, n0 = in_group / group_rows * BN;

    const tile_loader<BM, BN, BK, VEC> ld(A, B, M, K, N, m0, n0);
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.0f;

    const int64_t KT = (K + BK - 1) / BK;
#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if (s < KT) ld.load(As[s], Bs[s], (int64_t)s * BK, K, (int64_t)(s + 1) * BK <= K, A, B);
        cp_async_commit();
    }
    for (int64_t kt = 0; kt < KT; kt++) {
        cp_async_wait<STAGES - 2>();
        __syncthreads(); /* step kt is in; every thread is done with the stage refilled next */
        int64_t next = kt + STAGES - 1;
        if (next < KT) ld.load(As[next % STAGES], Bs[next % STAGES], next * BK, K, (next + 1) * BK <= K, A, B);
        cp_async_commit();

        const int st = (int)(kt % STAGES);
        const int64_t left = K - kt * BK;
        float a[TM], b[TN];
        if (left >= BK) {
#pragma unroll
            for (int k = 0; k < BK; k++) {
                load_frag<TM>(a, As[st][k], ty);
                load_frag<TN>(b, Bs[st][k], tx);
#pragma unroll
                for (int i = 0; i < TM; i++)
#pragma unroll
                    for (int j = 0; j < TN; j++) acc[i][j] = m_fma(a[i], b[j], acc[i][j]);
            }
        } else {
            for (int k = 0; k < (int)left; k++) {
                load_frag<TM>(a, As[st][k], ty);
                load_frag<TN>(b, Bs[st][k], tx);
#pragma unroll
                for (int i = 0; i < TM; i++)
#pragma unroll
                    for (int j = 0; j < TN; j++) acc[i][j] = m_fma(a[i], b[j], acc[i][j]);
            }
        }
    }
    cp_async_wait<0>();

    /* The epilogue: canonical results, then the fused steps (ep.n is 0 unless a queue fused). */
#pragma unroll
    for (int i = 0; i < TM; i++) {
        int64_t r = m0 + lane_index<TM>(ty, i);
        if (r >= M) continue;
        float *crow = C + r * N;
#pragma unroll
        for (int j = 0; j < TN; j++) {
            acc[i][j] = m_canon(acc[i][j]);
            if (ep.n) acc[i][j] = fuse_apply(ep, acc[i][j], r, n0 + lane_index<TN>(tx, j), N);
        }
        if (VEC && TN >= 4) {
#pragma unroll
            for (int g = 0; g < TN / 4; g++) {
                int64_t c = n0 + g * 64 + tx * 4;
                if (c < N)
                    *(float4 *)(crow + c) = make_float4(acc[i][g * 4], acc[i][g * 4 + 1], acc[i][g * 4 + 2], acc[i][g * 4 + 3]);
            }
        } else {
#pragma unroll
            for (int j = 0; j < TN; j++) {
                int64_t c = n0 + lane_index<TN>(tx, j);
                if (c < N) crow[c] = acc[i][j];
            }
        }
    }
}

/* One entry per tile shape and access width: adead_matmul_<BM>x<BN>x<BK>[_vec], dynamic shared
 * memory STAGES * BK * (BM + 4 + BN) floats (the host's matmul_shared). _vec needs N % 4 == 0
 * and B and C 16-byte aligned. The grid is 1-D: one block per tile. */
#define MATMUL_ENTRY(BM, BN, BK, TM, TN, STAGES, MINB)                                                              \
    extern "C" __global__ void __launch_bounds__(THREADS, MINB) adead_matmul_##BM##x##BN##x##BK(                   \
        const float *A, const float *B, float *C, int64_t M, int64_t K, int64_t N, fuse_chain ep)                  \
    {                                                                                                              \
        matmul_tile<BM, BN, BK, TM, TN, STAGES, false>(A, B, C, M, K, N, ep);                                      \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(THREADS, MINB) adead_matmul_##BM##x##BN##x##BK##_vec(            \
        const float *A, const float *B, float *C, int64_t M, int64_t K, int64_t N, fuse_chain ep)                  \
    {                                                                                                              \
        matmul_tile<BM, BN, BK, TM, TN, STAGES, true>(A, B, C, M, K, N, ep);                                       \
    }

MATMUL_ENTRY(256, 128, 8, 16, 8, 4, 1)
MATMUL_ENTRY(128, 256, 8, 8, 16, 4, 1)
MATMUL_ENTRY(128, 128, 8, 8, 8, 4, 2)
MATMUL_ENTRY(128, 128, 16, 8, 8, 3, 2)
MATMUL_ENTRY(128, 128, 32, 8, 8, 3, 2)
MATMUL_ENTRY(128, 64, 16, 8, 4, 3, 2)
MATMUL_ENTRY(64, 64, 16, 4, 4, 4, 3)
MATMUL_ENTRY(32, 32, 16, 2, 2, 4, 4)

/* ---- the skinny kernel ---- */
/* A block: 8 rows x 32 columns of C, 4 warps of 2 rows, a lane a column and so two chains; the
 * block's warps share each stage of A and B. (Measured on the H200: one warp of 2 rows per
 * block ran 64 x 64 x 8192 at 0.70 TFLOP/s against 0.81 here, and small squares at half.) */
#define SK_ROWS 8
#define SK_BK 64
#define SK_STAGES 8

template <bool VEC>
__device__ __forceinline__ void skinny(const float *__restrict__ A, const float *__restrict__ B, float *__restrict__ C,
                                       int64_t M, int64_t K, int64_t N, const fuse_chain &ep)
{
    extern __shared__ __align__(16) float smem[];
    typedef float ATile[SK_ROWS][SK_BK + 4];
    typedef float BTile[SK_BK][32];
    ATile *As = (ATile *)smem;
    BTile *Bs = (BTile *)(smem + SK_STAGES * SK_ROWS * (SK_BK + 4));
    const int64_t col_groups = (N + 31) / 32;
    const int64_t m0 = blockIdx.x / col_groups * SK_ROWS, n0 = blockIdx.x % col_groups * 32;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t KT = (K + SK_BK - 1) / SK_BK;

    auto load = [&](int st, int64_t k0) {
        if (VEC) {
            /* A: 8 rows x 64 = 128 float4s, one per thread; B: 64 rows x 8 float4s, four each. */
            int r = tid / 16, c = tid % 16 * 4;
            bool ok = m0 + r < M && k0 + c < K; /* K % 4 == 0: all four or none */
            cp_async16(&As[st][r][c], ok ? A + (m0 + r) * K + k0 + c : A, ok);
#pragma unroll
            for (int q = 0; q < 4; q++) {
                int e = tid + q * 128, kr = e / 8, cc = e % 8 * 4;
                bool okb = k0 + kr < K && n0 + cc < N;
                cp_async16(&Bs[st][kr][cc], okb ? B + (k0 + kr) * N + n0 + cc : B, okb);
            }
        } else {
#pragma unroll
            for (int q = 0; q < 4; q++) {
                int e = tid + q * 128, r = e / SK_BK, c = e % SK_BK;
                bool ok = m0 + r < M && k0 + c < K;
                cp_async4(&As[st][r][c], ok ? A + (m0 + r) * K + k0 + c : A, ok);
            }
#pragma unroll
            for (int q = 0; q < 16; q++) {
                int e = tid + q * 128, kr = e / 32, cc = e % 32;
                bool okb = k0 + kr < K && n0 + cc < N;
                cp_async4(&Bs[st][kr][cc], okb ? B + (k0 + kr) * N + n0 + cc : B, okb);
            }
        }
    };

#pragma unroll
    for (int s = 0; s < SK_STAGES - 1; s++) {
        if (s < KT) load(s, (int64_t)s * SK_BK);
        cp_async_commit();
    }
    float acc0 = 0.0f, acc1 = 0.0f;
    const int r0 = warp * 2;
    for (int64_t kt = 0; kt < KT; kt++) {
        cp_async_wait<SK_STAGES - 2>();
        __syncthreads();
        int64_t next = kt + SK_STAGES - 1;
        if (next < KT) load((int)(next % SK_STAGES), next * SK_BK);
        cp_async_commit();
        const int st = (int)(kt % SK_STAGES);
        const int64_t left = K - kt * SK_BK;
        if (left >= SK_BK) {
#pragma unroll
            for (int k = 0; k < SK_BK; k += 4) {
                float4 a0 = *(const float4 *)&As[st][r0][k], a1 = *(const float4 *)&As[st][r0 + 1][k];
                float b0 = Bs[st][k][lane], b1 = Bs[st][k + 1][lane], b2 = Bs[st][k + 2][lane], b3 = Bs[st][k + 3][lane];
                acc0 = m_fma(a0.x, b0, acc0);
                acc1 = m_fma(a1.x, b0, acc1);
                acc0 = m_fma(a0.y, b1, acc0);
                acc1 = m_fma(a1.y, b1, acc1);
                acc0 = m_fma(a0.z, b2, acc0);
                acc1 = m_fma(a1.z, b2, acc1);
                acc0 = m_fma(a0.w, b3, acc0);
                acc1 = m_fma(a1.w, b3, acc1);
            }
        } else {
            for (int k = 0; k < (int)left; k++) {
                float b = Bs[st][k][lane];
                acc0 = m_fma(As[st][r0][k], b, acc0);
                acc1 = m_fma(As[st][r0 + 1][k], b, acc1);
            }
        }
    }
    cp_async_wait<0>();
    int64_t j = n0 + lane;
    if (j < N) {
        int64_t r = m0 + r0;
        acc0 = m_canon(acc0);
        acc1 = m_canon(acc1);
        if (ep.n) {
            acc0 = fuse_apply(ep, acc0, r, j, N);
            acc1 = fuse_apply(ep, acc1, r + 1, j, N);
        }
        if (r < M) C[r * N + j] = acc0;
        if (r + 1 < M) C[(r + 1) * N + j] = acc1;
    }
}

/* _vec needs K % 4 == 0, N % 4 == 0 and A and B 16-byte aligned. 128 threads; one block per
 * 8 x 32 piece of C, numbered along N first. */
extern "C" __global__ void __launch_bounds__(128) adead_matmul_skinny(const float *A, const float *B, float *C, int64_t M,
                                                                      int64_t K, int64_t N, fuse_chain ep)
{
    skinny<false>(A, B, C, M, K, N, ep);
}

extern "C" __global__ void __launch_bounds__(128) adead_matmul_skinny_vec(const float *A, const float *B, float *C,
                                                                          int64_t M, int64_t K, int64_t N, fuse_chain ep)
{
    skinny<true>(A, B, C, M, K, N, ep);
}
