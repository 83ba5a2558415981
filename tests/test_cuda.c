/* The CUDA executor (backends/cuda/, libadeadvm-cuda.so). Without the plugin file (no nvcc at
 * build time) or without a GPU, the GPU tests skip with one line each; what can be checked
 * anyway is: the plugin loads without the driver and says why it is not here, and
 * `--executor cuda` is refused with that reason while the program still runs on the CPU.
 * On a GPU: every kernel against the CPU executor (itself bit-exact with the scalar reference,
 * tests/test_kernels.c), bit for bit, on random shapes (1, odd, tile non-multiples, 4096 and
 * more, 64x64x8192) with NaN, ±Inf, subnormals, -0.0 and values near overflow; every MATMUL tile
 * shape; unaligned tensors; then every example and a corpus of programs give the CPU's digest
 * and printed text with `--executor cuda`, with device memory that runs out, and in fuel
 * slices. */
#include "../backends/cpu/cpu_reg.h"
#include "../backends/registry.h"
#include "program_corpus.h"
#include "testutil.h"

#include <math.h>
#include <time.h>
#include <unistd.h>

static registry_entry cuda_entry;
static int plugin_present, gpu_usable;
static char plugin_path[600], skip_why[700];
static adead_exec_device *gpu;
static adead_exec_queue *gq, *cq;

static int setup(void **state)
{
    (void)state;
    snprintf(plugin_path, sizeof plugin_path, "%s/lib/adeadvm/libadeadvm-cuda.so", build_dir());
    plugin_present = access(plugin_path, R_OK) == 0;
    if (!plugin_present) {
        snprintf(skip_why, sizeof skip_why, "%s was not built (no nvcc)", plugin_path);
        return 0;
    }
    char err[700];
    if (registry_load(plugin_path, &cuda_entry, err, sizeof err)) fail_msg("%s", err);
    if (cuda_entry.state != REGISTRY_USABLE) {
        snprintf(skip_why, sizeof skip_why, "%s", cuda_entry.why);
        return 0;
    }
    gpu = cuda_entry.devices[0];
    if (!(gpu->caps & ADEAD_EXEC_CAP_EXACT)) fail_msg("%s failed its conformance probe: %s", gpu->name, gpu->inexact_reason);
    if (gpu->ops->open_queue(gpu, NULL, &gq, err, sizeof err)) fail_msg("cuda queue: %s", err);
    adead_exec_device *cpu = cpu_registry()->device(0);
    if (cpu->ops->open_queue(cpu, NULL, &cq, err, sizeof err)) fail_msg("cpu queue: %s", err);
    gpu_usable = 1;
    printf("cuda: %s\n", gpu->name);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (gq) gq->ops->close(gq);
    if (cq) cq->ops->close(cq);
    return 0;
}

static void need_gpu(void)
{
    if (gpu_usable) return;
    static int said;
    if (!said++) printf("skip cuda: %s\n", skip_why);
    skip();
}

/* ---- the plugin without a GPU ---- */

static void test_plugin_loads_or_says_why(void **state)
{
    (void)state;
    if (!plugin_present) {
        printf("skip cuda: %s\n", skip_why);
        skip();
    }
    assert_string_equal(cuda_entry.name, "cuda");
    if (cuda_entry.state == REGISTRY_NOT_HERE) {
        assert_true(strlen(cuda_entry.why) > 0);
        assert_null(strchr(cuda_entry.why, '\n'));
    } else {
        assert_int_equal(cuda_entry.state, REGISTRY_USABLE);
        assert_true(cuda_entry.n_devices >= 1);
    }
    char *info = adead_system_info();
    assert_non_null(info);
    if (!strstr(info, "executor cuda: ")) fail_msg("--info lacks the cuda line:\n%s", info);
    free(info);
}

static adead_program *assemble(const char *src)
{
    adead_program *p = NULL;
    char err[4096];
    if (adead_program_assemble(src, strlen(src), "test.adasm", &p, err, sizeof err)) fail_msg("%s", err);
    return p;
}

