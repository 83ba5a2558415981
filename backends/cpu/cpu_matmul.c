/* MATMUL driver: a cache-blocked GEMM (B blocks of KC x NC packed in panels of nr columns; A
 * read in place, MC rows x KC at a time, mr rows per micro-tile; a register-tiled micro-kernel).
 * Blocking over k is exact here: a block continues each c[i][j]'s fma chain where the previous
 * one stopped, in k order, so any blocking and any split over threads gives the reference. */
#include "cpu_exec.h"
#include "ref_ops.h"

#include <stdio.h>
#include <string.h>

/* Measured on the 2-core Zen 5 EPYC (bench/RESULTS.md): a long k block (fewer passes over C)
 * matters most; MC and NC are flat within noise around these values. */
#define KC 512
#define MC_ROWS 96 /* rounded to a multiple of mr */
#define NC 1024

typedef struct {
    cpu_exec *ce;
    const float *a, *b;
    float *c;
    int64_t M, K, N;
    int64_t jc, nc, pc, kc;
    int first, last;
    int64_t a_panels, m_items, n_panels, n_groups, panels_per_group;
} mm_job;

/* Panels of B [pc, pc+kc) x [jc, jc+nc): panel p holds columns jc + p*nr .. as [kc][nr],
 * zero-padded past N. */
#define PACK_B_PANELS 4
static void pack_b(void *arg, int64_t item, int worker)
{
    (void)worker;
    mm_job *j = arg;
    const int nr = j->ce->k->nr;
    int64_t p0 = item * PACK_B_PANELS, p1 = p0 + PACK_B_PANELS < j->n_panels ? p0 + PACK_B_PANELS : j->n_panels;
    for (int64_t p = p0; p < p1; p++) {
        float *dst = j->ce->bpack + p * j->kc * nr;
        int64_t col = j->jc + p * nr, w = j->N - col < nr ? j->N - col : nr;
        const float *src = j->b + j->pc * j->N + col;
        for (int64_t k = 0; k < j->kc; k++, dst += nr, src += j->N) {
            memcpy(dst, src, (size_t)w * sizeof(float));
            for (int64_t x = w; x < nr; x++) dst[x] = 0.0f;
        }
    }
}

/* Rows [r0, r0+rows) of A, columns [pc, pc+kc), as panels of mr rows: [kc][mr], zero-padded. */
static void pack_a(const mm_job *j, int64_t r0, int64_t rows, float *dst)
{
    const int mr = j->ce->k->mr;
    for (int64_t ip = 0; ip < rows; ip += mr, dst += j->kc * mr) {
        int64_t h = rows - ip < mr ? rows - ip : mr;
        for (int64_t i = 0; i < mr; i++) {
            if (i >= h) {
                for (int64_t k = 0; k < j->kc; k++) dst[k * mr + i] = 0.0f;
                continue;
            }
            const float *src = j->a + (r0 + ip + i) * j->K + j->pc;
            for (int64_t k = 0; k < j->kc; k++) dst[k * mr + i] = src[k];
        }
    }
}

static void compute(void *arg, int64_t item, int worker)
{
    mm_job *j = arg;
    const cpu_kernels *k = j->ce->k;
    const int mr = k->mr, nr = k->nr;
    int64_t mi = item / j->n_groups, g = item % j->n_groups;
    /* Row block mi: panels of mr rows [mi*P/m_items, (mi+1)*P/m_items), so the blocks differ
     * by at most one panel. */
    int64_t r0 = mi * j->a_panels / j->m_items * mr, r1 = (mi + 1) * j->a_panels / j->m_items * mr;
    int64_t rows = (r1 < j->M ? r1 : j->M) - r0;
    int64_t p0 = g * j->panels_per_group;
    int64_t p1 = p0 + j->panels_per_group < j->n_panels ? p0 + j->panels_per_group : j->n_panels;
    /* Whole panels of mr rows are read from A in place (row stride K); only a last, short one
     * is packed, zero-padded, so that the micro-kernel never reads past A. */
    float *apack = j->ce->wbuf[worker];
    float *tile = apack + mr * j->kc;
    int64_t full = rows / mr * mr;
    if (full < rows) pack_a(j, r0 + full, rows - full, apack);
    for (int64_t p = p0; p < p1; p++) {
        const float *bp = j->ce->bpack + p * j->kc * nr;
        int64_t col = j->jc + p * nr, w = j->N - col < nr ? j->N - col : nr;
        for (int64_t ip = 0; ip < rows; ip += mr) {
            int64_t h = rows - ip < mr ? rows - ip : mr;
            const float *ap = h == mr ? j->a + (r0 + ip) * j->K + j->pc : apack;
            int64_t ars = h == mr ? j->K : 1, acs = h == mr ? 1 : mr;
            float *c = j->c + (r0 + ip) * j->N + col;
            /* the next tile's rows of C: their misses overlap this tile's work */
            for (int64_t i = 0; i < mr && ip + mr + i < rows; i++)
                for (int64_t x = 0; x < w; x += 16) __builtin_prefetch(c + (mr + i) * j->N + x, 1, 3);
            if (h == mr && w == nr) {
                k->gemm_micro(j->kc, ap, ars, acs, bp, c, j->N, j->first, j->last);
                continue;
            }
            /* Edge tile: through a full-size buffer, copying only what exists. */
            if (!j->first)
                for (int64_t i = 0; i < h; i++) memcpy(tile + i * nr, c + i * j->N, (size_t)w * sizeof(float));
            k->gemm_micro(j->kc, ap, ars, acs, bp, tile, nr, j->first, j->last);
            for (int64_t i = 0; i < h; i++) memcpy(c + i * j->N, tile + i * nr, (size_t)w * sizeof(float));
        }
    }
}

