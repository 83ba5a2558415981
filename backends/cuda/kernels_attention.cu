/* ATTENTION and ATTENTION_CAUSAL (docs/ops.md 3), one pass in key blocks of 64 as the definition
 * fixes it. Two kernels:
 *
 * adead_attention_flash_<DVT> (D <= 256, Dv <= 128): a block of 256 threads takes 64 query rows
 * of one (batch, head) slice. Per key block, the scores S = Q K^T are a 64 x 64 register-tiled
 * product (a thread: 4 rows x 4 keys, each score one fma chain over d from +0, Q and K held
 * transposed in shared memory for float4 reads), and P V is another (a thread: the same 4 rows x
 * DVT columns of the accumulator, fed p_j V[j][x] in increasing j). A row's 64 slots are held by
 * the 16 lanes that share its rows (lane tx: keys 4tx .. 4tx+3), so the definition's sum-reduce
 * (partial p = add(add(+0, p_p), p_(p+32)), then the tree over w = 16 ... 1) is shuffles among
 * them: p + 32 is lane tx + 8, and the tree's steps are lanes tx + 4, + 2, + 1, then registers.
 *
 * adead_attention_<DVL> (any other D, Dv <= 256): a warp per 4 query rows, lane l scoring keys l
 * and l + 32, the accumulator element x in lane x % 32.
 *
 * Both take the row maxima by the hardware max and the exps by the shortcut m_exp_nonpos
 * (f32_model.cuh says why both keep the bits). */
#include "f32_model.cuh"

#include <stdint.h>

#define KB 64   /* keys per block: the definition's B */
#define WARPS 4
#define ROWS 4  /* query rows per warp */
#define TILE_ROWS (WARPS * ROWS)

struct attn_args {
    const float *q, *k, *v;
    float *o;
    int64_t sq, sk, slices;
    int d, dv, causal;
    float scale;
};

__device__ __forceinline__ int64_t visible_keys(const attn_args &a, int64_t i)
{
    if (!a.causal) return a.sk;
    int64_t n = i + 1 + a.sk - a.sq;
    return n < 0 ? 0 : n > a.sk ? a.sk : n;
}

/* Shared memory: K block [KB][ks] (ks odd: lanes reading one column hit distinct banks), V block
 * [KB][dv], the tile's queries [TILE_ROWS][d], each warp's p [ROWS][KB], the exp table. */
__device__ __forceinline__ float bcast0_max(float v) { return __shfl_sync(0xFFFFFFFFu, warp_fold_max(v), 0); }

