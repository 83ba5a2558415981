/* `make bench-gpu` and `make bench-vulkan`: a GPU executor's kernels (the CUDA one, or the Vulkan
 * one on the same NVIDIA GPU) through the executor ABI, each beside its anchor:
 * cuBLAS SGEMM (TF32 off: the default math mode) and a device-to-device copy in this process,
 * PyTorch's figures (softmax, SDPA) from bench/gpu/torch_anchor.py run just before on the same
 * GPU, read from the file given. Ratios are ours / anchor (above 1: faster). Each time is the
 * median of 7 timed rounds after a warm-up round; a round submits the op `reps` times and waits.
 * Also: whether our MATMUL's bits equal cuBLAS's, and the CPU/GPU crossover that sets the
 * dispatch threshold (GPU time with the copies in and out, against the CPU executor).
 * Usage: bench_gpu PLUGIN.so [ANCHORS.txt] */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../backends/cpu/cpu_reg.h"
#include "../../backends/cuda/cuda_driver.h"
#include "../../backends/registry.h"

static adead_exec_device *gpu;
static adead_exec_queue *gq, *cpuq;
static const cuda_api *cu;
static char anchors[8192];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_gpu: %s: %s\n", what, why);
    exit(1);
}

static double anchor(const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "%s ", key);
    for (const char *p = anchors; (p = strstr(p, pat)); p++)
        if (p == anchors || p[-1] == '\n') return atof(p + strlen(pat));
    return 0;
}

static adead_exec_buffer *device_random(int64_t n, unsigned seed)
{
    float *h = malloc((size_t)n * 4);
    if (!h) die("host memory", "malloc");
    unsigned s = seed * 2654435761u + 7;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        h[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
    }
    adead_exec_buffer *b;
    if (gpu->ops->alloc(gpu, (uint64_t)n * 4, &b)) die("alloc", "device memory");
    if (gq->ops->copy_in(gq, (adead_exec_ref){b, 0}, h, (uint64_t)n * 4)) die("copy_in", gq->ops->last_error(gq));
    gq->ops->wait(gq, 0);
    free(h);
    return b;
}

static adead_exec_tensor tensor(adead_exec_buffer *b, int rank, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    adead_exec_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = ADEAD_EXEC_F32;
    t.rank = rank;
    int64_t d[4] = {d0, d1, d2, d3};
    t.count = 1;
    for (int i = 0; i < rank; i++) t.count *= (t.dims[i] = d[i]);
    t.ref.buf = b;
    return t;
}

/* c [M, N] = a [M, K] b [K, N]. */
static adead_exec_op matmul_op(adead_exec_buffer *a, adead_exec_buffer *b, adead_exec_buffer *c, int64_t M, int64_t N, int64_t K)
{
    adead_exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = ADEAD_K_MATMUL;
    op.n_in = 2;
    op.in[0] = tensor(a, 2, M, K, 0, 0);
    op.in[1] = tensor(b, 2, K, N, 0, 0);
    op.out = tensor(c, 2, M, N, 0, 0);
    return op;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Seconds per call of fn(arg): the median of 7 rounds of reps calls, after one round. */
typedef void (*bench_fn)(void *arg);
static double median_time(bench_fn fn, void *arg, void (*sync)(void), int reps)
{
    double t[7];
    for (int r = -1; r < 7; r++) {
        double t0 = now();
        for (int i = 0; i < reps; i++) fn(arg);
        sync();
        if (r >= 0) t[r] = (now() - t0) / reps;
    }
    qsort(t, 7, sizeof t[0], cmp_double);
    return t[3];
}

static void gpu_sync(void)
{
    if (gq->ops->wait(gq, 0)) die("wait", gq->ops->last_error(gq));
}

static void run_op(void *arg)
{
    adead_exec_ticket t;
    if (gq->ops->submit(gq, arg, 1, &t)) die("submit", gq->ops->last_error(gq));
}

static double device_speed = 1.0; /* 1e-3 on a software device: fewer repetitions */

static int reps_for(double bytes_or_flops, double per_second)
{
    double t = bytes_or_flops / (per_second * device_speed);
    int r = (int)(0.05 / t);
    return r < 1 ? 1 : r > 200 ? 200 : r;
}

/* ---- cuBLAS, opened at run time like the driver ---- */
typedef int (*cublas_create_fn)(void **h);
typedef int (*cublas_sgemm_fn)(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *A, int lda,
                               const float *B, int ldb, const float *beta, float *C, int ldc);
static void *cublas;
static cublas_sgemm_fn sgemm;
static CUcontext ctx;

static void open_cublas(void)
{
    const char *names[] = {getenv("ADEAD_CUBLAS"), "libcublas.so.13", "libcublas.so.12", "/usr/local/cuda/lib64/libcublas.so", NULL};
    void *lib = NULL;
    for (int i = 0; !lib && (names[i] || i == 0); i++)
        if (names[i]) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("cuBLAS not found (set ADEAD_CUBLAS=/path/libcublas.so): MATMUL without its anchor\n");
        return;
    }
    void *c = dlsym(lib, "cublasCreate_v2"), *g = dlsym(lib, "cublasSgemm_v2");
    if (!c || !g) return;
    cublas_create_fn create;
    memcpy(&create, &c, sizeof c);
    memcpy(&sgemm, &g, sizeof g);
    if (create(&cublas)) {
        printf("cublasCreate failed: MATMUL without its anchor\n");
        sgemm = NULL;
    }
}

