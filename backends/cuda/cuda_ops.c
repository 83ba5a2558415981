/* Which ops the GPU runs, and how each is launched: kernel, grid and arguments. Shapes arrive
 * checked by the VM; an op here never aliases an input it reads across (the VM runs those on
 * the CPU), while elementwise and row ops may write onto their input. */
#include <stddef.h>
#include <string.h>

#include "../cpu/ref_ops.h" /* ref_attention_scale: the scale is the reference's double formula */
#include "cuda_fuse.h"

#define MAX_BLOCKS_PER_SM 32

static CUdeviceptr dptr(const adead_exec_tensor *t) { return (CUdeviceptr)(uintptr_t)t->ref.buf->impl + t->ref.offset; }

static int dtype_size(uint32_t dt) { return dt == ADEAD_EXEC_I64 ? 8 : 4; }

/* Shared bytes of the attention kernels (kernels_attention.cu's layouts): the warp kernel's
 * K and V blocks, queries, P and table; the tiled kernel's Q^T, K^T, V block, P and table. */
static unsigned attention_shared(int64_t d, int64_t dv) { return (unsigned)((64 * (d | 1) + 64 * dv + 16 * d + 4 * 4 * 64 + 16) * 4); }
static unsigned flash_shared(int64_t d, int64_t dv)
{
    int64_t vs = dv <= 64 ? 64 : 128, kp = d * 64 > 64 * 68 ? d * 64 : 64 * 68; /* K^T, then P in its place */
    return (unsigned)((d * 64 + kp + 64 * vs + 16) * 4);
}
static int use_flash(const cuda_dev *dev, int64_t d, int64_t dv)
{
    return d <= CUDA_ATTN_MAX_D && dv <= 128 && (int64_t)flash_shared(d, dv) <= dev->max_shared_optin - 1024;
}

int cuda_supports_op(const cuda_dev *dev, const adead_exec_op *op)
{
    int f32 = op->out.dtype == ADEAD_EXEC_F32;
    for (uint32_t i = 0; i < op->n_in && i < 3; i++) f32 &= op->in[i].dtype == ADEAD_EXEC_F32;
    switch (op->kernel) {
    case ADEAD_K_TRANSPOSE:
        return op->in[0].rank == 2 && op->in[0].dtype == op->out.dtype;
    case ADEAD_K_MATMUL:
    case ADEAD_K_SOFTMAX:
    case ADEAD_K_RELU:
    case ADEAD_K_TADD:
    case ADEAD_K_TSUB:
    case ADEAD_K_TMUL:
        return f32;
    case ADEAD_K_ATTENTION:
    case ADEAD_K_ATTENTION_CAUSAL: {
        int r = op->in[0].rank;
        int64_t d = op->in[0].dims[r - 1], dv = op->in[2].dims[r - 1];
        return f32 && r >= 2 && d <= CUDA_ATTN_MAX_D && dv <= CUDA_ATTN_MAX_D &&
               ((int64_t)attention_shared(d, dv) <= dev->max_shared_optin - 1024 || use_flash(dev, d, dv));
    }
    default:
        return 0;
    }
}

static CUresult launch(cuda_queue *cq, int fn, unsigned gx, unsigned gy, unsigned bx, unsigned by, unsigned shared,
                       void **args)
{
    cuda_dev *d = cq->d;
    return d->cu->LaunchKernel(d->fn[fn], gx, gy, 1, bx, by, 1, shared, cq->stream, args, NULL);
}

static unsigned grid_1d(const cuda_dev *d, int64_t work, int per_block)
{
    int64_t blocks = (work + per_block - 1) / per_block, cap = (int64_t)d->sm_count * MAX_BLOCKS_PER_SM;
    return (unsigned)(blocks < 1 ? 1 : blocks > cap ? cap : blocks);
}

static CUresult relu(cuda_queue *cq, const adead_exec_op *op)
{
    CUdeviceptr in = dptr(&op->in[0]), out = dptr(&op->out);
    int64_t n = op->out.count;
    int vec = !(in % 16) && !(out % 16);
    void *args[] = {&in, &out, &n, &vec};
    return launch(cq, CUDA_FN_RELU, grid_1d(cq->d, vec ? (n + 3) / 4 : n, 256), 1, 256, 1, 0, args);
}

/* The shapes right-aligned to rank 4 (missing leading axes are 1). */
static void dims4(const adead_exec_tensor *t, int64_t *d)
{
    for (int i = 0; i < 4; i++) d[i] = 1;
    for (int i = 0; i < t->rank; i++) d[4 - t->rank + i] = t->dims[i];
}

