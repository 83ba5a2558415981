/* Kernel benchmarks: the CPU executor's MATMUL, SOFTMAX, RELU and ATTENTION beside anchors run in
 * the same process, and the cost of one auto-dispatch decision. Driven by bench/kernels.sh
 * (`make bench-kernels`), which runs this once per section and thread count.
 *
 *   kernels info                       the CPU, our SIMD level, OpenBLAS's core and config
 *   kernels [opts] matmul              GFLOP/s = 2n^3/t vs cblas_sgemm (row-major, alpha 1, beta 0)
 *   kernels [opts] softmax | relu      GB/s = (bytes read + bytes written)/t vs memcpy of as many bytes
 *   kernels [opts] attention           GFLOP/s = 4*H*S*S*D/t (half for causal) vs sgemm + C softmax + sgemm
 *   kernels dispatch                   ns per dispatch_choose decision
 * opts: -t THREADS (1), -l LEVEL (scalar, sse2, avx2, avx512, neon; default the best), -n N (matmul: one size instead of the list),
 *       -s BYTES (SOFTMAX: stream the output when input + output reach BYTES; default the L3 size),
 *       -S LABEL (the section's name in the output), -o FILE (append TSV rows to FILE).
 *
 * Every case: one warm-up call, then a fixed number of timed calls (from the amount of work, so
 * a run does the same calls every time); the best time is reported, the median goes to the TSV.
 * Within a section all of our runs come before all of OpenBLAS's: its pthread workers spin for a
 * while after each call and would steal a core from ours. SOFTMAX/RELU and memcpy take turns in
 * 3 rounds. A section during which other processes took more than OTHERS_LIMIT % of the CPUs
 * (/proc/stat minus our own getrusage) is measured again, ATTEMPTS times at most; its rows are
 * printed once it is done, with that share in the TSV's last column. Built with -DHAVE_OPENBLAS
 * when OpenBLAS is there; without it the BLAS anchors are left out ("-"). */
#include "../backends/cpu/cpu_features.h"
#include "../backends/cpu/cpu_reg.h"
#include "../backends/executor.h"
#include "../isa/bib.h"
#include "../isa/isa.h"
#include "../vm/dispatch.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

#define OTHERS_LIMIT 3.0 /* percent of the CPUs other processes may take before a section is measured again */
#define ATTEMPTS 3
static int g_threads = 1, g_level = -1, g_n = 0;
static long long g_stream_bytes = -1; /* -s: the streaming-store threshold (default: the executor's, the L3 size) */
static const char *g_label = NULL;
static FILE *g_tsv = NULL;
static executor *g_ex = NULL;

/* ---- helpers ---- */

static void die(const char *what)
{
    fprintf(stderr, "kernels: %s\n", what);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xalloc(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) die("out of memory");
    memset(p, 0, bytes); /* touch every page before timing */
    return p;
}

/* Deterministic inputs in [-1, 1). */
static void fill(float *x, int64_t n, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) * (1.0f / 8388608.0f) - 1.0f;
    }
}

static int64_t clampi(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

typedef void (*bench_fn)(void *ctx);

typedef struct {
    double best, med; /* seconds */
    int reps;
} timing;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One warm-up call, then reps timed calls, their times (seconds) into t. */
static void measure_into(bench_fn fn, void *ctx, int reps, double *t)
{
    fn(ctx);
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        fn(ctx);
        t[r] = now_s() - t0;
    }
}

static timing summarize(double *t, int reps)
{
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    timing out = {t[0], t[reps / 2], reps};
    return out;
}

static timing measure(bench_fn fn, void *ctx, int reps)
{
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t) die("out of memory");
    measure_into(fn, ctx, reps, t);
    timing out = summarize(t, reps);
    free(t);
    return out;
}

static const char *level_name(void) { return simd_name((simd_level)cpu_executor_level(g_ex)); }

/* A section's results are kept until it ends, then printed with the share of the CPUs other
 * processes took meanwhile (a section they disturbed is measured again). */
#define MAX_ROWS 32
static char g_rows[MAX_ROWS][2][400]; /* the table's line, the TSV row (without its last column) */
static int g_nrows;

