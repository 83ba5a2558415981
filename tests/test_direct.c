/* The direct API (vm/direct.c): each op on caller memory gives the bits of the same op in a VM
 * program (random inputs with NaN, ±Inf, subnormals and -0.0), on the CPU, on Vulkan where a device
 * is (lavapipe in CI, let in here) and on CUDA where a GPU is; in place and overlapping outputs;
 * bad arguments, an unknown or absent backend, and calls from several threads at once. */
#include "testutil.h"

#include <pthread.h>

static adead_program *program_for(const char *op, int n_in)
{
    char src[512];
    snprintf(src, sizeof src, ".input a f32\n%s.output y f32\n %s y, a%s%s\n HALT\n",
             n_in == 1 ? "" : n_in == 2 ? ".input b f32\n" : ".input b f32\n.input c f32\n", op, n_in > 1 ? ", b" : "",
             n_in > 2 ? ", c" : "");
    return assemble_ok(src);
}

/* The VM's result of op on inputs x[i] of the given shapes, into want. */
static void vm_result(const char *op, int n_in, float *const *x, const int64_t (*dims)[3], const int *ranks, float *want,
                      size_t n_out)
{
    adead_program *p = program_for(op, n_in);
    adead_vm *vm = adead_vm_new(p);
    assert_non_null(vm);
    assert_int_equal(adead_vm_set_executor(vm, "cpu"), ADEAD_OK);
    static const char *const names[] = {"a", "b", "c"};
    for (int i = 0; i < n_in; i++) assert_int_equal(adead_vm_bind(vm, names[i], ADEAD_F32, ranks[i], dims[i], x[i]), ADEAD_OK);
    if (adead_vm_run(vm)) fail_msg("%s: %s", op, adead_vm_error(vm));
    adead_tensor_view y;
    assert_int_equal(adead_vm_output(vm, "y", &y), ADEAD_OK);
    assert_int_equal(y.nbytes, n_out * 4);
    memcpy(want, y.data, n_out * 4);
    adead_vm_free(vm);
    adead_program_free(p);
}

static float *random_floats(rng *r, size_t n)
{
    float *x = adead_alloc(n * 4 + 4);
    assert_non_null(x);
    assert_int_equal((uintptr_t)x % 64, 0);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = rng_u32(r) % 8 == 0 ? rng_f32_bits(r) : 0;
        float f = ((float)(rng_u32(r) >> 8) / 8388608.0f - 1.0f) * 3.0f;
        if (u) memcpy(&f, &u, 4);
        x[i] = f;
    }
    return x;
}

static void same_bits(const char *what, const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], 4)) {
            uint32_t g, w;
            memcpy(&g, &got[i], 4);
            memcpy(&w, &want[i], 4);
            fail_msg("%s (backend %d): element %zu is 0x%08X, the VM's 0x%08X", what, adead_backend(), i, g, w);
        }
}

/* Every op on a few shapes against the VM, on the backend now initialised. */
static void all_ops_match(uint64_t seed)
{
    rng r = {seed};
    static const int mm[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {128, 64, 96}, {3, 0, 4}};
    for (size_t s = 0; s < sizeof mm / sizeof mm[0]; s++) {
        int m = mm[s][0], k = mm[s][1], n = mm[s][2];
        float *a = random_floats(&r, (size_t)(m * k)), *b = random_floats(&r, (size_t)(k * n));
        float *c = adead_alloc((size_t)(m * n) * 4), *want = malloc((size_t)(m * n) * 4 + 4);
        float *x[2] = {a, b};
        int64_t dims[2][3] = {{m, k}, {k, n}};
        int ranks[2] = {2, 2};
        vm_result("MATMUL", 2, x, (const int64_t(*)[3])dims, ranks, want, (size_t)(m * n));
        if (adead_matmul(a, b, c, m, n, k)) fail_msg("adead_matmul: %s", adead_last_error());
        same_bits("adead_matmul", c, want, (size_t)(m * n));
        adead_free(a);
        adead_free(b);
        adead_free(c);
        free(want);
    }
    static const int sm[][2] = {{1, 1}, {3, 31}, {5, 100}, {2, 1500}};
    for (size_t s = 0; s < sizeof sm / sizeof sm[0]; s++) {
        int rows = sm[s][0], cols = sm[s][1];
        size_t n = (size_t)(rows * cols);
        float *a = random_floats(&r, n), *y = adead_alloc(n * 4), *want = malloc(n * 4);
        float *x[1] = {a};
        int64_t dims[1][3] = {{rows, cols}};
        int ranks[1] = {2};
        vm_result("SOFTMAX", 1, x, (const int64_t(*)[3])dims, ranks, want, n);
        assert_int_equal(adead_softmax(a, y, rows, cols), ADEAD_OK);
        same_bits("adead_softmax", y, want, n);
        assert_int_equal(adead_softmax(a, a, rows, cols), ADEAD_OK); /* in place */
        same_bits("adead_softmax in place", a, want, n);
        vm_result("RELU", 1, x, (const int64_t(*)[3])dims, ranks, want, n);
        assert_int_equal(adead_relu(a, y, (int)n), ADEAD_OK);
        same_bits("adead_relu", y, want, n);
        adead_free(a);
        adead_free(y);
        free(want);
    }
    static const int at[][3] = {{5, 3, 1}, {70, 16, 2}, {33, 64, 3}}; /* seq_len, dim, heads */
    for (size_t s = 0; s < sizeof at / sizeof at[0]; s++) {
        int seq = at[s][0], dim = at[s][1], heads = at[s][2];
        size_t n = (size_t)(seq * dim * heads);
        float *q = random_floats(&r, n), *k = random_floats(&r, n), *v = random_floats(&r, n), *o = adead_alloc(n * 4);
        float *want = malloc(n * 4);
        float *x[3] = {q, k, v};
        int64_t dims[3][3] = {{heads, seq, dim}, {heads, seq, dim}, {heads, seq, dim}};
        int ranks[3] = {3, 3, 3};
        vm_result("ATTENTION", 3, x, (const int64_t(*)[3])dims, ranks, want, n);
        if (adead_attention(q, k, v, o, seq, dim, heads)) fail_msg("adead_attention: %s", adead_last_error());
        same_bits("adead_attention", o, want, n);
        assert_int_equal(adead_attention(q, k, v, q, seq, dim, heads), ADEAD_OK); /* onto an input: scratch */
        same_bits("adead_attention onto q", q, want, n);
        adead_free(q);
        adead_free(k);
        adead_free(v);
        adead_free(o);
        free(want);
    }
}