static void test_executor_choice(void **state)
{
    (void)state;
    adead_program *p = assemble(".const a0 f32 [2, 2] = [1, 2, 3, 4]\n.tensor a f32\n.output c f32\n"
                                " TLOADK a, a0\n MATMUL c, a, a\n HALT\n");
    adead_vm *vm = adead_vm_new(p);
    assert_non_null(vm);
    assert_int_equal(adead_vm_set_executor(vm, "cpu"), ADEAD_OK);
    assert_int_equal(adead_vm_set_executor(vm, "nonesuch"), ADEAD_E_ARG);
    if (!strstr(adead_vm_error(vm), "no executor \"nonesuch\" here (auto, cpu"))
        fail_msg("message: %s", adead_vm_error(vm));
    int rc = adead_vm_set_executor(vm, "cuda");
    if (gpu_usable) {
        assert_int_equal(rc, ADEAD_OK);
    } else if (plugin_present) {
        assert_int_equal(rc, ADEAD_E_ARG);
        if (!strstr(adead_vm_error(vm), "executor cuda is not usable here: ")) fail_msg("message: %s", adead_vm_error(vm));
    }
    assert_int_equal(adead_vm_run(vm), ADEAD_OK); /* on the CPU when cuda was refused */
    adead_tensor_view c;
    assert_int_equal(adead_vm_output(vm, "c", &c), ADEAD_OK);
    assert_true(((const float *)c.data)[3] == 22.0f);
    adead_vm_free(vm);
    adead_program_free(p);
}

/* ---- kernels, bit for bit against the CPU executor ---- */

typedef struct {
    uint32_t dtype;
    int rank;
    int64_t dims[4];
} shape;

static int64_t shape_count(const shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->dims[i];
    return n;
}

static size_t elem_size(uint32_t dt) { return dt == ADEAD_EXEC_I64 ? 8 : 4; }

/* Random inputs: 1 in `special` values from rng_f32_bits (NaN, ±Inf, subnormals, ±0, near
 * overflow, tiny), the rest uniform in [-2, 2). 0: any bits (TRANSPOSE moves them). */
static void fill_random(rng *r, void *data, int64_t n, size_t es, int special)
{
    uint32_t *u = data;
    int64_t words = n * (int64_t)(es / 4);
    for (int64_t i = 0; i < words; i++) {
        if (!special || rng_u32(r) % (uint32_t)special == 0) {
            u[i] = special ? rng_f32_bits(r) : rng_u32(r);
        } else {
            float f = ((float)(rng_u32(r) >> 8) / 8388608.0f - 1.0f) * 2.0f;
            memcpy(&u[i], &f, 4);
        }
    }
}

static adead_exec_tensor tensor_of(const shape *s, adead_exec_buffer *b, uint64_t offset)
{
    adead_exec_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = s->dtype;
    t.rank = s->rank;
    memcpy(t.dims, s->dims, sizeof t.dims);
    t.count = shape_count(s);
    t.ref.buf = b;
    t.ref.offset = offset;
    return t;
}

static void check(adead_exec_queue *q, adead_exec_status st, const char *what)
{
    if (st) fail_msg("%s: status %d: %s", what, st, q->ops->last_error(q));
}

/* Runs kernel on the GPU (tensors at byte offset `offset` in their buffers) and on the CPU and
 * compares the results' bits. */
