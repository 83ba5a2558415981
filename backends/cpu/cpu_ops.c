/* Drivers of the row and elementwise ops: cut the work into items of a fixed size for the
 * pool and call the level's kernels. Each element's (or row's) computation is fixed by
 * docs/ops.md, so how the items fall over threads never changes a bit. */
#include "../../isa/bib.h"
#include "../../isa/isa.h"
#include "cpu_exec.h"
#include "ref_ops.h"

#include <stdio.h>
#include <string.h>

#define ITEM_ELEMENTS (1 << 16) /* about this much work per pool item */
#define LONG_ROWS_ITEM 8         /* SOFTMAX: the fewest rows per item past SOFTMAX_TMP_ROW */

/* ---- SOFTMAX: whole rows per item ---- */
typedef struct {
    const cpu_kernels *k;
    const float *in;
    float *out;
    int64_t rows, n, per_item;
    float **tmp; /* SOFTMAX: per worker scratch for two rows, or NULL */
    int stream;  /* SOFTMAX: write around the caches */
} rows_job;

static void softmax_item(void *arg, int64_t item, int worker)
{
    rows_job *j = arg;
    int64_t r0 = item * j->per_item, r = j->rows - r0 < j->per_item ? j->rows - r0 : j->per_item;
    j->k->softmax_rows(j->in + r0 * j->n, j->out + r0 * j->n, r, j->n, j->tmp ? j->tmp[worker] : NULL, j->stream);
}

int cpu_softmax(cpu_exec *ce, const exec_op *op, char *err, size_t errlen)
{
    const exec_tensor *a = &op->in[0];
    int64_t n = a->dims[a->rank - 1];
    rows_job j = {ce->k, a->data, op->out.data, a->count / n, n, 0, NULL, 0};
    j.per_item = n >= ITEM_ELEMENTS ? 1 : ITEM_ELEMENTS / n;
    /* An output that cannot stay in the caches beside its input goes around them. */
    int stream = (uint64_t)a->count * 2 * sizeof(float) >= ce->stream_bytes;
    /* Scratch for two rows of exps: always for short rows; for long ones only when the output
     * streams (in cache, keeping the exps in y is faster there: kernels.h). */
    if (n <= SOFTMAX_TMP_ROW || (stream && n <= SOFTMAX_LONG_ROW)) {
        if (cpu_scratch(ce, 0, 2 * (n > SOFTMAX_TMP_ROW ? n : SOFTMAX_TMP_ROW))) {
            snprintf(err, errlen, "out of host memory for SOFTMAX scratch");
            return -1;
        }
        j.tmp = ce->wbuf;
        j.stream = stream;
        /* Long rows overlap each row's stores with the next row's work: more rows per item. */
        if (n > SOFTMAX_TMP_ROW && j.per_item < LONG_ROWS_ITEM) j.per_item = LONG_ROWS_ITEM;
    }
    cpu_parallel(ce, div_up(j.rows, j.per_item), softmax_item, &j);
    return 0;
}

/* ---- RELU: runs of RELU_ITEM (a quarter of the usual item: RELU does so little per element
 * that a 64K-element op is 2 us, which should still spread over the threads) ---- */
#define RELU_ITEM (ITEM_ELEMENTS / 4)
static void relu_item(void *arg, int64_t item, int worker)
{
    (void)worker;
    rows_job *j = arg; /* one "row" of all elements: n = count */
    int64_t i0 = item * RELU_ITEM, len = j->n - i0 < RELU_ITEM ? j->n - i0 : RELU_ITEM;
    j->k->relu(j->in + i0, j->out + i0, len);
}

int cpu_relu(cpu_exec *ce, const exec_op *op, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    rows_job j = {ce->k, op->in[0].data, op->out.data, 1, op->in[0].count, 0, NULL, 0};
    cpu_parallel(ce, div_up(j.n, RELU_ITEM), relu_item, &j);
    return 0;
}

/* ---- TADD/TSUB/TMUL: broadcasting as runs. Axes are merged where both operands step
 * through memory the same way, so the innermost run is as long as possible; a run reads each
 * operand contiguously (stride 1) or repeats one element (stride 0). ---- */
typedef struct {
    const cpu_kernels *k;
    int kop;
    const float *a, *b;
    float *out;
    int axes;                   /* outer axes, after merging (0..3) */
    int64_t dims[4], as[4], bs[4]; /* outer sizes and strides */
    int64_t n, sa, sb;          /* the run */
    int64_t runs, per_item;
} bcast_job;