template <int DVL>
__device__ __forceinline__ void attention_tile(const attn_args a)
{
    extern __shared__ __align__(16) float smem[];
    const int ks = a.d | 1;
    float *Ks = smem, *Vs = Ks + KB * ks, *Qs = Vs + KB * a.dv, *Ps = Qs + TILE_ROWS * a.d;
    unsigned *tab = (unsigned *)(Ps + WARPS * ROWS * KB);
    exp_table_to_shared(tab);

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t tiles = (a.sq + TILE_ROWS - 1) / TILE_ROWS;
    const int64_t slice = blockIdx.x / tiles, row0 = blockIdx.x % tiles * TILE_ROWS;
    const float *q = a.q + slice * a.sq * a.d, *k = a.k + slice * a.sk * a.d, *v = a.v + slice * a.sk * a.dv;
    float *o = a.o + slice * a.sq * a.dv;
    float *P = Ps + warp * ROWS * KB;

    int64_t rows_here = a.sq - row0 < TILE_ROWS ? a.sq - row0 : TILE_ROWS;
    for (int e = tid; e < rows_here * a.d; e += blockDim.x) Qs[e] = q[row0 * a.d + e];

    int64_t vis[ROWS];
    float m[ROWS], l[ROWS], acc[ROWS][DVL];
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
        int64_t i = row0 + warp * ROWS + r;
        vis[r] = i < a.sq ? visible_keys(a, i) : 0;
        m[r] = __uint_as_float(0xFF800000u);
        l[r] = 0.0f;
#pragma unroll
        for (int t = 0; t < DVL; t++) acc[r][t] = 0.0f;
    }
    /* The block's last row sees the most keys (the causal count grows with i). */
    const int64_t keys = visible_keys(a, row0 + rows_here - 1);

    for (int64_t j0 = 0; j0 < keys; j0 += KB) {
        const int nb = (int)(keys - j0 < KB ? keys - j0 : KB);
        __syncthreads(); /* the previous block's K and V are no longer read */
        for (int e = tid; e < nb * a.d; e += blockDim.x) Ks[e / a.d * ks + e % a.d] = k[j0 * a.d + e];
        for (int e = tid; e < nb * a.dv; e += blockDim.x) Vs[e] = v[j0 * a.dv + e];
        __syncthreads();

        float dot[ROWS][2];
#pragma unroll
        for (int r = 0; r < ROWS; r++) dot[r][0] = dot[r][1] = 0.0f;
        const float *k0 = Ks + lane * ks, *k1 = Ks + (lane + 32) * ks, *qw = Qs + warp * ROWS * a.d;
        for (int x = 0; x < a.d; x++) {
            float ka = k0[x], kb = k1[x];
#pragma unroll
            for (int r = 0; r < ROWS; r++) {
                float qx = qw[r * a.d + x];
                dot[r][0] = m_fma(qx, ka, dot[r][0]);
                dot[r][1] = m_fma(qx, kb, dot[r][1]);
            }
        }

        int nbr[ROWS];
#pragma unroll
        for (int r = 0; r < ROWS; r++) {
            int64_t left = vis[r] - j0;
            nbr[r] = left <= 0 ? 0 : left < KB ? (int)left : KB;
            if (!nbr[r]) continue; /* warp-uniform */
            bool ok0 = lane < nbr[r], ok1 = lane + 32 < nbr[r];
            float s0 = m_mul(dot[r][0], a.scale), s1 = m_mul(dot[r][1], a.scale);
            const float ninf = __uint_as_float(0xFF800000u);
            float mb = bcast0_max(m_max(ok0 ? s0 : ninf, ok1 ? s1 : ninf));
            float mn = m_max(m[r], mb);
            float c = m_exp(m_sub(m[r], mn), tab);
            float p0 = ok0 ? m_exp(m_sub(s0, mn), tab) : 0.0f;
            float p1 = ok1 ? m_exp(m_sub(s1, mn), tab) : 0.0f;
            float sum = __shfl_sync(0xFFFFFFFFu, warp_fold_sum(m_add(m_add(0.0f, p0), p1)), 0);
            l[r] = m_fma(l[r], c, sum);
            P[r * KB + lane] = p0;
            P[r * KB + lane + 32] = p1;
#pragma unroll
            for (int t = 0; t < DVL; t++) acc[r][t] = m_mul(acc[r][t], c);
            m[r] = mn;
        }
        __syncwarp();
        int nw = 0; /* the most keys of this block any of the warp's rows takes */
#pragma unroll
        for (int r = 0; r < ROWS; r++) nw = nbr[r] > nw ? nbr[r] : nw;
        for (int j = 0; j < nw; j++) {
            float vx[DVL];
#pragma unroll
            for (int t = 0; t < DVL; t++) vx[t] = lane + 32 * t < a.dv ? Vs[j * a.dv + lane + 32 * t] : 0.0f;
#pragma unroll
            for (int r = 0; r < ROWS; r++)
                if (j < nbr[r]) {
                    float p = P[r * KB + j];
#pragma unroll
                    for (int t = 0; t < DVL; t++) acc[r][t] = m_fma(p, vx[t], acc[r][t]);
                }
        }
        __syncwarp(); /* P is rewritten by the next block */
    }

#pragma unroll
    for (int r = 0; r < ROWS; r++) {
        int64_t i = row0 + warp * ROWS + r;
        if (i >= a.sq) continue;
        float inv = m_recip(l[r]);
#pragma unroll
        for (int t = 0; t < DVL; t++) {
            int x = lane + 32 * t;
            if (x < a.dv) o[i * a.dv + x] = vis[r] ? m_canon(m_mul(acc[r][t], inv)) : 0.0f;
        }
    }
}

#define ATTENTION_ENTRY(DVL) \
    extern "C" __global__ void __launch_bounds__(32 * WARPS) adead_attention_##DVL(const attn_args a) { attention_tile<DVL>(a); }

ATTENTION_ENTRY(1)
ATTENTION_ENTRY(2)
ATTENTION_ENTRY(4)
ATTENTION_ENTRY(8)

/* ---- the register-tiled kernel ---- */
#define FQ 64      /* query rows per block */
#define PSTRIDE 68 /* a row of P in shared memory: 64 slots, padded so that two rows 4 apart differ in bank */