struct gemm_args {
    CUdeviceptr a, b, c;
    int m, k, n;
};

static void run_sgemm(void *arg)
{
    struct gemm_args *g = arg;
    const float one = 1.0f, zero = 0.0f;
    /* Row-major C = A B is column-major C^T = B^T A^T. */
    sgemm(cublas, 0, 0, g->n, g->m, g->k, &one, (const float *)(uintptr_t)g->b, g->n, (const float *)(uintptr_t)g->a, g->k,
          &zero, (float *)(uintptr_t)g->c, g->n);
}

static void legacy_sync(void) { cu->StreamSynchronize(NULL); }

static int is_cuda; /* the executor's buffers are CUDA memory; else cuBLAS and the copy get their own */

static CUdeviceptr dptr(adead_exec_buffer *b) { return (CUdeviceptr)(uintptr_t)b->impl; }

static CUdeviceptr cuda_alloc(size_t bytes)
{
    CUdeviceptr p;
    if (cu->MemAlloc(&p, bytes)) die("cuMemAlloc", "for an anchor");
    return p;
}

/* A CUDA pointer to b's bytes: b itself, or a CUDA copy of them (the caller frees it). */
static CUdeviceptr cuda_view(adead_exec_buffer *b, size_t bytes)
{
    if (is_cuda) return dptr(b);
    void *h = malloc(bytes);
    if (!h || gq->ops->copy_out(gq, h, (adead_exec_ref){b, 0}, bytes) || gq->ops->wait(gq, 0)) die("copy_out", "for an anchor");
    CUdeviceptr p = cuda_alloc(bytes);
    cu->MemcpyHtoDAsync(p, h, bytes, NULL);
    cu->StreamSynchronize(NULL);
    free(h);
    return p;
}

static void cuda_unview(CUdeviceptr p)
{
    if (!is_cuda) cu->MemFree(p);
}