static void add_row(const char *line, const char *tsv)
{
    if (g_nrows == MAX_ROWS) die("too many rows");
    snprintf(g_rows[g_nrows][0], sizeof g_rows[0][0], "%s", line);
    snprintf(g_rows[g_nrows][1], sizeof g_rows[0][1], "%s", tsv);
    g_nrows++;
}

static void flush_rows(double others)
{
    for (int r = 0; r < g_nrows; r++) {
        fputs(g_rows[r][0], stdout);
        if (g_tsv) fprintf(g_tsv, "%s\t%.0f\n", g_rows[r][1], others);
    }
    g_nrows = 0;
    fflush(stdout);
    if (g_tsv) fflush(g_tsv);
}

/* One result: a line of the table and a TSV row. work / seconds = the rate. */
static void report(const char *section, const char *what, const char *unit, double work, timing ours,
                   const char *anchor, timing anc, double maxdiff)
{
    double o = work / ours.best, om = work / ours.med;
    int have_anchor = anchor && anc.best > 0;
    double a = have_anchor ? work / anc.best : 0, am = have_anchor ? work / anc.med : 0;
    char ratio[32] = "-", astr[32] = "-", amed[32] = "-", rnum[32] = "-", diff[32] = "-";
    if (have_anchor) {
        snprintf(ratio, sizeof ratio, "%.2fx", o / a);
        snprintf(rnum, sizeof rnum, "%.4f", o / a);
        snprintf(astr, sizeof astr, "%.2f", a);
        snprintf(amed, sizeof amed, "%.3f", am);
    }
    if (maxdiff >= 0) snprintf(diff, sizeof diff, "%.2g", maxdiff);
    char line[400], tsv[400];
    snprintf(line, sizeof line, "%-16s %-22s %2d  %-7s %9.2f  %-22s %9s  %7s  %s\n", section, what, g_threads,
             level_name(), o, anchor ? anchor : "-", astr, ratio, unit);
    snprintf(tsv, sizeof tsv, "%s\t%s\t%d\t%s\t%s\t%.3f\t%.3f\t%s\t%s\t%s\t%s\t%d\t%d\t%s", section, what, g_threads,
             level_name(), unit, o, om, anchor ? anchor : "-", astr, amed, rnum, ours.reps, have_anchor ? anc.reps : 0,
             diff);
    add_row(line, tsv);
}

/* CPU time of the whole machine and of this process, to tell whether others ran meanwhile. */
typedef struct {
    double busy, total, self; /* seconds: all CPUs not idle, all CPUs, this process */
} cpu_sample;

static cpu_sample sample_cpu(void)
{
    cpu_sample s = {0, 0, 0};
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]) < 4)
            memset(v, 0, sizeof v);
        fclose(f);
    }
    double hz = (double)sysconf(_SC_CLK_TCK);
    for (int i = 0; i < 8; i++) s.total += (double)v[i] / hz;
    s.busy = s.total - (double)(v[3] + v[4]) / hz;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s.self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
             (double)ru.ru_stime.tv_usec * 1e-6;
    return s;
}

/* The percentage of all CPUs' time that other processes used between a and b (0 if unknown). */
static double others_busy(cpu_sample a, cpu_sample b)
{
    double total = b.total - a.total, others = (b.busy - a.busy) - (b.self - a.self);
    return total > 0 && others > 0 ? 100.0 * others / total : 0;
}

#ifdef HAVE_OPENBLAS
static double max_abs_diff(const float *a, const float *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN sticks */
    }
    return m;
}
#endif

static exec_tensor tensor(float *data, int rank, int64_t d0, int64_t d1, int64_t d2)
{
    exec_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = BIB_DT_F32;
    t.rank = rank;
    int64_t d[3] = {d0, d1, d2};
    t.count = 1;
    for (int i = 0; i < rank; i++) {
        t.dims[i] = d[i];
        t.count *= d[i];
    }
    t.data = data;
    return t;
}

typedef struct {
    exec_op op;
} run_ctx;

static void run_ours(void *arg)
{
    run_ctx *c = arg;
    char err[256];
    if (g_ex->run(g_ex, &c->op, err, sizeof err)) die(err);
}