struct bcast4 {
    int64_t od[4], as[4], bs[4];
};

static CUresult binary(cuda_queue *cq, const adead_exec_op *op)
{
    int code = op->kernel == ADEAD_K_TADD ? 0 : op->kernel == ADEAD_K_TSUB ? 1 : 2;
    CUdeviceptr a = dptr(&op->in[0]), b = dptr(&op->in[1]), out = dptr(&op->out);
    int64_t n = op->out.count;
    int64_t ad[4], bd[4], od[4];
    dims4(&op->in[0], ad);
    dims4(&op->in[1], bd);
    dims4(&op->out, od);
    int a_full = !memcmp(ad, od, sizeof od), b_full = !memcmp(bd, od, sizeof od);
    if ((a_full || op->in[0].count == 1) && (b_full || op->in[1].count == 1)) {
        int sa = a_full, sb = b_full;
        int vec = !(out % 16) && (!sa || !(a % 16)) && (!sb || !(b % 16));
        void *args[] = {&code, &a, &sa, &b, &sb, &out, &n, &vec};
        return launch(cq, CUDA_FN_BIN_FLAT, grid_1d(cq->d, vec ? (n + 3) / 4 : n, 256), 1, 256, 1, 0, args);
    }
    struct bcast4 g;
    int64_t sa = 1, sb = 1;
    for (int i = 3; i >= 0; i--) {
        g.od[i] = od[i];
        g.as[i] = ad[i] == 1 ? 0 : sa;
        g.bs[i] = bd[i] == 1 ? 0 : sb;
        sa *= ad[i];
        sb *= bd[i];
    }
    /* Each thread takes at least 16 elements of a row: the row's offsets cost two divisions. */
    int64_t rows = od[0] * od[1] * od[2];
    int vec = !(od[3] % 4) && g.as[3] <= 1 && g.bs[3] <= 1 && !(a % 16) && !(b % 16) && !(out % 16);
    int64_t per_row = vec ? od[3] / 4 : od[3];
    int64_t gx = (per_row + 256 * 16 - 1) / (256 * 16);
    unsigned gy = (unsigned)(rows > 65535 ? 65535 : rows);
    void *args[] = {&code, &a, &b, &out, &g, &rows, &vec};
    return launch(cq, CUDA_FN_BIN_BCAST, (unsigned)(gx > 1024 ? 1024 : gx), gy, 256, 1, 0, args);
}

static CUresult transpose(cuda_queue *cq, const adead_exec_op *op)
{
    CUdeviceptr in = dptr(&op->in[0]), out = dptr(&op->out);
    int64_t M = op->in[0].dims[0], N = op->in[0].dims[1];
    int64_t gx = (N + 31) / 32, gy = (M + 31) / 32;
    void *args[] = {&in, &out, &M, &N};
    return launch(cq, dtype_size(op->out.dtype) == 8 ? CUDA_FN_TRANSPOSE8 : CUDA_FN_TRANSPOSE4,
                  (unsigned)(gx > 65535 ? 65535 : gx), (unsigned)(gy > 65535 ? 65535 : gy), 32, 8, 0, args);
}

static int64_t tiles(int64_t M, int64_t N, int bm, int bn) { return ((M + bm - 1) / bm) * ((N + bn - 1) / bn); }

const char *const cuda_tile_names[CUDA_MM__COUNT] = {"auto",       "256x128x8", "128x256x8", "128x128x8",
                                                     "128x128x16", "128x128x32", "128x64x16", "64x64x16",
                                                     "32x32x16",   "skinny"};

/* MATMUL's kernels: the block's piece of C, the kernel (its _vec twin follows it), and the
 * dynamic shared memory (kernels_matmul.cu: STAGES * BK * (BM + 4 + BN) floats; the skinny
 * kernel's 8 stages of 8 x 68 and 64 x 32). */