static void bench_matmul(int64_t M, int64_t N, int64_t K)
{
    adead_exec_buffer *a = device_random(M * K, 1), *b = device_random(K * N, 2), *c, *c2;
    if (gpu->ops->alloc(gpu, (uint64_t)(M * N) * 4, &c) || gpu->ops->alloc(gpu, (uint64_t)(M * N) * 4, &c2)) die("alloc", "C");
    adead_exec_op op = matmul_op(a, b, c, M, N, K);
    double flops = 2.0 * (double)M * (double)N * (double)K;
    double t = median_time(run_op, &op, gpu_sync, reps_for(flops, 40e12));
    printf("MATMUL %lldx%lldx%lld (MxNxK)  ours %7.3f TFLOP/s", (long long)M, (long long)N, (long long)K, flops / t / 1e12);
    if (sgemm) {
        size_t bytes = (size_t)(M * N) * 4;
        struct gemm_args g = {cuda_view(a, (size_t)(M * K) * 4), cuda_view(b, (size_t)(K * N) * 4),
                              is_cuda ? dptr(c2) : cuda_alloc(bytes), (int)M, (int)K, (int)N};
        double tc = median_time(run_sgemm, &g, legacy_sync, reps_for(flops, 40e12));
        /* Same bits as ours? */
        unsigned char *x = malloc(bytes), *y = malloc(bytes);
        int64_t differ = 0;
        int got_y = 0;
        if (x && y && !is_cuda) got_y = !cu->MemcpyDtoHAsync(y, g.c, bytes, NULL) && !cu->StreamSynchronize(NULL);
        if (x && y && !gq->ops->copy_out(gq, x, (adead_exec_ref){c, 0}, bytes) &&
            (got_y || !gq->ops->copy_out(gq, y, (adead_exec_ref){c2, 0}, bytes)) && !gq->ops->wait(gq, 0))
            for (size_t i = 0; i < bytes; i += 4) differ += memcmp(x + i, y + i, 4) != 0;
        cuda_unview(g.a);
        cuda_unview(g.b);
        cuda_unview(g.c);
        free(x);
        free(y);
        printf("  cuBLAS %6.2f  ratio %.2fx  bits: %s", flops / tc / 1e12, tc / t,
               differ ? "differ" : "identical");
        if (differ) printf(" (%lld of %lld elements)", (long long)differ, (long long)(M * N));
    }
    printf("\n");
    a->ops->release(a);
    b->ops->release(b);
    c->ops->release(c);
    c2->ops->release(c2);
}

/* MATMUL, TADD of a bias row, RELU, in place: one queue that fuses them (the default) against
 * one with fuse=off, each op submitted separately as the VM does. */
static void run_three(void *arg)
{
    adead_exec_op *ops = arg;
    for (int i = 0; i < 3; i++) run_op(&ops[i]);
}

static void bench_fused(int64_t M, int64_t N, int64_t K)
{
    adead_exec_buffer *a = device_random(M * K, 1), *b = device_random(K * N, 2), *bias = device_random(N, 3), *c;
    if (gpu->ops->alloc(gpu, (uint64_t)(M * N) * 4, &c)) die("alloc", "C");
    adead_exec_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0].kernel = ADEAD_K_MATMUL;
    ops[0].n_in = 2;
    ops[0].in[0] = tensor(a, 2, M, K, 0, 0);
    ops[0].in[1] = tensor(b, 2, K, N, 0, 0);
    ops[0].out = tensor(c, 2, M, N, 0, 0);
    ops[1].kernel = ADEAD_K_TADD;
    ops[1].n_in = 2;
    ops[1].in[0] = ops[0].out;
    ops[1].in[1] = tensor(bias, 1, N, 0, 0, 0);
    ops[1].out = ops[0].out;
    ops[2].kernel = ADEAD_K_RELU;
    ops[2].n_in = 1;
    ops[2].in[0] = ops[0].out;
    ops[2].out = ops[0].out;
    double flops = 2.0 * (double)M * (double)N * (double)K;
    double fused = median_time(run_three, ops, gpu_sync, reps_for(flops, 30e12));
    adead_exec_queue *keep = gq;
    char err[256];
    if (gpu->ops->open_queue(gpu, "fuse=off", &gq, err, sizeof err)) die("queue", err);
    double unfused = median_time(run_three, ops, gpu_sync, reps_for(flops, 30e12));
    gq->ops->close(gq);
    gq = keep;
    printf("MATMUL+bias+RELU %lldx%lldx%lld  fused %.1f us, unfused %.1f us: %.2fx\n", (long long)M, (long long)N,
           (long long)K, fused * 1e6, unfused * 1e6, unfused / fused);
    a->ops->release(a);
    b->ops->release(b);
    bias->ops->release(bias);
    c->ops->release(c);
}

struct copy_args {
    CUdeviceptr dst, src;
    size_t bytes;
};
static void run_copy(void *arg)
{
    struct copy_args *c = arg;
    cu->MemcpyDtoDAsync(c->dst, c->src, c->bytes, NULL);
}