#ifdef HAVE_OPENBLAS
static char g_blas_name[64];
static const char *blas_name(void)
{
    snprintf(g_blas_name, sizeof g_blas_name, "openblas/%s", openblas_get_corename());
    return g_blas_name;
}
#endif

/* ---- MATMUL ---- */

#ifdef HAVE_OPENBLAS
typedef struct {
    int n;
    const float *a, *b;
    float *c;
} sgemm_ctx;

static void run_sgemm(void *arg)
{
    sgemm_ctx *s = arg;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->n, s->n, s->n, 1.0f, s->a, s->n, s->b, s->n, 0.0f, s->c,
                s->n);
}
#endif

static void bench_matmul(void)
{
    static const int sizes[] = {256, 512, 1024, 2048};
    int ns[4], count = 0;
    if (g_n > 0)
        ns[count++] = g_n;
    else
        for (int i = 0; i < 4; i++) ns[count++] = sizes[i];
    float *a[4], *b[4], *c[4], *cb[4];
    timing ours[4], anc[4];
    memset(anc, 0, sizeof anc);
    for (int i = 0; i < count; i++) {
        int64_t n = ns[i], nn = n * n;
        a[i] = xalloc((size_t)nn * 4);
        b[i] = xalloc((size_t)nn * 4);
        c[i] = xalloc((size_t)nn * 4);
        cb[i] = xalloc((size_t)nn * 4);
        fill(a[i], nn, 1 + (uint32_t)i);
        fill(b[i], nn, 101 + (uint32_t)i);
    }
    for (int i = 0; i < count; i++) {
        int64_t n = ns[i];
        double flops = 2.0 * (double)n * (double)n * (double)n;
        int reps = (int)clampi((int64_t)(1e11 / flops), 5, 500);
        run_ctx rc;
        memset(&rc, 0, sizeof rc);
        rc.op.kernel = OP_MATMUL;
        rc.op.n_in = 2;
        rc.op.in[0] = tensor(a[i], 2, n, n, 0);
        rc.op.in[1] = tensor(b[i], 2, n, n, 0);
        rc.op.out = tensor(c[i], 2, n, n, 0);
        ours[i] = measure(run_ours, &rc, reps);
    }
#ifdef HAVE_OPENBLAS
    for (int i = 0; i < count; i++) {
        sgemm_ctx s = {ns[i], a[i], b[i], cb[i]};
        anc[i] = measure(run_sgemm, &s, ours[i].reps);
    }
#endif
    const char *section = g_label ? g_label : "matmul";
    for (int i = 0; i < count; i++) {
        int64_t n = ns[i];
        char what[64];
        snprintf(what, sizeof what, "n=%d", ns[i]);
        double flops = 2.0 * (double)n * (double)n * (double)n;
#ifdef HAVE_OPENBLAS
        report(section, what, "GFLOP/s", flops * 1e-9, ours[i], blas_name(), anc[i], max_abs_diff(c[i], cb[i], n * n));
#else
        report(section, what, "GFLOP/s", flops * 1e-9, ours[i], NULL, anc[i], -1);
#endif
        free(a[i]);
        free(b[i]);
        free(c[i]);
        free(cb[i]);
    }
}

/* ---- memcpy with 1 or 2 threads (the bandwidth anchor) ---- */

/* For 2 threads a helper thread, started for the measurement only, spins waiting for the next
 * half to copy: the cheapest way to split a copy (no futex wake-up per call). */
static struct {
    char *dst;
    const char *src;
    size_t bytes;
    int gen, done, quit;
} g_cp;

static void *copy_helper(void *arg)
{
    (void)arg;
    int seen = 0;
    for (;;) {
        int g;
        while ((g = __atomic_load_n(&g_cp.gen, __ATOMIC_ACQUIRE)) == seen && !__atomic_load_n(&g_cp.quit, __ATOMIC_ACQUIRE)) {
        }
        if (__atomic_load_n(&g_cp.quit, __ATOMIC_ACQUIRE)) return NULL;
        seen = g;
        size_t half = g_cp.bytes / 2 / 64 * 64;
        memcpy(g_cp.dst + half, g_cp.src + half, g_cp.bytes - half);
        __atomic_store_n(&g_cp.done, seen, __ATOMIC_RELEASE);
    }
}