static const struct {
    int bm, bn, fn;
    unsigned shared;
} mm_kernels[CUDA_MM__COUNT] = {
    {0, 0, 0, 0},
    {256, 128, CUDA_FN_MM_256x128x8, 4 * 8 * (256 + 4 + 128) * 4},
    {128, 256, CUDA_FN_MM_128x256x8, 4 * 8 * (128 + 4 + 256) * 4},
    {128, 128, CUDA_FN_MM_128x128x8, 4 * 8 * (128 + 4 + 128) * 4},
    {128, 128, CUDA_FN_MM_128x128x16, 3 * 16 * (128 + 4 + 128) * 4},
    {128, 128, CUDA_FN_MM_128x128x32, 3 * 32 * (128 + 4 + 128) * 4},
    {128, 64, CUDA_FN_MM_128x64x16, 3 * 16 * (128 + 4 + 64) * 4},
    {64, 64, CUDA_FN_MM_64x64x16, 4 * 16 * (64 + 4 + 64) * 4},
    {32, 32, CUDA_FN_MM_32x32x16, 4 * 16 * (32 + 4 + 32) * 4},
    {8, 32, CUDA_FN_MM_SKINNY, 8 * (8 * 68 + 64 * 32) * 4},
};

/* The largest tile that still gives every SM a block (a wave of big tiles beats two of small
 * ones, a half-empty wave does not); outputs too small for that get the skinny kernel, whose
 * lanes each hold two chains (bench/RESULTS.md has the measurements behind it). */
static cuda_tile choose_tile(const cuda_dev *d, int64_t M, int64_t N)
{
    static const cuda_tile order[] = {CUDA_MM_128x128x32, CUDA_MM_128x64x16, CUDA_MM_64x64x16, CUDA_MM_32x32x16};
    for (int i = 0; i < 4; i++) /* 90%: 128 tiles of 128 x 64 on 132 SMs beat 256 of 64 x 64 */
        if (tiles(M, N, mm_kernels[order[i]].bm, mm_kernels[order[i]].bn) * 10 >= d->sm_count * 9) return order[i];
    return CUDA_MM_SKINNY;
}

CUresult cuda_launch_matmul(cuda_queue *cq, const adead_exec_op *op, const fuse_chain *ep)
{
    CUdeviceptr a = dptr(&op->in[0]), b = dptr(&op->in[1]), c = dptr(&op->out);
    int64_t M = op->in[0].dims[0], K = op->in[0].dims[1], N = op->in[1].dims[1];
    cuda_tile t = cq->tile != CUDA_MM_AUTO ? cq->tile : choose_tile(cq->d, M, N);
    int vec = t == CUDA_MM_SKINNY ? !(N % 4) && !(K % 4) && !(a % 16) && !(b % 16) : !(N % 4) && !(b % 16) && !(c % 16);
    fuse_chain none, *e = (fuse_chain *)ep;
    if (!e) {
        memset(&none, 0, sizeof none);
        e = &none;
    }
    void *args[] = {&a, &b, &c, &M, &K, &N, e};
    return launch(cq, mm_kernels[t].fn + vec, (unsigned)tiles(M, N, mm_kernels[t].bm, mm_kernels[t].bn), 1,
                  t == CUDA_MM_SKINNY ? 128 : 256, 1, mm_kernels[t].shared, args);
}

/* Rows up to this many floats go through shared memory, a block per row. */
static int64_t softmax_block_max(const cuda_dev *d) { return (d->max_shared_optin - 2048) / 4; }

static CUresult softmax(cuda_queue *cq, const adead_exec_op *op)
{
    CUdeviceptr in = dptr(&op->in[0]), out = dptr(&op->out);
    int64_t n = op->out.dims[op->out.rank - 1], rows = op->out.count / n;
    if (n > 1024 && n <= softmax_block_max(cq->d)) {
        int ni = (int)n;
        void *args[] = {&in, &out, &rows, &ni};
        return launch(cq, CUDA_FN_SM_BLOCK, grid_1d(cq->d, rows, 1), 1, 256, 1, (unsigned)(n * 4), args);
    }
    unsigned grid = grid_1d(cq->d, rows, 4);
    if (n > 1024) {
        void *args[] = {&in, &out, &rows, &n};
        return launch(cq, CUDA_FN_SM_LONG, grid, 1, 128, 1, 0, args);
    }
    int ni = (int)n, fn = CUDA_FN_SM_1;
    for (int per_lane = 1; per_lane * 32 < ni; per_lane *= 2) fn++;
    void *args[] = {&in, &out, &rows, &ni};
    return launch(cq, fn, grid, 1, 128, 1, 0, args);
}

struct attn_args {
    CUdeviceptr q, k, v, o;
    int64_t sq, sk, slices;
    int d, dv, causal;
    float scale;
};