/* GB/s of a device-to-device copy moving `bytes` (read + written). */
static double copy_gbs(size_t bytes)
{
    adead_exec_buffer *a = device_random((int64_t)(bytes / 8), 3), *b;
    if (gpu->ops->alloc(gpu, bytes / 2, &b)) die("alloc", "copy");
    struct copy_args c = {is_cuda ? dptr(b) : cuda_alloc(bytes / 2), is_cuda ? dptr(a) : cuda_alloc(bytes / 2), bytes / 2};
    double t = median_time(run_copy, &c, legacy_sync, reps_for((double)bytes, 3e12));
    cuda_unview(c.dst);
    cuda_unview(c.src);
    a->ops->release(a);
    b->ops->release(b);
    return (double)bytes / t / 1e9;
}

static void bench_bytes(const char *name, adead_exec_op *op, double bytes, double anchor_gbs, const char *anchor_name)
{
    double t = median_time(run_op, op, gpu_sync, reps_for(bytes, 3e12));
    double gbs = bytes / t / 1e9;
    printf("%-28s ours %7.1f GB/s", name, gbs);
    if (anchor_gbs > 0) printf("  %s %7.1f  ratio %.2fx", anchor_name, anchor_gbs, gbs / anchor_gbs);
    printf("\n");
}

static void bench_memory_bound(int64_t n) /* n: a multiple of 8192 * 8192 / 64, at least 1 << 20 */
{
    double copy = cu ? copy_gbs((size_t)n * 8) : 0;
    if (cu) printf("device copy %lldM floats: %.1f GB/s\n", (long long)(n >> 20), copy);
    char name[96];
    adead_exec_buffer *x = device_random(n, 4), *y = device_random(n, 5), *o;
    if (gpu->ops->alloc(gpu, (uint64_t)n * 4, &o)) die("alloc", "o");
    adead_exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = ADEAD_K_RELU;
    op.n_in = 1;
    op.in[0] = tensor(x, 1, n, 0, 0, 0);
    op.out = tensor(o, 1, n, 0, 0, 0);
    snprintf(name, sizeof name, "RELU %lldM", (long long)(n >> 20));
    bench_bytes(name, &op, 8.0 * n, copy, "copy");
    if (anchor("torch_relu_64M") > 0) printf("%-28s torch %.1f GB/s: ratio %.2fx\n", "", anchor("torch_relu_64M"), 8.0 * n / median_time(run_op, &op, gpu_sync, 20) / 1e9 / anchor("torch_relu_64M"));
    op.kernel = ADEAD_K_TADD;
    op.n_in = 2;
    op.in[1] = tensor(y, 1, n, 0, 0, 0);
    snprintf(name, sizeof name, "TADD %lldM + %lldM", (long long)(n >> 20), (long long)(n >> 20));
    bench_bytes(name, &op, 12.0 * n, copy, "copy");
    int64_t side = 8192;
    while (side * side > n) side /= 2;
    op.in[1] = tensor(y, 2, 1, side, 0, 0); /* a bias row */
    op.in[0] = tensor(x, 2, side, side, 0, 0);
    op.out = tensor(o, 2, side, side, 0, 0);
    snprintf(name, sizeof name, "TADD %lldx%lld + [1,%lld]", (long long)side, (long long)side, (long long)side);
    bench_bytes(name, &op, 8.0 * (double)(side * side), copy, "copy");
    op.kernel = ADEAD_K_TRANSPOSE;
    op.n_in = 1;
    snprintf(name, sizeof name, "TRANSPOSE %lldx%lld", (long long)side, (long long)side);
    bench_bytes(name, &op, 8.0 * (double)(side * side), copy, "copy");
    op.kernel = ADEAD_K_SOFTMAX;
    const int64_t shapes[][2] = {{65536, 1024}, {8192, 8192}, {4096, 256}, {32, 32768}};
    for (int i = 0; i < 4; i++) {
        if (shapes[i][0] * shapes[i][1] > n) continue;
        char key[64];
        snprintf(name, sizeof name, "SOFTMAX %lldx%lld", (long long)shapes[i][0], (long long)shapes[i][1]);
        snprintf(key, sizeof key, "torch_softmax_%lldx%lld", (long long)shapes[i][0], (long long)shapes[i][1]);
        op.in[0] = tensor(x, 2, shapes[i][0], shapes[i][1], 0, 0);
        op.out = tensor(o, 2, shapes[i][0], shapes[i][1], 0, 0);
        double torch = anchor(key);
        bench_bytes(name, &op, 8.0 * (double)(shapes[i][0] * shapes[i][1]), torch > 0 ? torch : copy, torch > 0 ? "torch" : "copy");
    }
    x->ops->release(x);
    y->ops->release(y);
    o->ops->release(o);
}

