/* The conformance probe (docs/executors.md), shared by the device executors: before a device is
 * called exact, every kernel runs on it through the executor's own queue on inputs chosen to catch
 * a device that differs from the f32 model (subnormals kept, an unfused or double-rounded fma, a
 * flush decided before rounding, a NaN not canonicalised, another reduction order), and its bits
 * are compared with the reference's, compiled into the plugin (isa/f32.c, backends/cpu/ref_ops.c).
 * It is small: it runs whenever the plugin is scored. tests/test_cuda.c and tests/test_vulkan.c
 * are the long versions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu/ref_ops.h"
#include "conformance.h"

/* Edge values as bits: zeros, subnormals, the smallest normals and values whose products or
 * sums land at the FTZ boundary, 1 and its neighbours, the largest finite values, infinities,
 * NaNs (quiet, signalling, negative payload), the exp cut-offs, powers of two that meet at
 * FLT_MIN. */
static const uint32_t edges[] = {
    0x00000000, 0x80000000, 0x00000001, 0x807FFFFF, 0x00400000, 0x007FFFFF, 0x00800000, 0x80800000,
    0x00800001, 0x3F800000, 0xBF800000, 0x3F800001, 0x3F7FFFFF, 0x40400000, 0x3DCCCCCD, 0x7F7FFFFF,
    0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001, 0x7F800001, 0x1F800000, 0x5F800000,
    0x20000000, 0x3F000000, 0x34000000, 0xC2AEB766, 0x42B20000, 0xBFC00000,
};
#define N_EDGES (int)(sizeof edges / sizeof edges[0])

typedef struct {
    uint32_t dtype;
    int rank;
    int64_t dims[4];
    const void *data;
} host_tensor;

typedef struct {
    adead_exec_device *d;
    adead_exec_queue *q;
    char *why;
    size_t whylen;
} probe;

static int64_t count_of(const host_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->dims[i];
    return n;
}

static uint64_t bytes_of(const host_tensor *t) { return (uint64_t)count_of(t) * (t->dtype == ADEAD_EXEC_I64 ? 8 : 4); }

static adead_exec_tensor exec_tensor(const host_tensor *t, adead_exec_buffer *b)
{
    adead_exec_tensor e;
    memset(&e, 0, sizeof e);
    e.dtype = t->dtype;
    e.rank = t->rank;
    memcpy(e.dims, t->dims, sizeof e.dims);
    e.count = count_of(t);
    e.ref.buf = b;
    return e;
}

/* Runs kernel on the GPU: inputs in[0..n_in), result of shape out into result (host). */
static int run(probe *p, uint32_t kernel, const host_tensor *in, int n_in, const host_tensor *out, void *result)
{
    adead_exec_buffer *buf[4] = {NULL, NULL, NULL, NULL};
    const adead_exec_queue_ops *qo = p->q->ops;
    adead_exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = kernel;
    op.n_in = (uint32_t)n_in;
    adead_exec_status st = ADEAD_EXEC_OK;
    for (int i = 0; i <= n_in && !st; i++) {
        const host_tensor *t = i < n_in ? &in[i] : out;
        st = p->d->ops->alloc(p->d, bytes_of(t), &buf[i]);
        if (!st && i < n_in) st = qo->copy_in(p->q, (adead_exec_ref){buf[i], 0}, t->data, bytes_of(t));
        if (!st) {
            if (i < n_in) op.in[i] = exec_tensor(t, buf[i]);
            else op.out = exec_tensor(t, buf[i]);
        }
    }
    adead_exec_ticket done;
    if (!st) st = qo->submit(p->q, &op, 1, &done);
    if (!st) st = qo->copy_out(p->q, result, op.out.ref, bytes_of(out));
    if (!st) st = qo->wait(p->q, 0);
    for (int i = 0; i <= n_in; i++)
        if (buf[i]) buf[i]->ops->release(buf[i]);
    if (st) snprintf(p->why, p->whylen, "kernel %u failed in the probe: %s", kernel, qo->last_error(p->q));
    return st ? -1 : 0;
}

static int same(probe *p, const char *what, const void *got, const void *want, int64_t n)
{
    const uint32_t *g = got, *w = want;
    for (int64_t i = 0; i < n; i++)
        if (g[i] != w[i]) {
            snprintf(p->why, p->whylen, "%s differs from the reference at element %lld (0x%08X, not 0x%08X)", what,
                     (long long)i, g[i], w[i]);
            return -1;
        }
    return 0;
}

static float bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Uniform in [-range, range), every 13th value an edge value: x[i] for seed. */
static void fill(float *x, int64_t n, uint32_t seed, float range)
{
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = i % 13 == 7 ? bits(edges[(s >> 8) % N_EDGES]) : ((float)(s >> 8) / 8388608.0f - 1.0f) * range;
    }
}