template <int DVT>
__device__ __forceinline__ void attention_flash(const attn_args a)
{
    constexpr int VS = DVT * 16; /* V's row in shared memory: the accumulator columns a block holds */
    extern __shared__ __align__(16) float smem[];
    /* K^T and then P share their space: P is written once every warp has its scores. */
    const int kp = a.d * KB > FQ * PSTRIDE ? a.d * KB : FQ * PSTRIDE;
    float *Qt = smem;            /* [d][FQ] */
    float *Kt = Qt + a.d * FQ;   /* [d][KB] */
    float *Ps = Kt;              /* [FQ][PSTRIDE] */
    float *Vs = Kt + kp;         /* [KB][VS] */
    unsigned *tab = (unsigned *)(Vs + KB * VS);
    exp_table_shifted_to_shared(tab);

    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16, lane = tid & 31;
    const int64_t tiles = (a.sq + FQ - 1) / FQ;
    const int64_t slice = blockIdx.x / tiles, row0 = blockIdx.x % tiles * FQ;
    const float *q = a.q + slice * a.sq * a.d, *k = a.k + slice * a.sk * a.d, *v = a.v + slice * a.sk * a.dv;
    float *o = a.o + slice * a.sq * a.dv;
    const int d = a.d, dv = a.dv;
    const int rows_here = (int)(a.sq - row0 < FQ ? a.sq - row0 : FQ);
    const bool d4 = !(d % 4) && !((uintptr_t)a.q % 16) && !((uintptr_t)a.k % 16);
    const bool v4 = !(dv % 4) && !((uintptr_t)a.v % 16);
    if (d4) { /* float4 reads along d, written down the columns of Q^T */
        for (int e = tid; e < FQ * d / 4; e += blockDim.x) {
            int i = e % FQ, x = e / FQ * 4;
            float4 t = i < rows_here ? *(const float4 *)&q[(row0 + i) * d + x] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            Qt[x * FQ + i] = t.x;
            Qt[(x + 1) * FQ + i] = t.y;
            Qt[(x + 2) * FQ + i] = t.z;
            Qt[(x + 3) * FQ + i] = t.w;
        }
    } else {
        for (int e = tid; e < FQ * d; e += blockDim.x) {
            int i = e % FQ, x = e / FQ;
            Qt[x * FQ + i] = i < rows_here ? q[(row0 + i) * d + x] : 0.0f;
        }
    }

    int64_t vis[4];
    float m[4], l[4], acc[4][DVT];
#pragma unroll
    for (int r = 0; r < 4; r++) {
        int64_t i = row0 + ty * 4 + r;
        vis[r] = i < a.sq ? visible_keys(a, i) : 0;
        m[r] = __uint_as_float(0xFF800000u);
        l[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < DVT; c++) acc[r][c] = 0.0f;
    }
    const int64_t keys = visible_keys(a, row0 + rows_here - 1); /* the tile's last row sees the most */
    const float ninf = __uint_as_float(0xFF800000u);

    for (int64_t j0 = 0; j0 < keys; j0 += KB) {
        const int nb = (int)(keys - j0 < KB ? keys - j0 : KB);
        __syncthreads(); /* the previous block's K, V and P are no longer read */
        if (d4) {
            for (int e = tid; e < KB * d / 4; e += blockDim.x) {
                int j = e % KB, x = e / KB * 4;
                float4 t = j < nb ? *(const float4 *)&k[(j0 + j) * d + x] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                Kt[x * KB + j] = t.x;
                Kt[(x + 1) * KB + j] = t.y;
                Kt[(x + 2) * KB + j] = t.z;
                Kt[(x + 3) * KB + j] = t.w;
            }
        } else {
            for (int e = tid; e < KB * d; e += blockDim.x) {
                int j = e % KB, x = e / KB;
                Kt[x * KB + j] = j < nb ? k[(j0 + j) * d + x] : 0.0f;
            }
        }
        if (v4) {
            for (int e = tid; e < KB * VS / 4; e += blockDim.x) {
                int j = e / (VS / 4), x = e % (VS / 4) * 4;
                *(float4 *)&Vs[j * VS + x] =
                    j < nb && x < dv ? *(const float4 *)&v[(j0 + j) * dv + x] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            }
        } else {
            for (int e = tid; e < KB * VS; e += blockDim.x) {
                int j = e / VS, x = e % VS;
                Vs[e] = j < nb && x < dv ? v[(j0 + j) * dv + x] : 0.0f;
            }
        }
        __syncthreads();

        float sc[4][4];
#pragma unroll
        for (int r = 0; r < 4; r++)
#pragma unroll
            for (int c = 0; c < 4; c++) sc[r][c] = 0.0f;
#pragma unroll 4
        for (int x = 0; x < d; x++) {
            float4 qv = *(const float4 *)&Qt[x * FQ + ty * 4], kv = *(const float4 *)&Kt[x * KB + tx * 4];
            float qa[4] = {qv.x, qv.y, qv.z, qv.w}, ka[4] = {kv.x, kv.y, kv.z, kv.w};
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int c = 0; c < 4; c++) sc[r][c] = m_fma(qa[r], ka[c], sc[r][c]);
        }

        __syncthreads(); /* every warp has read K^T: P may take its place */
        int nbr[4];
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int64_t left = vis[r] - j0;
            nbr[r] = left <= 0 ? 0 : left < KB ? (int)left : KB;
            float p[4], mb = ninf;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                sc[r][c] = m_mul(sc[r][c], a.scale);
                if (tx * 4 + c < nbr[r]) mb = m_max_hw(mb, sc[r][c]);
            }
            /* Every lane runs the shuffles (no branch around them); rows that see none of this
             * block's keys drop the results. */