static void bench_attention(int64_t B, int64_t H, int64_t S, int64_t D, int causal)
{
    int64_t n = B * H * S * D;
    adead_exec_buffer *q = device_random(n, 6), *k = device_random(n, 7), *v = device_random(n, 8), *o;
    if (gpu->ops->alloc(gpu, (uint64_t)n * 4, &o)) die("alloc", "o");
    adead_exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = causal ? ADEAD_K_ATTENTION_CAUSAL : ADEAD_K_ATTENTION;
    op.n_in = 3;
    op.in[0] = tensor(q, 4, B, H, S, D);
    op.in[1] = tensor(k, 4, B, H, S, D);
    op.in[2] = tensor(v, 4, B, H, S, D);
    op.out = tensor(o, 4, B, H, S, D);
    double flops = 4.0 * (double)(B * H) * (double)S * (double)S * (double)D / (causal ? 2 : 1);
    double t = median_time(run_op, &op, gpu_sync, reps_for(flops, 10e12));
    char key[96];
    snprintf(key, sizeof key, "torch_sdpa_B%lldH%lldS%lldD%lld%s", (long long)B, (long long)H, (long long)S, (long long)D,
             causal ? "_causal" : "");
    double torch = anchor(key);
    printf("ATTENTION%s B%lld H%lld S%lld D%lld  ours %6.2f TFLOP/s", causal ? "_CAUSAL" : "", (long long)B, (long long)H,
           (long long)S, (long long)D, flops / t / 1e12);
    if (torch > 0) printf("  torch SDPA %6.2f  ratio %.2fx", torch, flops / t / 1e12 / torch);
    printf("\n");
    q->ops->release(q);
    k->ops->release(k);
    v->ops->release(v);
    o->ops->release(o);
}

/* ---- the crossover: an op with its copies on the GPU, against the CPU executor ---- */
static adead_exec_op cross_op;
static float *cross_host[3];
static adead_exec_buffer *cross_dev[3];

static void gpu_with_copies(void *arg)
{
    (void)arg;
    uint64_t out_bytes = (uint64_t)cross_op.out.count * 4;
    for (uint32_t i = 0; i < cross_op.n_in; i++)
        gq->ops->copy_in(gq, (adead_exec_ref){cross_dev[i], 0}, cross_host[i], (uint64_t)cross_op.in[i].count * 4);
    adead_exec_ticket t;
    gq->ops->submit(gq, &cross_op, 1, &t);
    gq->ops->copy_out(gq, cross_host[2], (adead_exec_ref){cross_dev[2], 0}, out_bytes);
}

static void cpu_run(void *arg)
{
    adead_exec_ticket t;
    cpuq->ops->submit(cpuq, arg, 1, &t);
}
static void cpu_sync(void) { cpuq->ops->wait(cpuq, 0); }