static void bcast_item(void *arg, int64_t item, int worker)
{
    (void)worker;
    bcast_job *j = arg;
    int64_t r0 = item * j->per_item, r1 = r0 + j->per_item < j->runs ? r0 + j->per_item : j->runs;
    for (int64_t r = r0; r < r1; r++) {
        int64_t rest = r, ao = 0, bo = 0;
        for (int x = j->axes - 1; x >= 0; x--) {
            int64_t idx = rest % j->dims[x];
            rest /= j->dims[x];
            ao += idx * j->as[x];
            bo += idx * j->bs[x];
        }
        j->k->binary(j->kop, j->a + ao, j->sa, j->b + bo, j->sb, j->out + r * j->n, j->n);
    }
}

static void right_align(const exec_tensor *t, int64_t *d)
{
    for (int i = 0; i < 4; i++) d[i] = 1;
    for (int i = 0; i < t->rank; i++) d[4 - t->rank + i] = t->dims[i];
}

int cpu_elementwise(cpu_exec *ce, const exec_op *op, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    int64_t ad[4], bd[4], od[4];
    right_align(&op->in[0], ad);
    right_align(&op->in[1], bd);
    right_align(&op->out, od);
    /* Axes of size > 1, outermost first, with each operand's element stride (0: broadcast). */
    int64_t dims[4], as[4], bs[4], sa = 1, sb = 1;
    int n = 0;
    int64_t tmp_d[4], tmp_a[4], tmp_b[4];
    for (int i = 3; i >= 0; i--) {
        if (od[i] == 1) continue;
        tmp_d[n] = od[i];
        tmp_a[n] = ad[i] == 1 ? 0 : sa;
        tmp_b[n] = bd[i] == 1 ? 0 : sb;
        sa *= ad[i];
        sb *= bd[i];
        n++;
    }
    /* tmp_* is innermost first; merge an outer axis into the inner one when it continues it. */
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m && tmp_a[i] == as[m - 1] * dims[m - 1] && tmp_b[i] == bs[m - 1] * dims[m - 1]) {
            dims[m - 1] *= tmp_d[i];
            continue;
        }
        dims[m] = tmp_d[i];
        as[m] = tmp_a[i];
        bs[m] = tmp_b[i];
        m++;
    }
    bcast_job j;
    memset(&j, 0, sizeof j);
    j.k = ce->k;
    j.kop = op->kernel == OP_TADD ? KOP_ADD : op->kernel == OP_TSUB ? KOP_SUB : KOP_MUL;
    j.a = op->in[0].data;
    j.b = op->in[1].data;
    j.out = op->out.data;
    if (m == 0) { /* a single element */
        j.n = 1;
        j.sa = j.sb = 1;
    } else {
        j.n = dims[0];
        j.sa = as[0];
        j.sb = bs[0];
        j.axes = m - 1;
        for (int x = 0; x < j.axes; x++) { /* outermost first */
            j.dims[x] = dims[m - 1 - x];
            j.as[x] = as[m - 1 - x];
            j.bs[x] = bs[m - 1 - x];
        }
    }
    j.runs = op->out.count / j.n;
    j.per_item = j.n >= ITEM_ELEMENTS ? 1 : ITEM_ELEMENTS / j.n;
    cpu_parallel(ce, div_up(j.runs, j.per_item), bcast_item, &j);
    return 0;
}

/* ---- TRANSPOSE: items of TT source rows; inside, the level's register tiles where whole,
 * element moves at the edges and for 8-byte elements ---- */
#define TT 64
typedef struct {
    const cpu_kernels *k;
    const void *in;
    void *out;
    int64_t M, N;
    int es;
} tr_job;

#define TRANSPOSE_RANGE(T, I0, I1, C0, C1)                                                                             \
    do {                                                                                                               \
        const T *src = j->in;                                                                                          \
        T *dst = j->out;                                                                                               \
        for (int64_t i = (I0); i < (I1); i++)                                                                          \
            for (int64_t c = (C0); c < (C1); c++) dst[c * j->M + i] = src[i * j->N + c];                               \
    } while (0)