static void run_memcpy(void *arg)
{
    (void)arg;
    if (g_threads == 1) {
        memcpy(g_cp.dst, g_cp.src, g_cp.bytes);
        return;
    }
    int g = g_cp.gen + 1;
    __atomic_store_n(&g_cp.gen, g, __ATOMIC_RELEASE);
    memcpy(g_cp.dst, g_cp.src, g_cp.bytes / 2 / 64 * 64);
    while (__atomic_load_n(&g_cp.done, __ATOMIC_ACQUIRE) != g) {
    }
}

static void measure_memcpy_into(void *dst, const void *src, size_t bytes, int reps, double *t)
{
    g_cp.dst = dst;
    g_cp.src = src;
    g_cp.bytes = bytes;
    g_cp.gen = g_cp.done = g_cp.quit = 0;
    pthread_t tid;
    if (g_threads > 1 && pthread_create(&tid, NULL, copy_helper, NULL)) die("pthread_create");
    measure_into(run_memcpy, NULL, reps, t);
    if (g_threads > 1) {
        __atomic_store_n(&g_cp.quit, 1, __ATOMIC_RELEASE);
        pthread_join(tid, NULL);
    }
}

/* ---- SOFTMAX and RELU: GB/s counted as bytes read + bytes written ---- */

static void bench_bandwidth(int kernel)
{
    /* SOFTMAX: 4 MiB in and 4 MiB out (L3-resident); 16 MiB each way (glibc's memcpy streams
     * it with 1 thread, but copies each thread's 8 MiB through the L3 with 2); 64 MiB each way
     * (memory); rows of 4096 and 32768 (an LLM's vocabulary), past the kernel's two-row loop:
     * 4 MiB (L3) and 64 MiB each way; rows of 256 (attention over a short context), 4 MiB.
     * RELU: 64M floats (512 MiB moved: memory), 64K floats (512 KiB moved: L2), 128K floats
     * (1 MiB moved: the L2's whole capacity). */
    static const int64_t softmax_shapes[][2] = {{1024, 1024}, {4096, 1024}, {16384, 256}, {16384, 1024},
                                                {256, 4096}, {32, 32768}, {4096, 4096}, {512, 32768}, {4096, 256}};
    static const int64_t relu_sizes[] = {(int64_t)64 << 20, (int64_t)64 << 10, (int64_t)128 << 10};
    const char *section = g_label ? g_label : kernel == OP_SOFTMAX ? "softmax" : "relu";
    int cases = kernel == OP_SOFTMAX ? (int)(sizeof softmax_shapes / sizeof softmax_shapes[0])
                                     : (int)(sizeof relu_sizes / sizeof relu_sizes[0]);
    for (int i = 0; i < cases; i++) {
        int64_t rows = kernel == OP_SOFTMAX ? softmax_shapes[i][0] : 1;
        int64_t n = kernel == OP_SOFTMAX ? softmax_shapes[i][1] : relu_sizes[i];
        int64_t count = rows * n;
        size_t bytes = (size_t)count * 4;
        float *in = xalloc(bytes), *out = xalloc(bytes);
        fill(in, count, 7 + (uint32_t)i);
        if (kernel == OP_SOFTMAX)
            for (int64_t e = 0; e < count; e++) in[e] *= 8.0f;
        double moved = 2.0 * (double)bytes;
        /* Ours and memcpy take turns, ROUNDS times, so that a passing disturbance (another
         * process, the host) is less likely to hit only one of them. */
        enum { ROUNDS = 3 };
        int per_round = (int)clampi((int64_t)(1.6e10 / moved / ROUNDS), 3, 1500), reps = per_round * ROUNDS;
        run_ctx rc;
        memset(&rc, 0, sizeof rc);
        rc.op.kernel = kernel;
        rc.op.n_in = 1;
        if (kernel == OP_SOFTMAX) {
            rc.op.in[0] = tensor(in, 2, rows, n, 0);
            rc.op.out = tensor(out, 2, rows, n, 0);
        } else {
            rc.op.in[0] = tensor(in, 1, count, 0, 0);
            rc.op.out = tensor(out, 1, count, 0, 0);
        }
        double *to = malloc((size_t)reps * sizeof *to), *ta = malloc((size_t)reps * sizeof *ta);
        if (!to || !ta) die("out of memory");
        for (int r = 0; r < ROUNDS; r++) {
            measure_into(run_ours, &rc, per_round, to + r * per_round);
            measure_memcpy_into(out, in, bytes, per_round, ta + r * per_round);
        }
        timing ours = summarize(to, reps), anc = summarize(ta, reps);
        free(to);
        free(ta);
        char what[64];
        if (kernel == OP_SOFTMAX)
            snprintf(what, sizeof what, "%lldx%lld", (long long)rows, (long long)n);
        else if (count >= (1 << 20))
            snprintf(what, sizeof what, "%lldM floats", (long long)(count >> 20));
        else
            snprintf(what, sizeof what, "%lldK floats", (long long)(count >> 10));
        report(section, what, "GB/s", moved * 1e-9, ours, "memcpy", anc, -1);
        free(in);
        free(out);
    }
}