static void crossover(const char *name, uint32_t kernel, const int64_t *sizes, int n_sizes)
{
    adead_exec_device *cpu = cpu_registry()->device(0);
    printf("crossover %s (GPU time includes copying the inputs in and the result out):\n", name);
    for (int s = 0; s < n_sizes; s++) {
        int64_t n = sizes[s];
        int mm = kernel == ADEAD_K_MATMUL;
        int64_t count = mm ? n * n : n;
        adead_exec_op cop;
        memset(&cross_op, 0, sizeof cross_op);
        cross_op.kernel = kernel;
        cross_op.n_in = mm ? 2 : 1;
        adead_exec_buffer *hb[3];
        for (int i = 0; i < 3; i++) {
            cross_host[i] = malloc((size_t)count * 4);
            for (int64_t j = 0; j < count; j++) cross_host[i][j] = (float)((j * 7 + i) % 13) - 6.0f;
            if (gpu->ops->alloc(gpu, (uint64_t)count * 4, &cross_dev[i])) die("alloc", "crossover");
            cpu->ops->wrap_host(cpu, cross_host[i], (uint64_t)count * 4, &hb[i]);
        }
        for (uint32_t i = 0; i < 3; i++) {
            adead_exec_tensor t = mm ? tensor(NULL, 2, n, n, 0, 0) : tensor(NULL, 1, n, 0, 0, 0);
            if (i < cross_op.n_in) cross_op.in[i] = t;
            if (i == 2) cross_op.out = t;
        }
        cop = cross_op;
        for (uint32_t i = 0; i < cross_op.n_in; i++) {
            cross_op.in[i].ref.buf = cross_dev[i];
            cop.in[i].ref.buf = hb[i];
        }
        cross_op.out.ref.buf = cross_dev[2];
        cop.out.ref.buf = hb[2];
        double tg = median_time(gpu_with_copies, NULL, gpu_sync, 3);
        double tc = median_time(cpu_run, &cop, cpu_sync, 3);
        printf("  %s %-9lld elements %9lld: GPU %9.1f us, CPU %9.1f us: %s\n", mm ? "n" : "n", (long long)n,
               (long long)count, tg * 1e6, tc * 1e6, tg < tc ? "GPU" : "CPU");
        for (int i = 0; i < 3; i++) {
            free(cross_host[i]);
            cross_dev[i]->ops->release(cross_dev[i]);
            hb[i]->ops->release(hb[i]);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) die("usage", "bench_gpu PLUGIN.so [ANCHORS.txt]");
    if (argc > 2) {
        FILE *f = fopen(argv[2], "r");
        if (f) {
            size_t n = fread(anchors, 1, sizeof anchors - 1, f);
            anchors[n] = 0;
            fclose(f);
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    static registry_entry e;
    char err[700], why[300];
    if (registry_load(argv[1], &e, err, sizeof err)) die("plugin", err);
    if (e.state != REGISTRY_USABLE) {
        printf("bench: skipped: the %s executor is not here: %s\n", e.name, e.why);
        return 0;
    }
    is_cuda = !strcmp(e.name, "cuda");
    gpu = e.devices[0];
    if (gpu->ops->open_queue(gpu, is_cuda ? getenv("ADEAD_CUDA_PARAMS") : NULL, &gq, err, sizeof err)) die("queue", err);
    adead_exec_device *cpu = cpu_registry()->device(0);
    if (cpu->ops->open_queue(cpu, NULL, &cpuq, err, sizeof err)) die("cpu queue", err);
    if (!(cu = cuda_driver(why, sizeof why)) || cu->Init(0)) {
        if (is_cuda) die("driver", why);
        cu = NULL; /* no NVIDIA driver (lavapipe, another vendor): no cuBLAS or CUDA copy anchors */
        printf("no CUDA driver: the figures have no cuBLAS or device-copy anchor\n");
    } else {
        CUdevice dev;
        cu->DeviceGet(&dev, 0);
        cu->PrimaryCtxRetain(&ctx, dev);
        cu->CtxPushCurrent(ctx);
    }
    printf("GPU: %s (%s); CPU executor: %s\n", gpu->name, gpu->caps & ADEAD_EXEC_CAP_EXACT ? "exact" : "inexact",
           cpuq->ops->settings(cpuq));
    if (cu) open_cublas();

    /* ADEAD_BENCH_MM=MxNxK: that MATMUL alone, 3 times (for a profiler), on the queue's kernel. */
    const char *one = getenv("ADEAD_BENCH_MM");
    if (one) {
        long long M, N, K;
        if (sscanf(one, "%lldx%lldx%lld", &M, &N, &K) != 3) die("ADEAD_BENCH_MM", "not MxNxK");
        adead_exec_buffer *a = device_random(M * K, 1), *b = device_random(K * N, 2), *c;
        if (gpu->ops->alloc(gpu, (uint64_t)(M * N) * 4, &c)) die("alloc", "C");
        adead_exec_op op = matmul_op(a, b, c, M, N, K);
        for (int i = 0; i < 3; i++) run_op(&op);
        gpu_sync();
        return 0;
    }
    /* Every MATMUL kernel on a few shapes: the table behind choose_tile (cuda_ops.c). */
    if (is_cuda && !getenv("ADEAD_BENCH_NO_TILES")) {
        static const char *const tiles[] = {"256x128x8", "128x256x8", "128x128x8", "128x128x16", "128x128x32",
                                            "128x64x16", "64x64x16",  "32x32x16",  "skinny"};
        static const int64_t shapes[][3] = {{1024, 1024, 1024}, {4096, 4096, 4096}, {64, 64, 8192}, {512, 512, 512},
                                            {256, 256, 256}, {2048, 2048, 2048}};
        printf("MATMUL by kernel (TFLOP/s):\n");
        for (int s = 0; s < 6; s++) {
            int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            adead_exec_buffer *a = device_random(M * K, 1), *b = device_random(K * N, 2), *c;
            if (gpu->ops->alloc(gpu, (uint64_t)(M * N) * 4, &c)) die("alloc", "C");
            adead_exec_op op = matmul_op(a, b, c, M, N, K);
            double flops = 2.0 * (double)M * (double)N * (double)K;
            printf("  %lldx%lldx%lld:", (long long)M, (long long)N, (long long)K);
            adead_exec_queue *keep = gq;
            for (int t = 0; t < 9; t++) {
                char params[64];
                snprintf(params, sizeof params, "matmul=%s", tiles[t]);
                if (gpu->ops->open_queue(gpu, params, &gq, err, sizeof err)) die("queue", err);
                double tt = median_time(run_op, &op, gpu_sync, reps_for(flops, 20e12));
                printf("  %s %.2f", tiles[t], flops / tt / 1e12);
                gq->ops->close(gq);
            }
            gq = keep;
            printf("\n");
            a->ops->release(a);
            b->ops->release(b);
            c->ops->release(c);
        }
    }
    if (getenv("ADEAD_BENCH_ONLY_TILES")) return 0;
    /* A software device (no CUDA driver: lavapipe) gets small shapes: it runs on this CPU. */
    int small = !cu;
    if (small) device_speed = 1e-3;
    static const int64_t mm[][3] = {{1024, 1024, 1024}, {2048, 2048, 2048}, {4096, 4096, 4096}, {8192, 8192, 8192},
                                    {64, 64, 8192},     {8192, 8192, 1024}, {4096, 1024, 4096}, {1000, 1000, 1000}};
    static const int64_t mm_small[][3] = {{256, 256, 256}, {512, 512, 512}};
    for (int i = 0; i < (small ? 2 : 8); i++)
        bench_matmul(small ? mm_small[i][0] : mm[i][0], small ? mm_small[i][1] : mm[i][1], small ? mm_small[i][2] : mm[i][2]);
    if (is_cuda) { /* fusion is the CUDA executor's */
        bench_fused(4096, 4096, 4096);
        bench_fused(8192, 8192, 1024);
    }
    bench_memory_bound(small ? 4 << 20 : 64 << 20);
    if (small) {
        bench_attention(1, 4, 256, 64, 0);
        bench_attention(1, 4, 256, 64, 1);
    } else {
        bench_attention(1, 16, 4096, 64, 0);
        bench_attention(1, 16, 4096, 64, 1);
        bench_attention(4, 16, 2048, 128, 0);
        bench_attention(4, 16, 2048, 128, 1);
    }
    static const int64_t relu_sizes[] = {1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24};
    crossover("RELU", ADEAD_K_RELU, relu_sizes, 7);
    static const int64_t mm_sizes[] = {32, 64, 128, 256, 512, 1024};
    crossover("MATMUL", ADEAD_K_MATMUL, mm_sizes, 6);
    gq->ops->close(gq);
    cpuq->ops->close(cpuq);
    return 0;
}