static void run_case(uint32_t kernel, const shape *in, int n_in, const shape *out, int special, uint64_t seed,
                     uint64_t offset, const char *params)
{
    rng r = {seed * 0x9E3779B97F4A7C15ull + 1};
    void *host[3] = {NULL, NULL, NULL};
    adead_exec_buffer *gb[4] = {NULL, NULL, NULL, NULL}, *cb[4] = {NULL, NULL, NULL, NULL};
    adead_exec_device *cpu = cpu_registry()->device(0);
    adead_exec_op gop, cop;
    memset(&gop, 0, sizeof gop);
    gop.kernel = kernel;
    gop.n_in = (uint32_t)n_in;
    cop = gop;
    adead_exec_queue *q = gq;
    char err[256];
    if (params) check(gq, gpu->ops->open_queue(gpu, params, &q, err, sizeof err), params);
    for (int i = 0; i < n_in; i++) {
        size_t bytes = (size_t)shape_count(&in[i]) * elem_size(in[i].dtype);
        host[i] = malloc(bytes ? bytes : 1);
        assert_non_null(host[i]);
        fill_random(&r, host[i], shape_count(&in[i]), elem_size(in[i].dtype), special);
        check(q, gpu->ops->alloc(gpu, bytes + offset, &gb[i]), "alloc");
        check(q, q->ops->copy_in(q, (adead_exec_ref){gb[i], offset}, host[i], bytes), "copy_in");
        check(cq, cpu->ops->wrap_host(cpu, host[i], bytes ? bytes : 1, &cb[i]), "wrap_host");
        gop.in[i] = tensor_of(&in[i], gb[i], offset);
        cop.in[i] = tensor_of(&in[i], cb[i], 0);
    }
    size_t obytes = (size_t)shape_count(out) * elem_size(out->dtype);
    unsigned char *got = malloc(obytes + 1), *want = malloc(obytes + 1);
    assert_non_null(got);
    assert_non_null(want);
    memset(got, 0xA5, obytes);
    check(q, gpu->ops->alloc(gpu, obytes + offset, &gb[3]), "alloc");
    check(cq, cpu->ops->wrap_host(cpu, want, obytes + 1, &cb[3]), "wrap_host");
    gop.out = tensor_of(out, gb[3], offset);
    cop.out = tensor_of(out, cb[3], 0);
    if (!gpu->ops->supports(gpu, &gop)) fail_msg("kernel %u: not supported on the GPU", kernel);
    adead_exec_ticket t;
    check(q, q->ops->submit(q, &gop, 1, &t), "submit");
    check(q, q->ops->copy_out(q, got, gop.out.ref, obytes), "copy_out");
    check(q, q->ops->wait(q, 0), "wait");
    check(cq, cq->ops->submit(cq, &cop, 1, &t), "cpu submit");
    check(cq, cq->ops->wait(cq, t), "cpu wait");
    size_t es = elem_size(out->dtype);
    for (size_t i = 0; i < obytes; i += es)
        if (memcmp(got + i, want + i, es)) {
            uint32_t g, w;
            memcpy(&g, got + i, 4);
            memcpy(&w, want + i, 4);
            char dims[96] = "";
            for (int k = 0; k < n_in; k++) {
                size_t n = strlen(dims);
                snprintf(dims + n, sizeof dims - n, "%s[%lld,%lld,%lld,%lld]", k ? " " : "", (long long)in[k].dims[0],
                         (long long)in[k].dims[1], (long long)in[k].dims[2], (long long)in[k].dims[3]);
            }
            fail_msg("kernel %u %s seed %llu%s%s: element %zu is 0x%08X on the GPU, 0x%08X on the CPU", kernel, dims,
                     (unsigned long long)seed, params ? " " : "", params ? params : "", i / es, g, w);
        }
    for (int i = 0; i < 4; i++) {
        if (gb[i]) gb[i]->ops->release(gb[i]);
        if (cb[i]) cb[i]->ops->release(cb[i]);
    }
    for (int i = 0; i < 3; i++) free(host[i]);
    free(got);
    free(want);
    if (q != gq) q->ops->close(q);
}

static shape f32s(int rank, int64_t a, int64_t b, int64_t c, int64_t d)
{
    shape s = {ADEAD_EXEC_F32, rank, {a, b, c, d}};
    return s;
}

static void matmul_case(int64_t M, int64_t K, int64_t N, int special, uint64_t seed, const char *params)
{
    shape in[2] = {f32s(2, M, K, 0, 0), f32s(2, K, N, 0, 0)}, out = f32s(2, M, N, 0, 0);
    run_case(ADEAD_K_MATMUL, in, 2, &out, special, seed, 0, params);
}

static void test_matmul(void **state)
{
    (void)state;
    need_gpu();
    static const int64_t shapes[][3] = {
        {1, 1, 1},     {1, 7, 1},      {3, 5, 2},      {2, 0, 3},       {17, 33, 9},     {33, 17, 35},
        {64, 64, 64},  {127, 129, 131}, {128, 8, 128}, {129, 7, 257},   {256, 256, 256}, {1000, 1000, 1000},
        {64, 8192, 64}, {4096, 64, 4096}, {4100, 3, 4097}, {1, 4096, 4096}, {4096, 4096, 1}, {2048, 2048, 2048},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        matmul_case(shapes[i][0], shapes[i][1], shapes[i][2], 64, i, NULL);
        if (shapes[i][1] <= 64) matmul_case(shapes[i][0], shapes[i][1], shapes[i][2], 4, 100 + i, NULL); /* mostly edge values */
    }
    static const char *const tiles[] = {"matmul=256x128x8",  "matmul=128x256x8", "matmul=128x128x8",
                                        "matmul=128x128x16", "matmul=128x128x32", "matmul=128x64x16",
                                        "matmul=64x64x16",   "matmul=32x32x16",  "matmul=skinny"};
    for (int t = 0; t < 9; t++) {
        matmul_case(64, 300, 96, 32, 500 + t, tiles[t]);   /* K % 4 == 0, N % 4 == 0, a k tail */
        matmul_case(300, 77, 260, 32, 200 + t, tiles[t]);  /* vec path, edges in M, N and k */
        matmul_case(131, 20, 67, 8, 300 + t, tiles[t]);    /* N % 4 != 0 */
        matmul_case(1, 1, 1, 2, 400 + t, tiles[t]);
    }
}