/* ---- ATTENTION ---- */

typedef struct {
    int64_t h, s, d;
    int causal;
} attn_case;

#ifdef HAVE_OPENBLAS
#define ANCHOR_ROWS 128 /* causal anchor: query rows per block, each against keys 0..its last row */

/* The unfused anchor's softmax over rows of p (row length ld; row r is query row0 + r): plain C,
 * libm expf. Masked entries (causal) become 0. */
static void anchor_softmax(float *p, int64_t ld, int64_t rows, int64_t row0, int causal)
{
    for (int64_t r = 0; r < rows; r++) {
        float *x = p + r * ld;
        int64_t valid = causal ? row0 + r + 1 : ld;
        float m = x[0];
        for (int64_t c = 1; c < valid; c++)
            if (x[c] > m) m = x[c];
        float sum = 0.0f;
        for (int64_t c = 0; c < valid; c++) {
            x[c] = expf(x[c] - m);
            sum += x[c];
        }
        float inv = 1.0f / sum;
        for (int64_t c = 0; c < valid; c++) x[c] *= inv;
        for (int64_t c = valid; c < ld; c++) x[c] = 0.0f;
    }
}

typedef struct {
    attn_case c;
    const float *q, *k, *v;
    float *o;
    float *p[2]; /* per thread: S x S scores */
} blas_attn_ctx;

typedef struct {
    blas_attn_ctx *x;
    int t, nt; /* this thread takes heads t, t + nt, ... */
} blas_attn_part;

/* Heads of one thread: sgemm(Q.K^T) scaled, softmax, sgemm(P.V); causal: by blocks of rows,
 * each against the keys up to its last row (about half the work of the square). */
static void *blas_attention_heads(void *arg)
{
    blas_attn_part *part = arg;
    blas_attn_ctx *x = part->x;
    int64_t S = x->c.s, D = x->c.d;
    float scale = (float)(1.0 / sqrt((double)D)), *p = x->p[part->t];
    for (int64_t h = part->t; h < x->c.h; h += part->nt) {
        const float *q = x->q + h * S * D, *k = x->k + h * S * D, *v = x->v + h * S * D;
        float *o = x->o + h * S * D;
        int64_t block = x->c.causal ? ANCHOR_ROWS : S;
        for (int64_t r0 = 0; r0 < S; r0 += block) {
            int64_t r1 = r0 + block < S ? r0 + block : S, rows = r1 - r0, keys = x->c.causal ? r1 : S;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)keys, (int)D, scale, q + r0 * D, (int)D, k,
                        (int)D, 0.0f, p, (int)keys);
            anchor_softmax(p, keys, rows, r0, x->c.causal);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)D, (int)keys, 1.0f, p, (int)keys, v,
                        (int)D, 0.0f, o + r0 * D, (int)D);
        }
    }
    return NULL;
}

/* With 2 threads the heads are split between two pthreads, each calling a single-threaded
 * OpenBLAS (set by the caller): that scales better than OpenBLAS's threads inside each small
 * sgemm with a serial softmax between them. */