static CUresult attention(cuda_queue *cq, const adead_exec_op *op)
{
    const adead_exec_tensor *q = &op->in[0], *k = &op->in[1], *v = &op->in[2];
    int r = q->rank;
    struct attn_args a;
    memset(&a, 0, sizeof a);
    a.q = dptr(q);
    a.k = dptr(k);
    a.v = dptr(v);
    a.o = dptr(&op->out);
    a.sq = q->dims[r - 2];
    a.sk = k->dims[r - 2];
    a.d = (int)q->dims[r - 1];
    a.dv = (int)v->dims[r - 1];
    a.slices = 1;
    for (int i = 0; i < r - 2; i++) a.slices *= q->dims[i];
    a.causal = op->kernel == ADEAD_K_ATTENTION_CAUSAL;
    a.scale = ref_attention_scale(a.d);
    void *args[] = {&a};
    if (use_flash(cq->d, a.d, a.dv) && !cq->attention_warp)
        return launch(cq, a.dv <= 64 ? CUDA_FN_ATT_FLASH_4 : CUDA_FN_ATT_FLASH_8, (unsigned)(a.slices * ((a.sq + 63) / 64)), 1,
                      256, 1, flash_shared(a.d, a.dv), args);
    int fn = a.dv <= 32 ? CUDA_FN_ATT_1 : a.dv <= 64 ? CUDA_FN_ATT_2 : a.dv <= 128 ? CUDA_FN_ATT_4 : CUDA_FN_ATT_8;
    int64_t grid = a.slices * ((a.sq + 15) / 16);
    return launch(cq, fn, (unsigned)grid, 1, 128, 1, attention_shared(a.d, a.dv), args);
}

CUresult cuda_launch(cuda_queue *cq, const adead_exec_op *op)
{
    if (!op->out.count) return CU_OK; /* nothing to write */
    switch (op->kernel) {
    case ADEAD_K_RELU: return relu(cq, op);
    case ADEAD_K_TADD:
    case ADEAD_K_TSUB:
    case ADEAD_K_TMUL: return binary(cq, op);
    case ADEAD_K_TRANSPOSE: return transpose(cq, op);
    case ADEAD_K_MATMUL: return cuda_launch_matmul(cq, op, NULL);
    case ADEAD_K_SOFTMAX: return softmax(cq, op);
    default: return attention(cq, op);
    }
}

CUresult cuda_set_shared_limits(cuda_dev *d)
{
    const cuda_api *cu = d->cu;
    CUresult r = CU_OK;
    for (int t = 1; t < CUDA_MM__COUNT && r == CU_OK; t++)
        for (int v = 0; v < 2 && r == CU_OK; v++)
            r = cu->FuncSetAttribute(d->fn[mm_kernels[t].fn + v], CU_FUNC_ATTR_MAX_DYNAMIC_SHARED, (int)mm_kernels[t].shared);
    /* SOFTMAX's block kernel and ATTENTION take what their shapes need, up to the device's limit. */
    int most = d->max_shared_optin - 1024;
    if (r == CU_OK) r = cu->FuncSetAttribute(d->fn[CUDA_FN_SM_BLOCK], CU_FUNC_ATTR_MAX_DYNAMIC_SHARED, most);
    for (int f = CUDA_FN_ATT_1; f <= CUDA_FN_ATT_FLASH_8 && r == CU_OK; f++)
        r = cu->FuncSetAttribute(d->fn[f], CU_FUNC_ATTR_MAX_DYNAMIC_SHARED, most);
    return r;
}

CUresult cuda_launch_exp_selfcheck(cuda_queue *cq, CUdeviceptr out)
{
    void *args[] = {&out};
    return launch(cq, CUDA_FN_EXP_SELFCHECK, (unsigned)cq->d->sm_count * 8, 1, 256, 1, 0, args);
}

CUresult cuda_launch_fused_elementwise(cuda_queue *cq, CUdeviceptr base, CUdeviceptr out, int64_t rows, int64_t cols,
                                       const fuse_chain *ch)
{
    int vec = !(cols % 4) && !(base % 16) && !(out % 16);
    for (int k = 0; k < ch->n; k++)
        if (ch->s[k].op != FUSE_RELU && ch->s[k].kind != FUSE_SCALAR && ch->s[k].other % 16) vec = 0;
    int64_t per_row = vec ? cols / 4 : cols;
    int64_t gx = (per_row + 256 * 16 - 1) / (256 * 16); /* a thread takes 16 or more elements of a row */
    unsigned gy = (unsigned)(rows > 65535 ? 65535 : rows < 1 ? 1 : rows);
    void *args[] = {&base, &out, &rows, &cols, (void *)ch, &vec};
    return launch(cq, CUDA_FN_FUSED_ELEMENTWISE, (unsigned)(gx > 1024 ? 1024 : gx), gy, 256, 1, 0, args);
}