static void test_cpu(void **state)
{
    (void)state;
    assert_int_equal(adead_init(ADEAD_BACKEND_CPU), ADEAD_OK);
    assert_int_equal(adead_backend(), ADEAD_BACKEND_CPU);
    all_ops_match(1);
    /* MATMUL onto one of its inputs: computed into scratch first. */
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    assert_int_equal(adead_matmul(a, b, a, 2, 2, 2), ADEAD_OK);
    assert_true(a[0] == 19 && a[1] == 22 && a[2] == 43 && a[3] == 50);
    adead_shutdown();
    assert_int_equal(adead_backend(), -2);
}

static void test_auto_first_call(void **state)
{
    (void)state;
    adead_shutdown();
    float x[3] = {-1, 0.5f, -0.0f}, y[3];
    assert_int_equal(adead_relu(x, y, 3), ADEAD_OK); /* initialises AUTO */
    assert_int_equal(adead_backend(), ADEAD_BACKEND_AUTO);
    assert_true(y[0] == 0 && y[1] == 0.5f);
    all_ops_match(2);
    adead_shutdown();
}

static void test_devices(void **state)
{
    (void)state;
    static const struct {
        int backend;
        const char *name;
    } gpus[] = {{ADEAD_BACKEND_VULKAN, "vulkan"}, {ADEAD_BACKEND_CUDA, "cuda"}};
    for (int g = 0; g < 2; g++) {
        int rc = gpus[g].backend == ADEAD_BACKEND_VULKAN ? adead_vulkan_init() : adead_init(gpus[g].backend);
        if (rc) {
            assert_int_equal(rc, ADEAD_E_ARG);
            const char *why = adead_last_error();
            if (!strstr(why, "adead_init: ") || !strstr(why, gpus[g].name)) fail_msg("message: %s", why);
            printf("skip %s backend: %s\n", gpus[g].name, why);
            assert_int_equal(adead_backend(), -2);
            continue;
        }
        all_ops_match(10 + (uint64_t)g);
        adead_shutdown();
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_int_equal(adead_init(7), ADEAD_E_ARG);
    assert_non_null(strstr(adead_last_error(), "backend 7 is not one of"));
    assert_int_equal(adead_init(ADEAD_BACKEND_CPU), ADEAD_OK);
    float x[4] = {0};
    assert_int_equal(adead_matmul(x, x, x, -1, 2, 2), ADEAD_E_ARG);
    assert_non_null(strstr(adead_last_error(), "adead_matmul: m = -1"));
    assert_int_equal(adead_matmul(NULL, x, x, 2, 2, 2), ADEAD_E_ARG);
    assert_non_null(strstr(adead_last_error(), "input 1 is NULL"));
    assert_int_equal(adead_softmax(x, NULL, 2, 2), ADEAD_E_ARG);
    assert_non_null(strstr(adead_last_error(), "the output is NULL"));
    assert_int_equal(adead_softmax(x, x, 2, 0), ADEAD_E_ARG);
    assert_int_equal(adead_relu(x, x, -3), ADEAD_E_ARG);
    assert_int_equal(adead_attention(x, x, x, x, 2, -2, 1), ADEAD_E_ARG);
    assert_int_equal(adead_matmul(NULL, NULL, NULL, 0, 0, 0), ADEAD_OK); /* nothing to do */
    assert_int_equal(adead_relu(NULL, NULL, 0), ADEAD_OK);
    adead_free(NULL);
    adead_shutdown();
}

static void *worker(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    rng r = {seed};
    for (int it = 0; it < 20; it++) {
        float *a = random_floats(&r, 64 * 64), *b = random_floats(&r, 64 * 64), *c = adead_alloc(64 * 64 * 4),
              *d = adead_alloc(64 * 64 * 4);
        if (adead_matmul(a, b, c, 64, 64, 64) || adead_matmul(a, b, d, 64, 64, 64) || memcmp(c, d, 64 * 64 * 4))
            return (void *)1;
        adead_free(a);
        adead_free(b);
        adead_free(c);
        adead_free(d);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    assert_int_equal(adead_init(ADEAD_BACKEND_CPU), ADEAD_OK);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1)), 0);
    for (int i = 0; i < 4; i++) {
        void *res;
        pthread_join(t[i], &res);
        assert_null(res);
    }
    adead_shutdown();
}

int main(void)
{
    if (!getenv("ADEAD_VK_DEVICE")) setenv("ADEAD_VK_SOFTWARE", "1", 1); /* lavapipe counts, as in test_vulkan */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu),          cmocka_unit_test(test_auto_first_call), cmocka_unit_test(test_devices),
        cmocka_unit_test(test_bad_arguments), cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