static void transpose_item(void *arg, int64_t item, int worker)
{
    (void)worker;
    tr_job *j = arg;
    int64_t i0 = item * TT, i1 = i0 + TT < j->M ? i0 + TT : j->M;
    int t = j->k->tile;
    if (j->es == 8 || !t) {
        for (int64_t cb = 0; cb < j->N; cb += 16) /* 16 x 64 blocks keep both sides in L1 */
            if (j->es == 8)
                TRANSPOSE_RANGE(uint64_t, i0, i1, cb, cb + 16 < j->N ? cb + 16 : j->N);
            else
                TRANSPOSE_RANGE(uint32_t, i0, i1, cb, cb + 16 < j->N ? cb + 16 : j->N);
        return;
    }
    int64_t ifull = i0 + (i1 - i0) / t * t, cfull = j->N / t * t;
    const float *src = j->in;
    float *dst = j->out;
    for (int64_t c = 0; c < cfull; c += t)
        for (int64_t i = i0; i < ifull; i += t) j->k->transpose_tile32(src + i * j->N + c, j->N, dst + c * j->M + i, j->M);
    TRANSPOSE_RANGE(uint32_t, ifull, i1, 0, j->N);   /* rows past the last whole tile */
    TRANSPOSE_RANGE(uint32_t, i0, ifull, cfull, j->N); /* columns past the last whole tile */
}

int cpu_transpose(cpu_exec *ce, const exec_op *op, char *err, size_t errlen)
{
    tr_job j = {ce->k, op->in[0].data, op->out.data, op->in[0].dims[0], op->in[0].dims[1], 0};
    j.es = op->in[0].dtype == BIB_DT_I64 ? 8 : 4;
    if (op->in[0].dtype != BIB_DT_I64 && op->in[0].dtype != BIB_DT_I32 && op->in[0].dtype != BIB_DT_F32) {
        snprintf(err, errlen, "TRANSPOSE: unsupported dtype %u", op->in[0].dtype);
        return -1;
    }
    cpu_parallel(ce, div_up(j.M, TT), transpose_item, &j);
    return 0;
}

/* ---- ATTENTION: items are (slice, ATTN_ROWS query rows) ---- */
typedef struct {
    cpu_exec *ce;
    attn_shape s;
    const float *q, *k, *v;
    float *o;
    int64_t row_items;
} attn_job;

/* K and V are NULL when sk or dv is 0: pointer arithmetic on NULL is undefined even by 0 */
static const float *head_at(const float *base, int64_t off)
{
    return off ? base + off : base;
}

static void attention_item(void *arg, int64_t item, int worker)
{
    attn_job *j = arg;
    int64_t h = item / j->row_items, r0 = (item % j->row_items) * ATTN_ROWS;
    int64_t r1 = r0 + ATTN_ROWS < j->s.sq ? r0 + ATTN_ROWS : j->s.sq;
    const attn_shape *s = &j->s;
    j->ce->k->attention_rows(s, head_at(j->q, h * s->sq * s->d), head_at(j->k, h * s->sk * s->d),
                             head_at(j->v, h * s->sk * s->dv), j->o + h * s->sq * s->dv, r0, r1, j->ce->wbuf[worker]);
}

int cpu_attention(cpu_exec *ce, const exec_op *op, char *err, size_t errlen)
{
    const exec_tensor *q = &op->in[0], *k = &op->in[1], *v = &op->in[2];
    int r = q->rank;
    attn_job j;
    memset(&j, 0, sizeof j);
    j.ce = ce;
    j.s.sq = q->dims[r - 2];
    j.s.d = q->dims[r - 1];
    j.s.sk = k->dims[r - 2];
    j.s.dv = v->dims[r - 1];
    j.s.causal = op->kernel == OP_ATTENTION_CAUSAL;
    j.s.scale = ref_attention_scale(j.s.d);
    j.q = q->data;
    j.k = k->data;
    j.v = v->data;
    j.o = op->out.data;
    int64_t slices = op->out.count / (j.s.sq * j.s.dv);
    j.row_items = div_up(j.s.sq, ATTN_ROWS);
    if (cpu_scratch(ce, 0, (size_t)attn_scratch_floats(&j.s))) {
        snprintf(err, errlen, "out of host memory for ATTENTION scratch (d = %lld)", (long long)j.s.d);
        return -1;
    }
    cpu_parallel(ce, slices * j.row_items, attention_item, &j);
    return 0;
}