static void test_matmul_8192(void **state)
{
    (void)state;
    need_gpu();
    matmul_case(8192, 1024, 8192, 256, 7, NULL);
}

static void test_softmax(void **state)
{
    (void)state;
    need_gpu();
    static const int64_t shapes[][2] = {{1, 1},   {3, 31},  {5, 32},    {7, 33},   {2, 100},  {64, 1024}, {3, 1025},
                                        {2, 5000}, {1000, 128}, {65536, 64}, {5, 8192}, {1, 70000}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int special = 2; special <= 256; special *= 16) {
            shape s = f32s(2, shapes[i][0], shapes[i][1], 0, 0);
            run_case(ADEAD_K_SOFTMAX, &s, 1, &s, special, i * 7 + (uint64_t)special, 0, NULL);
        }
    shape r3 = f32s(3, 4, 3, 64, 0);
    run_case(ADEAD_K_SOFTMAX, &r3, 1, &r3, 16, 99, 0, NULL);
    run_case(ADEAD_K_SOFTMAX, &r3, 1, &r3, 16, 98, 4, NULL); /* unaligned */
}

static void test_relu_transpose(void **state)
{
    (void)state;
    need_gpu();
    static const int64_t ns[] = {1, 3, 4, 1023, (1 << 20) + 3, 1 << 24};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        shape s = f32s(1, ns[i], 0, 0, 0);
        run_case(ADEAD_K_RELU, &s, 1, &s, 3, i, 0, NULL);
        run_case(ADEAD_K_RELU, &s, 1, &s, 3, i, 4, NULL); /* not 16-byte aligned: the scalar path */
    }
    static const int64_t ts[][2] = {{1, 1}, {3, 5}, {33, 65}, {1000, 999}, {64, 64}, {1, 4097}, {4097, 1}, {4096, 4096}};
    static const uint32_t dts[] = {ADEAD_EXEC_F32, ADEAD_EXEC_I32, ADEAD_EXEC_I64};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        for (int d = 0; d < 3; d++) {
            shape a = {dts[d], 2, {ts[i][0], ts[i][1], 0, 0}}, o = {dts[d], 2, {ts[i][1], ts[i][0], 0, 0}};
            run_case(ADEAD_K_TRANSPOSE, &a, 1, &o, 0, i * 3 + (uint64_t)d, d == 1 ? 4 : 0, NULL);
        }
}