static void run_blas_attention(void *arg)
{
    blas_attn_ctx *x = arg;
    int nt = g_threads > 1 ? 2 : 1;
    blas_attn_part parts[2] = {{x, 0, nt}, {x, 1, nt}};
    pthread_t tid;
    int spawned = nt > 1 && !pthread_create(&tid, NULL, blas_attention_heads, &parts[1]);
    blas_attention_heads(&parts[0]);
    if (spawned)
        pthread_join(tid, NULL);
    else if (nt > 1)
        blas_attention_heads(&parts[1]);
}
#endif

static void bench_attention(void)
{
    static const attn_case cases[] = {{8, 1024, 64, 0}, {8, 1024, 64, 1}, {4, 2048, 128, 0}, {4, 2048, 128, 1}};
    enum { NC = 4 };
    float *q[NC], *k[NC], *v[NC], *o[NC], *ob[NC];
    timing ours[NC], anc[NC];
    double flops[NC];
    memset(anc, 0, sizeof anc);
    for (int i = 0; i < NC; i++) {
        attn_case c = cases[i];
        int64_t count = c.h * c.s * c.d;
        q[i] = xalloc((size_t)count * 4);
        k[i] = xalloc((size_t)count * 4);
        v[i] = xalloc((size_t)count * 4);
        o[i] = xalloc((size_t)count * 4);
        ob[i] = xalloc((size_t)count * 4);
        fill(q[i], count, 11 + (uint32_t)i);
        fill(k[i], count, 21 + (uint32_t)i);
        fill(v[i], count, 31 + (uint32_t)i);
        flops[i] = 4.0 * (double)c.h * (double)c.s * (double)c.s * (double)c.d / (c.causal ? 2.0 : 1.0);
        run_ctx rc;
        memset(&rc, 0, sizeof rc);
        rc.op.kernel = c.causal ? OP_ATTENTION_CAUSAL : OP_ATTENTION;
        rc.op.n_in = 3;
        rc.op.in[0] = tensor(q[i], 3, c.h, c.s, c.d);
        rc.op.in[1] = tensor(k[i], 3, c.h, c.s, c.d);
        rc.op.in[2] = tensor(v[i], 3, c.h, c.s, c.d);
        rc.op.out = tensor(o[i], 3, c.h, c.s, c.d);
        ours[i] = measure(run_ours, &rc, (int)clampi((int64_t)(4e10 / flops[i]), 5, 100));
    }
#ifdef HAVE_OPENBLAS
    float *p0 = xalloc((size_t)2048 * 2048 * 4), *p1 = xalloc((size_t)2048 * 2048 * 4);
    if (g_threads > 1) openblas_set_num_threads(1);
    for (int i = 0; i < NC; i++) {
        blas_attn_ctx x = {cases[i], q[i], k[i], v[i], ob[i], {p0, p1}};
        anc[i] = measure(run_blas_attention, &x, ours[i].reps);
    }
    if (g_threads > 1) openblas_set_num_threads(g_threads);
    free(p0);
    free(p1);
#endif
    const char *section = g_label ? g_label : "attention";
    for (int i = 0; i < NC; i++) {
        attn_case c = cases[i];
        char what[64];
        snprintf(what, sizeof what, "%sH%lld S%lld D%lld", c.causal ? "causal " : "", (long long)c.h, (long long)c.s,
                 (long long)c.d);
#ifdef HAVE_OPENBLAS
        char name[80];
        snprintf(name, sizeof name, "%s+C", blas_name());
        report(section, what, "GFLOP/s", flops[i] * 1e-9, ours[i], name, anc[i], max_abs_diff(o[i], ob[i], c.h * c.s * c.d));
#else
        report(section, what, "GFLOP/s", flops[i] * 1e-9, ours[i], NULL, anc[i], -1);
#endif
        free(q[i]);
        free(k[i]);
        free(v[i]);
        free(o[i]);
        free(ob[i]);
    }
}

/* ---- the auto-dispatch decision ---- */

static int fake_gpu_supports(const adead_exec_device *d, const adead_exec_op *op)
{
    (void)d;
    (void)op;
    return 1;
}

#define DISPATCH_OPS 1024
#define DISPATCH_DECISIONS 100000000L
volatile uintptr_t g_sink; /* where the decisions go, so that they are made */