static host_tensor f32t(int rank, int64_t d0, int64_t d1, int64_t d2, const void *data)
{
    host_tensor t = {ADEAD_EXEC_F32, rank, {d0, d1, d2, 0}, data};
    return t;
}

static int probe_elementwise(probe *p, float *a, float *b, float *got, float *want)
{
    for (int i = 0; i < N_EDGES; i++) a[i] = b[i] = bits(edges[i]);
    static const char *const names[] = {"TADD", "TSUB", "TMUL"};
    for (int op = 0; op < 3; op++) {
        host_tensor in[2] = {f32t(2, N_EDGES, 1, 0, a), f32t(2, 1, N_EDGES, 0, b)};
        host_tensor out = f32t(2, N_EDGES, N_EDGES, 0, NULL);
        int64_t ad[4] = {1, 1, N_EDGES, 1}, bd[4] = {1, 1, 1, N_EDGES}, od[4] = {1, 1, N_EDGES, N_EDGES};
        if (run(p, ADEAD_K_TADD + (uint32_t)op, in, 2, &out, got)) return -1;
        ref_elementwise(REF_ADD + op, a, ad, b, bd, want, od);
        if (same(p, names[op], got, want, N_EDGES * N_EDGES)) return -1;
    }
    host_tensor r = f32t(1, N_EDGES, 0, 0, a), ro = r;
    if (run(p, ADEAD_K_RELU, &r, 1, &ro, got)) return -1;
    ref_relu(a, want, N_EDGES);
    return same(p, "RELU", got, want, N_EDGES);
}

static int probe_matmul(probe *p, float *a, float *b, float *got, float *want)
{
    /* K = 2: every c = fma(a1, b1, fma(a0, b0, +0)) over pairs of edge values. */
    for (int i = 0; i < N_EDGES; i++) {
        a[2 * i] = bits(edges[i]);
        a[2 * i + 1] = bits(edges[(i * 7 + 1) % N_EDGES]);
        b[i] = bits(edges[(i * 11 + 3) % N_EDGES]);
        b[N_EDGES + i] = bits(edges[i]);
    }
    host_tensor in[2] = {f32t(2, N_EDGES, 2, 0, a), f32t(2, 2, N_EDGES, 0, b)};
    host_tensor out = f32t(2, N_EDGES, N_EDGES, 0, NULL);
    if (run(p, ADEAD_K_MATMUL, in, 2, &out, got)) return -1;
    ref_matmul(a, b, want, N_EDGES, 2, N_EDGES);
    if (same(p, "MATMUL of edge values", got, want, N_EDGES * N_EDGES)) return -1;
    /* Tile edges in every direction and a k tail. */
    const int64_t M = 67, K = 45, N = 33;
    fill(a, M * K, 1, 2.0f);
    fill(b, K * N, 2, 2.0f);
    host_tensor in2[2] = {f32t(2, M, K, 0, a), f32t(2, K, N, 0, b)};
    host_tensor out2 = f32t(2, M, N, 0, NULL);
    if (run(p, ADEAD_K_MATMUL, in2, 2, &out2, got)) return -1;
    ref_matmul(a, b, want, M, K, N);
    if (same(p, "MATMUL 67x45x33", got, want, M * N)) return -1;
    /* Double rounding: c = fma(a1, b1, 2^-60) with a1 = b1 = 1 + 2^-12, whose exact value lies a
     * hair above a float midpoint (and its negation below one). An fma made of a double sum
     * rounded twice lands on the midpoint and rounds to even, the wrong way. */
    const uint32_t dr_a[4] = {0x30800000, 0x3F800800, 0xB0800000, 0x3F800800}; /* [2, 2]: 2^-30, 1 + 2^-12 */
    const uint32_t dr_b[4] = {0x30800000, 0x30800000, 0x3F800800, 0xBF800800};
    memcpy(a, dr_a, sizeof dr_a);
    memcpy(b, dr_b, sizeof dr_b);
    host_tensor in3[2] = {f32t(2, 2, 2, 0, a), f32t(2, 2, 2, 0, b)};
    host_tensor out3 = f32t(2, 2, 2, 0, NULL);
    if (run(p, ADEAD_K_MATMUL, in3, 2, &out3, got)) return -1;
    ref_matmul(a, b, want, 2, 2, 2);
    return same(p, "MATMUL of fma double-rounding cases", got, want, 4);
}