static void test_elementwise(void **state)
{
    (void)state;
    need_gpu();
    static const struct {
        shape a, b, o;
    } cases[] = {
        {{1, 1, {1000}}, {1, 1, {1000}}, {1, 1, {1000}}},
        {{1, 1, {1}}, {1, 1, {1000}}, {1, 1, {1000}}},
        {{1, 2, {3, 1000}}, {1, 0, {0}}, {1, 2, {3, 1000}}}, /* b: rank 0, one element */
        {{1, 2, {5, 1}}, {1, 2, {1, 7}}, {1, 2, {5, 7}}},
        {{1, 3, {2, 3, 4}}, {1, 1, {4}}, {1, 3, {2, 3, 4}}},
        {{1, 3, {3, 1, 5}}, {1, 3, {1, 4, 1}}, {1, 3, {3, 4, 5}}},
        {{1, 4, {2, 1, 3, 1}}, {1, 4, {1, 4, 1, 6}}, {1, 4, {2, 4, 3, 6}}},
        {{1, 2, {64, 1}}, {1, 2, {64, 4096}}, {1, 2, {64, 4096}}},
        {{1, 2, {70000, 3}}, {1, 1, {3}}, {1, 2, {70000, 3}}},
        {{1, 1, {1 << 24}}, {1, 1, {1 << 24}}, {1, 1, {1 << 24}}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (uint32_t k = ADEAD_K_TADD; k <= ADEAD_K_TMUL; k++) {
            shape in[2] = {cases[i].a, cases[i].b};
            run_case(k, in, 2, &cases[i].o, 3, i * 3 + k, i % 2 ? 4 : 0, NULL);
        }
}

static void attention_case(uint32_t kernel, int rank, const int64_t *lead, int64_t sq, int64_t sk, int64_t d,
                           int64_t dv, int special, uint64_t seed, const char *params)
{
    shape in[3], out;
    int64_t tails[4][2] = {{sq, d}, {sk, d}, {sk, dv}, {sq, dv}};
    shape *all[4] = {&in[0], &in[1], &in[2], &out};
    for (int t = 0; t < 4; t++) {
        *all[t] = f32s(rank, 0, 0, 0, 0);
        for (int i = 0; i < rank - 2; i++) all[t]->dims[i] = lead[i];
        all[t]->dims[rank - 2] = tails[t][0];
        all[t]->dims[rank - 1] = tails[t][1];
    }
    run_case(kernel, in, 3, &out, special, seed, 0, params);
}

static void test_attention(void **state)
{
    (void)state;
    need_gpu();
    static const int64_t lead1[] = {1, 1}, lead23[] = {2, 3};
    static const struct {
        int rank;
        const int64_t *lead;
        int64_t sq, sk, d, dv;
    } cases[] = {
        {2, NULL, 5, 7, 3, 2},         {4, lead23, 17, 70, 8, 5},  {3, lead1, 64, 64, 64, 64},
        {3, lead1, 130, 200, 40, 33}, {3, lead23, 9, 65, 256, 256}, {3, lead1, 100, 30, 16, 16},
        {3, lead1, 30, 100, 16, 16},  {2, NULL, 2, 0, 3, 4},       {2, NULL, 3, 5, 0, 2},
        {3, lead23, 1, 129, 128, 128}, {4, lead23, 257, 257, 64, 64}, {3, lead1, 2048, 2048, 64, 64},
        {3, lead1, 300, 333, 128, 100}, {3, lead1, 70, 90, 7, 200},   {3, lead1, 129, 64, 256, 128},
        {3, lead23, 65, 65, 1, 1},
    };
    static const char *const kernels[] = {NULL, "attention=warp"}; /* the tiled kernel where it runs, the warp one */
    for (int w = 0; w < 2; w++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (uint32_t k = ADEAD_K_ATTENTION; k <= ADEAD_K_ATTENTION_CAUSAL; k++) {
                attention_case(k, cases[i].rank, cases[i].lead, cases[i].sq, cases[i].sk, cases[i].d, cases[i].dv, 128,
                               i * 2 + k, kernels[w]);
                if (cases[i].sk <= 70) /* NaN and Inf somewhere in most rows */
                    attention_case(k, cases[i].rank, cases[i].lead, cases[i].sq, cases[i].sk, cases[i].d, cases[i].dv, 16,
                                   50 + i * 2 + k, kernels[w]);
            }
}

static void test_bad_params(void **state)
{
    (void)state;
    need_gpu();
    adead_exec_queue *q = NULL;
    char err[256];
    assert_int_equal(gpu->ops->open_queue(gpu, "matmul=7x7", &q, err, sizeof err), ADEAD_EXEC_BAD_PARAMS);
    assert_non_null(strstr(err, "not a tile"));
    assert_int_equal(gpu->ops->open_queue(gpu, "threads=3", &q, err, sizeof err), ADEAD_EXEC_BAD_PARAMS);
    assert_non_null(strstr(err, "unknown parameter \"threads=3\""));
    assert_int_equal(gpu->ops->open_queue(gpu, "matmul=64x64x16", &q, err, sizeof err), ADEAD_EXEC_OK);
    assert_string_equal(q->ops->settings(q), "matmul=64x64x16,attention=tiled,fuse=on");
    q->ops->close(q);
    assert_int_equal(gpu->ops->open_queue(gpu, "attention=warp,matmul=skinny,fuse=off", &q, err, sizeof err), ADEAD_EXEC_OK);
    assert_string_equal(q->ops->settings(q), "matmul=skinny,attention=warp,fuse=off");
    q->ops->close(q);
}

/* ---- fused runs: sequences of ops submitted together, against the CPU ---- */

typedef struct {
    shape s;
    int special; /* fill_random's; 0 with s.rank < 0 never happens: every tensor starts random */
} seq_tensor;

typedef struct {
    uint32_t kernel;
    int out, in[3], n_in;
} seq_op;

/* Runs ops[] in one submit on the GPU (queue params) and on the CPU over tensors[] (random, from
 * seed) and compares every tensor's bits afterwards. */
static void run_sequence(const seq_tensor *ts, int n_t, const seq_op *ops, int n_ops, uint64_t seed, const char *params)
{
    enum { MAXT = 8, MAXOPS = 12 };
    assert_true(n_t <= MAXT && n_ops <= MAXOPS);
    rng r = {seed * 0x9E3779B97F4A7C15ull + 3};
    adead_exec_device *cpu = cpu_registry()->device(0);
    adead_exec_queue *q = gq;
    char err[256];
    if (params) check(gq, gpu->ops->open_queue(gpu, params, &q, err, sizeof err), params);
    float *host[MAXT], *got[MAXT];
    adead_exec_buffer *gb[MAXT], *cb[MAXT];
    for (int i = 0; i < n_t; i++) {
        size_t bytes = (size_t)shape_count(&ts[i].s) * 4;
        host[i] = malloc(bytes);
        got[i] = malloc(bytes);
        assert_true(host[i] && got[i]);
        fill_random(&r, host[i], shape_count(&ts[i].s), 4, ts[i].special);
        check(q, gpu->ops->alloc(gpu, bytes, &gb[i]), "alloc");
        check(q, q->ops->copy_in(q, (adead_exec_ref){gb[i], 0}, host[i], bytes), "copy_in");
        check(cq, cpu->ops->wrap_host(cpu, host[i], bytes, &cb[i]), "wrap_host");
    }
    adead_exec_op g[MAXOPS], c[MAXOPS];
    for (int k = 0; k < n_ops; k++) {
        memset(&g[k], 0, sizeof g[k]);
        g[k].kernel = ops[k].kernel;
        g[k].n_in = (uint32_t)ops[k].n_in;
        c[k] = g[k];
        g[k].out = tensor_of(&ts[ops[k].out].s, gb[ops[k].out], 0);
        c[k].out = tensor_of(&ts[ops[k].out].s, cb[ops[k].out], 0);
        for (int j = 0; j < ops[k].n_in; j++) {
            g[k].in[j] = tensor_of(&ts[ops[k].in[j]].s, gb[ops[k].in[j]], 0);
            c[k].in[j] = tensor_of(&ts[ops[k].in[j]].s, cb[ops[k].in[j]], 0);
        }
    }
    adead_exec_ticket t;
    check(q, q->ops->submit(q, g, (uint32_t)n_ops, &t), "submit");
    for (int i = 0; i < n_t; i++)
        check(q, q->ops->copy_out(q, got[i], (adead_exec_ref){gb[i], 0}, (uint64_t)shape_count(&ts[i].s) * 4), "copy_out");
    check(q, q->ops->wait(q, 0), "wait");
    for (int k = 0; k < n_ops; k++) {
        check(cq, cq->ops->submit(cq, &c[k], 1, &t), "cpu submit");
        check(cq, cq->ops->wait(cq, t), "cpu wait");
    }
    for (int i = 0; i < n_t; i++) {
        int64_t n = shape_count(&ts[i].s);
        for (int64_t e = 0; e < n; e++)
            if (memcmp(&got[i][e], &host[i][e], 4)) {
                uint32_t a, b;
                memcpy(&a, &got[i][e], 4);
                memcpy(&b, &host[i][e], 4);
                fail_msg("sequence seed %llu%s%s: tensor %d element %lld is 0x%08X on the GPU, 0x%08X on the CPU",
                         (unsigned long long)seed, params ? " " : "", params ? params : "", i, (long long)e, a, b);
            }
        gb[i]->ops->release(gb[i]);
        cb[i]->ops->release(cb[i]);
        free(host[i]);
        free(got[i]);
    }
    if (q != gq) q->ops->close(q);
}

static void test_fused_runs(void **state)
{
    (void)state;
    need_gpu();
    enum { A, B, C, BIAS, S, FULL, Y, Z };
    const seq_tensor ts[] = {
        {f32s(2, 300, 77, 0, 0), 64}, {f32s(2, 77, 260, 0, 0), 64}, {f32s(2, 300, 260, 0, 0), 64},
        {f32s(1, 260, 0, 0, 0), 8},   {f32s(0, 0, 0, 0, 0), 4},     {f32s(2, 300, 260, 0, 0), 8},
        {f32s(2, 300, 260, 0, 0), 8}, {f32s(2, 300, 260, 0, 0), 8},
    };
    /* A MATMUL with five steps in its epilogue (bias row, relu, scalar, full with the chain value
     * second, relu), then an elementwise run onto another tensor broken by SOFTMAX and by an op
     * whose other operand is the run's own result. */
    const seq_op mm_run[] = {
        {ADEAD_K_MATMUL, C, {A, B}, 2}, {ADEAD_K_TADD, C, {C, BIAS}, 2}, {ADEAD_K_RELU, C, {C}, 1},
        {ADEAD_K_TMUL, C, {C, S}, 2},   {ADEAD_K_TSUB, C, {FULL, C}, 2}, {ADEAD_K_RELU, C, {C}, 1},
        {ADEAD_K_TADD, Y, {FULL, BIAS}, 2}, {ADEAD_K_TSUB, Y, {S, Y}, 2}, {ADEAD_K_SOFTMAX, Y, {Y}, 1},
        {ADEAD_K_RELU, Y, {Y}, 1},      {ADEAD_K_TMUL, Y, {Y, Y}, 2},   {ADEAD_K_TADD, Z, {Y, C}, 2},
    };
    for (uint64_t seed = 1; seed <= 3; seed++) {
        run_sequence(ts, 8, mm_run, 12, seed, NULL);
        run_sequence(ts, 8, mm_run, 12, seed, "fuse=off");
        run_sequence(ts, 8, mm_run, 12, seed, "matmul=skinny");
    }
    /* Seven in-place steps: the run is cut at FUSE_MAX and goes on as a second run. */
    const seq_op long_run[] = {
        {ADEAD_K_MATMUL, C, {A, B}, 2}, {ADEAD_K_TADD, C, {C, BIAS}, 2}, {ADEAD_K_TMUL, C, {C, S}, 2},
        {ADEAD_K_TSUB, C, {C, FULL}, 2}, {ADEAD_K_RELU, C, {C}, 1},      {ADEAD_K_TADD, C, {BIAS, C}, 2},
        {ADEAD_K_TMUL, C, {FULL, C}, 2}, {ADEAD_K_RELU, C, {C}, 1},
    };
    run_sequence(ts, 8, long_run, 8, 9, NULL);
    /* Rows of 77: no float4 path. */
    const seq_tensor odd[] = {{f32s(2, 33, 77, 0, 0), 8}, {f32s(1, 77, 0, 0, 0), 8}, {f32s(2, 33, 77, 0, 0), 8}};
    const seq_op odd_run[] = {{ADEAD_K_TADD, 2, {0, 1}, 2}, {ADEAD_K_RELU, 2, {2}, 1}, {ADEAD_K_TMUL, 2, {0, 2}, 2}};
    run_sequence(odd, 3, odd_run, 3, 10, NULL);
}

/* ---- programs: the digest and the printed text of a CPU run ---- */

static void choose_executor(adead_vm *vm, void *name)
{
    if (adead_vm_set_executor(vm, name)) fail_msg("%s: %s", (const char *)name, adead_vm_error(vm));
}

static void programs_match(uint64_t gpu_limit, uint64_t fuel_step, const char *how)
{
    for (size_t i = 0; i < N_CORPUS; i++) {
        outcome want = corpus_run(&corpus[i], choose_executor, "cpu", 0, 0);
        outcome got = corpus_run(&corpus[i], choose_executor, "cuda", gpu_limit, fuel_step);
        expect_same(&corpus[i], &want, &got, how);
    }
}

static void test_programs(void **state)
{
    (void)state;
    need_gpu();
    programs_match(0, 0, "with --executor cuda");
    programs_match(256, 0, "with 256 bytes of GPU memory");
    programs_match(0, 5, "in fuel slices of 5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_loads_or_says_why),
        cmocka_unit_test(test_executor_choice),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_matmul_8192),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_relu_transpose),
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_fused_runs),
        cmocka_unit_test(test_programs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