static double time_dispatch(const dispatch_rules *rules, const adead_exec_op *ops, const int *residency,
                            adead_exec_device *gpu, double *gpu_share)
{
    /* Through a volatile pointer: the rules are not compile-time constants here, as in the VM. */
    const dispatch_rules *volatile rp = rules;
    const dispatch_rules *r = rp;
    uintptr_t sum = 0;
    long to_gpu = 0;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
        for (long i = 0; i < DISPATCH_DECISIONS; i++) {
            adead_exec_device *e = dispatch_choose(r, &ops[i & (DISPATCH_OPS - 1)], residency[i & (DISPATCH_OPS - 1)]);
            sum += (uintptr_t)e;
        }
        double t = now_s() - t0;
        if (!rep || t < best) best = t;
    }
    for (int i = 0; i < DISPATCH_OPS; i++) to_gpu += dispatch_choose(r, &ops[i], residency[i]) == gpu;
    g_sink += sum;
    *gpu_share = gpu ? (double)to_gpu / DISPATCH_OPS : 0;
    return best;
}

static void bench_dispatch(void)
{
    adead_exec_op *ops = calloc(DISPATCH_OPS, sizeof *ops);
    int *res_host = calloc(DISPATCH_OPS, sizeof *res_host), *res_mixed = calloc(DISPATCH_OPS, sizeof *res_mixed);
    if (!ops || !res_host || !res_mixed) die("out of memory");
    uint32_t s = 12345;
    for (int i = 0; i < DISPATCH_OPS; i++) {
        s = s * 1664525u + 1013904223u;
        adead_exec_op *op = &ops[i];
        static const uint32_t kernels[] = {ADEAD_K_MATMUL, ADEAD_K_SOFTMAX, ADEAD_K_RELU, ADEAD_K_ATTENTION};
        op->kernel = kernels[(s >> 28) % 4];
        op->n_in = 1 + (s >> 24) % 3;
        for (uint32_t j = 0; j <= op->n_in; j++) {
            s = s * 1664525u + 1013904223u;
            int64_t count = (int64_t)1 << ((s >> 27) % 23); /* 1 .. 4M elements, on both sides of the thresholds */
            adead_exec_tensor *t = j < op->n_in ? &op->in[j] : &op->out;
            t->dtype = ADEAD_EXEC_F32;
            t->rank = 1;
            t->dims[0] = t->count = count;
        }
        res_host[i] = -1;
        res_mixed[i] = (s >> 20) & 1 ? 0 : -1;
    }
    static const adead_exec_device_ops fake_ops = {.supports = fake_gpu_supports};
    adead_exec_device fake;
    memset(&fake, 0, sizeof fake);
    fake.name = "fake-gpu";
    fake.caps = ADEAD_EXEC_CAP_GPU;
    fake.ops = &fake_ops;
    dispatch_rules cpu_only, with_gpu;
    memset(&cpu_only, 0, sizeof cpu_only);
    cpu_only.cpu = cpu_registry()->device(0);
    dispatch_set_defaults(&cpu_only);
    with_gpu = cpu_only;
    with_gpu.gpu[0] = &fake;
    with_gpu.n_gpu = 1;
    struct {
        const char *what;
        const dispatch_rules *r;
        const int *res;
    } variants[] = {{"cpu only", &cpu_only, res_host},
                    {"1 gpu, host data", &with_gpu, res_host},
                    {"1 gpu, half resident", &with_gpu, res_mixed}};
    const char *section = g_label ? g_label : "dispatch";
    for (int v = 0; v < 3; v++) {
        double share;
        double t = time_dispatch(variants[v].r, ops, variants[v].res, variants[v].r->n_gpu ? &fake : NULL, &share);
        double ns = t * 1e9 / (double)DISPATCH_DECISIONS;
        char line[400], tsv[400];
        snprintf(line, sizeof line, "%-16s %-22s %2d  %-7s %9.3f  %-22s %9s  %7s  ns/decision (%.0f%% to the GPU)\n",
                 section, variants[v].what, 1, "-", ns, "-", "-", "-", share * 100);
        snprintf(tsv, sizeof tsv, "%s\t%s\t1\t-\tns/decision\t%.4f\t-\t-\t-\t-\t-\t3\t0\t-", section, variants[v].what,
                 ns);
        add_row(line, tsv);
    }
    free(ops);
    free(res_host);
    free(res_mixed);
}