#pragma unroll
            for (int w = 1; w < 16; w <<= 1) mb = m_max_hw(mb, __shfl_xor_sync(0xFFFFFFFFu, mb, w));
            float mn = m_max_hw(m[r], mb);
            float cr = m_exp_nonpos(m_sub(m[r], mn), tab);
#pragma unroll
            for (int c = 0; c < 4; c++) p[c] = tx * 4 + c < nbr[r] ? m_exp_nonpos(m_sub(sc[r][c], mn), tab) : 0.0f;
            /* The sum-reduce of the 64 slots, slot j = 4 tx + c. */
            float part[4];
#pragma unroll
            for (int c = 0; c < 4; c++) part[c] = m_add(m_add(0.0f, p[c]), __shfl_xor_sync(0xFFFFFFFFu, p[c], 8));
#pragma unroll
            for (int w = 4; w >= 1; w >>= 1)
#pragma unroll
                for (int c = 0; c < 4; c++) part[c] = m_add(part[c], __shfl_xor_sync(0xFFFFFFFFu, part[c], w));
            part[0] = m_add(part[0], part[2]);
            part[1] = m_add(part[1], part[3]);
            float sum = __shfl_sync(0xFFFFFFFFu, m_add(part[0], part[1]), lane & 16);
            if (nbr[r]) {
                l[r] = m_fma(l[r], cr, sum);
                m[r] = mn;
#pragma unroll
                for (int c = 0; c < DVT; c++) acc[r][c] = m_mul(acc[r][c], cr);
            }
            *(float4 *)&Ps[(ty * 4 + r) * PSTRIDE + tx * 4] = make_float4(p[0], p[1], p[2], p[3]);
        }
        __syncwarp(); /* a row's P is written and read by the 16 lanes of one warp */

        int nw = 0;
#pragma unroll
        for (int r = 0; r < 4; r++) nw = nbr[r] > nw ? nbr[r] : nw;
        const bool whole = nbr[0] == KB && nbr[1] == KB && nbr[2] == KB && nbr[3] == KB;
        for (int j = 0; j < nw; j++) {
            float vx[DVT];
#pragma unroll
            for (int g = 0; g < DVT / 4; g++) {
                float4 t = *(const float4 *)&Vs[j * VS + g * 64 + tx * 4];
                vx[g * 4] = t.x;
                vx[g * 4 + 1] = t.y;
                vx[g * 4 + 2] = t.z;
                vx[g * 4 + 3] = t.w;
            }
#pragma unroll
            for (int r = 0; r < 4; r++) {
                float pj = Ps[(ty * 4 + r) * PSTRIDE + j];
                if (whole || j < nbr[r]) {
#pragma unroll
                    for (int c = 0; c < DVT; c++) acc[r][c] = m_fma(pj, vx[c], acc[r][c]);
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < 4; r++) {
        int64_t i = row0 + ty * 4 + r;
        if (i >= a.sq) continue;
        float inv = m_recip(l[r]);
#pragma unroll
        for (int c = 0; c < DVT; c++) {
            int x = c / 4 * 64 + tx * 4 + c % 4;
            if (x < dv) o[i * dv + x] = vis[r] ? m_canon(m_mul(acc[r][c], inv)) : 0.0f;
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) adead_attention_flash_4(const attn_args a) { attention_flash<4>(a); }
extern "C" __global__ void __launch_bounds__(256) adead_attention_flash_8(const attn_args a) { attention_flash<8>(a); }