static int probe_softmax(probe *p, float *a, float *got, float *want)
{
    const int64_t rows = 7, n = 37;
    fill(a, rows * n, 3, 4.0f);
    for (int64_t i = 0; i < n; i++) {
        a[1 * n + i] = i % 3 ? a[1 * n + i] : bits(0xFF800000);        /* some -inf */
        a[3 * n + i] = bits(0xFF800000);                                  /* all -inf */
        a[4 * n + i] = bits(edges[i % 9]);                                /* zeros, subnormals, FLT_MIN */
        a[5 * n + i] = a[5 * n + i] * 20.0f;                              /* exps near their cut-offs */
    }
    a[2 * n + 5] = bits(0x7F800000);
    host_tensor t = f32t(2, rows, n, 0, a), o = t;
    if (run(p, ADEAD_K_SOFTMAX, &t, 1, &o, got)) return -1;
    ref_softmax(a, want, rows, n);
    if (same(p, "SOFTMAX of 37-wide rows", got, want, rows * n)) return -1;
    fill(a, 3 * 1500, 4, 10.0f);
    host_tensor l = f32t(2, 3, 1500, 0, a), lo = l;
    if (run(p, ADEAD_K_SOFTMAX, &l, 1, &lo, got)) return -1;
    ref_softmax(a, want, 3, 1500);
    return same(p, "SOFTMAX of 1500-wide rows", got, want, 3 * 1500);
}

static int probe_attention(probe *p, float *a, float *got, float *want, int causal)
{
    const int64_t slices = 2, sq = 5, sk = 70, d = 3, dv = 5;
    float *q = a, *k = q + slices * sq * d, *v = k + slices * sk * d;
    fill(q, slices * sq * d, 5, 2.0f);
    fill(k, slices * sk * d, 6, 2.0f);
    fill(v, slices * sk * dv, 7, 2.0f);
    k[66 * d + 1] = bits(0x7FC00000); /* a NaN key in the second block: rows that see it are NaN */
    host_tensor in[3] = {f32t(3, slices, sq, d, q), f32t(3, slices, sk, d, k), f32t(3, slices, sk, dv, v)};
    host_tensor out = f32t(3, slices, sq, dv, NULL);
    if (run(p, causal ? ADEAD_K_ATTENTION_CAUSAL : ADEAD_K_ATTENTION, in, 3, &out, got)) return -1;
    attn_shape s = {sq, sk, d, dv, causal, ref_attention_scale(d)};
    for (int64_t i = 0; i < slices; i++)
        ref_attention_rows(&s, q + i * sq * d, k + i * sk * d, v + i * sk * dv, want + i * sq * dv, 0, sq);
    return same(p, causal ? "ATTENTION_CAUSAL" : "ATTENTION", got, want, slices * sq * dv);
}

static int probe_transpose(probe *p, float *a, float *got, float *want)
{
    uint32_t *x = (uint32_t *)a, s = 99;
    for (int i = 0; i < 13 * 37; i++) x[i] = s = s * 1664525u + 1013904223u; /* any bits: NaN patterns too */
    host_tensor t = {ADEAD_EXEC_I32, 2, {13, 37, 0, 0}, x}, o = {ADEAD_EXEC_I32, 2, {37, 13, 0, 0}, NULL};
    if (run(p, ADEAD_K_TRANSPOSE, &t, 1, &o, got)) return -1;
    ref_transpose(x, want, 13, 37, 4);
    if (same(p, "TRANSPOSE of 4-byte elements", got, want, 13 * 37)) return -1;
    host_tensor t8 = {ADEAD_EXEC_I64, 2, {5, 9, 0, 0}, x}, o8 = {ADEAD_EXEC_I64, 2, {9, 5, 0, 0}, NULL};
    if (run(p, ADEAD_K_TRANSPOSE, &t8, 1, &o8, got)) return -1;
    ref_transpose(x, want, 5, 9, 8);
    return same(p, "TRANSPOSE of 8-byte elements", got, want, 5 * 9 * 2);
}

int conformance_probe(adead_exec_device *d, adead_exec_queue *q, char *why, size_t whylen)
{
    enum { CAP = 8192 }; /* floats per scratch array: the largest probe input */
    float *a = malloc(4 * CAP * sizeof *a);
    if (!a) {
        snprintf(why, whylen, "out of host memory for the conformance probe");
        return -1;
    }
    float *b = a + CAP, *got = b + CAP, *want = got + CAP;
    probe p = {d, q, why, whylen};
    int bad = probe_elementwise(&p, a, b, got, want) || probe_matmul(&p, a, b, got, want) ||
              probe_softmax(&p, a, got, want) || probe_attention(&p, a, got, want, 0) ||
              probe_attention(&p, a, got, want, 1) || probe_transpose(&p, a, got, want);
    free(a);
    return bad ? -1 : 0;
}