/* ---- info ---- */

static void info(void)
{
    const cpu_info *ci = cpu_detect();
    char feat[512];
    cpu_feature_text(feat, sizeof feat);
    printf("cpu:      %s, %d cores; L1d %u KiB, L2 %u KiB, L3 %u KiB\n", ci->brand, ci->cores, ci->l1d >> 10, ci->l2 >> 10,
           ci->l3 >> 10);
    printf("simd:     %s (best; features %s)\n", simd_name(ci->best), feat);
#ifdef HAVE_OPENBLAS
    printf("openblas: core %s, %d threads; config: %s\n", openblas_get_corename(), openblas_get_num_threads(),
           openblas_get_config());
#else
    printf("openblas: not linked\n");
#endif
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (i + 1 >= argc) die("usage: kernels [-t threads] [-l level] [-n size] [-s stream_bytes] [-S label] [-o tsv] section...");
        switch (argv[i][1]) {
        case 't': g_threads = atoi(argv[++i]); break;
        case 'l':
            g_level = simd_from_name(argv[++i]);
            if (g_level < 0) die("-l takes scalar, sse2, avx2, avx512 or neon");
            break;
        case 'n': g_n = atoi(argv[++i]); break;
        case 's': g_stream_bytes = strtoll(argv[++i], NULL, 0); break;
        case 'S': g_label = argv[++i]; break;
        case 'o':
            if (!(g_tsv = fopen(argv[++i], "a"))) die("cannot open the TSV file");
            break;
        default: die("unknown option");
        }
    }
    if (g_threads < 1) g_threads = 1;
    char err[256];
    if (!(g_ex = cpu_executor_create())) die("cannot create the CPU executor");
    if (cpu_executor_configure(g_ex, g_level, g_threads, err, sizeof err)) die(err);
    if (g_stream_bytes >= 0) cpu_executor_set_stream_bytes(g_ex, (uint64_t)g_stream_bytes);
#ifdef HAVE_OPENBLAS
    if (openblas_get_num_threads() != g_threads)
        fprintf(stderr, "kernels: warning: OpenBLAS runs %d threads, not %d (set OPENBLAS_NUM_THREADS)\n",
                openblas_get_num_threads(), g_threads);
    /* OpenBLAS starts its workers when it loads, and they spin (about 2^28 cycles) before they
     * sleep: let them fall asleep before our kernels run. */
    if (openblas_get_num_threads() > 1) {
        struct timespec nap = {0, 300000000};
        nanosleep(&nap, NULL);
    }
#endif
    for (; i < argc; i++) {
        const char *sec = argv[i];
        if (!strcmp(sec, "info")) {
            info();
            continue;
        }
        for (int attempt = 1;; attempt++) {
            cpu_sample before = sample_cpu();
            if (!strcmp(sec, "matmul"))
                bench_matmul();
            else if (!strcmp(sec, "softmax"))
                bench_bandwidth(OP_SOFTMAX);
            else if (!strcmp(sec, "relu"))
                bench_bandwidth(OP_RELU);
            else if (!strcmp(sec, "attention"))
                bench_attention();
            else if (!strcmp(sec, "dispatch"))
                bench_dispatch();
            else
                die("unknown section (info, matmul, softmax, relu, attention, dispatch)");
            double others = others_busy(before, sample_cpu());
            if (others > OTHERS_LIMIT && attempt < ATTEMPTS) {
                printf("(%s, %d thread%s: other processes took %.0f%% of the CPUs: measuring again)\n", g_label ? g_label : sec,
                       g_threads, g_threads > 1 ? "s" : "", others);
                g_nrows = 0;
                continue;
            }
            flush_rows(others);
            if (others > OTHERS_LIMIT)
                printf("(other processes took %.0f%% of the CPUs during the last of %d attempts: figures unreliable)\n",
                       others, ATTEMPTS);
            break;
        }
    }
    cpu_executor_destroy(g_ex);
    if (g_tsv) fclose(g_tsv);
    return 0;
}