typedef struct {
    const float *a, *b;
    float *c;
    int64_t K, N, rows_per_item, M;
} ref_job;

static void ref_rows(void *arg, int64_t item, int worker)
{
    (void)worker;
    ref_job *j = arg;
    int64_t r0 = item * j->rows_per_item, rows = j->M - r0 < j->rows_per_item ? j->M - r0 : j->rows_per_item;
    ref_matmul(j->a + r0 * j->K, j->b, j->c + r0 * j->N, rows, j->K, j->N);
}

int cpu_matmul(cpu_exec *ce, const exec_op *op, char *err, size_t errlen)
{
    const float *a = op->in[0].data, *b = op->in[1].data;
    float *c = op->out.data;
    int64_t M = op->in[0].dims[0], K = op->in[0].dims[1], N = op->in[1].dims[1];
    if (K == 0) { /* the empty chain: +0.0 everywhere */
        memset(c, 0, (size_t)(M * N) * sizeof(float));
        return 0;
    }
    if (!ce->k->gemm_micro) {
        ref_job rj = {a, b, c, K, N, 0, M};
        int64_t work = M * K * N, items = work < (1 << 16) ? 1 : M < 4 * ce->threads ? M : 4 * ce->threads;
        rj.rows_per_item = div_up(M, items);
        cpu_parallel(ce, div_up(M, rj.rows_per_item), ref_rows, &rj);
        return 0;
    }
    const int mr = ce->k->mr, nr = ce->k->nr, T = ce->threads;
    mm_job j;
    memset(&j, 0, sizeof j);
    j.ce = ce;
    j.a = a;
    j.b = b;
    j.c = c;
    j.M = M;
    j.K = K;
    j.N = N;
    /* Row blocks of at most MC_ROWS, as many as a multiple of the threads (when there is work
     * enough to share) and equal to within one panel of mr rows: with 11 blocks of 96 rows for
     * n = 1024, one of 2 threads sat idle for a block at the end of every pass (0.96x OpenBLAS). */
    j.a_panels = div_up(M, mr);
    j.m_items = div_up(j.a_panels, MC_ROWS / mr);
    if (T > 1 && M * K * N >= (1 << 18)) j.m_items = div_up(j.m_items, T) * T;
    if (j.m_items > j.a_panels) j.m_items = j.a_panels;
    int64_t nc_max = div_up(NC, nr) * nr;
    if (cpu_scratch(ce, (size_t)(KC * nc_max), (size_t)(mr * KC + mr * nr))) {
        snprintf(err, errlen, "out of host memory for MATMUL scratch");
        return -1;
    }
    for (j.jc = 0; j.jc < N; j.jc += nc_max) {
        j.nc = N - j.jc < nc_max ? N - j.jc : nc_max;
        j.n_panels = div_up(j.nc, nr);
        /* Few row blocks for many threads (a short A): also split the columns. */
        j.n_groups = 1;
        if (T > 1 && j.m_items < 2 * T && M * K * N >= (1 << 18)) {
            j.n_groups = div_up(2 * T, j.m_items);
            if (j.n_groups > j.n_panels) j.n_groups = j.n_panels;
        }
        j.panels_per_group = div_up(j.n_panels, j.n_groups);
        j.n_groups = div_up(j.n_panels, j.panels_per_group);
        for (j.pc = 0; j.pc < K; j.pc += KC) {
            j.kc = K - j.pc < KC ? K - j.pc : KC;
            j.first = j.pc == 0;
            j.last = j.pc + j.kc == K;
            cpu_parallel(ce, div_up(j.n_panels, PACK_B_PANELS), pack_b, &j);
            cpu_parallel(ce, j.m_items * j.n_groups, compute, &j);
        }
    }
    return 0;
}
