/* Tensor ops against a second implementation written here from docs/ops.md (different loop
 * orders and indexing than the reference kernels), compared bit for bit on random inputs
 * full of NaN, ±Inf, subnormals, -0 and values near overflow. */
#include "../isa/f32.h"
#include "testutil.h"

/* Runs `src` with f32 inputs a (and b when given) and returns output c (malloc'd) and its shape. */
typedef struct {
    int rank;
    int64_t dims[4];
} shape;

static int64_t count_of(const shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->dims[i];
    return n;
}

static float *random_f32(rng *r, int64_t n)
{
    float *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = f32_from(rng_f32_bits(r));
    return v;
}

static float *run_op(const char *src, const float *a, const shape *sa, const float *b, const shape *sb, shape *sc, int *status, char *err)
{
    adead_program *p = assemble_ok(src);
    adead_vm *vm = adead_vm_new(p);
    float *out = NULL;
    int rc = adead_vm_bind(vm, "a", ADEAD_F32, sa->rank, sa->dims, a);
    if (!rc && b) rc = adead_vm_bind(vm, "b", ADEAD_F32, sb->rank, sb->dims, b);
    if (!rc) rc = adead_vm_run(vm);
    adead_tensor_view v;
    if (!rc) rc = adead_vm_output(vm, "c", &v);
    if (!rc) {
        sc->rank = v.rank;
        memcpy(sc->dims, v.dims, sizeof sc->dims);
        out = malloc(v.nbytes ? v.nbytes : 1);
        if (v.nbytes) memcpy(out, v.data, v.nbytes);
    }
    *status = rc;
    if (err) snprintf(err, 1024, "%s", adead_vm_error(vm));
    adead_vm_free(vm);
    adead_program_free(p);
    return out;
}

static void expect_same_bits(const float *got, const float *want, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        if (f32_bits(got[i]) != f32_bits(want[i]))
            fail_msg("%s: element %lld is %08x, expected %08x", what, (long long)i, f32_bits(got[i]), f32_bits(want[i]));
}

static const char *matmul_src = ".input a f32\n.input b f32\n.output c f32\n MATMUL c, a, b\n HALT\n";

static void test_matmul_random(void **state)
{
    (void)state;
    static const int64_t sizes[] = {0, 1, 2, 3, 5, 16, 17, 33};
    rng r = {7};
    for (int x = 0; x < 8; x++)
        for (int y = 0; y < 8; y++)
            for (int z = 0; z < 8; z += 1 + (x + y) % 3) {
                int64_t M = sizes[x], K = sizes[y], N = sizes[z];
                shape sa = {2, {M, K}}, sb = {2, {K, N}}, sc;
                float *a = random_f32(&r, M * K), *b = random_f32(&r, K * N);
                int status;
                float *c = run_op(matmul_src, a, &sa, b, &sb, &sc, &status, NULL);
                assert_int_equal(status, ADEAD_OK);
                assert_int_equal(sc.rank, 2);
                assert_int_equal(sc.dims[0], M);
                assert_int_equal(sc.dims[1], N);
                /* c[i][j]: the fma chain over k from +0.0, then canonical NaN. */
                float *want = malloc(sizeof *want * (size_t)(M * N + 1));
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        float acc = 0.0f;
                        for (int64_t k = 0; k < K; k++) acc = f32_fma(a[i * K + k], b[k * N + j], acc);
                        want[i * N + j] = f32_canon(acc);
                    }
                expect_same_bits(c, want, M * N, "MATMUL");
                free(a);
                free(b);
                free(c);
                free(want);
            }
}

/* The chain is not reassociated: (1e8 - 1e8) + 1 vs 1e8 + (-1e8 + 1). */
static void test_matmul_order_is_the_chain(void **state)
{
    (void)state;
    float a[3] = {1.0f, 1.0f, 1.0f}, b[3] = {1e8f, -1e8f, 1.0f}, b2[3] = {1.0f, 1e8f, -1e8f};
    shape sa = {2, {1, 3}}, sb = {2, {3, 1}}, sc;
    int status;
    float *c = run_op(matmul_src, a, &sa, b, &sb, &sc, &status, NULL);
    assert_true(c[0] == 1.0f);
    free(c);
    c = run_op(matmul_src, a, &sa, b2, &sb, &sc, &status, NULL);
    assert_true(c[0] == 0.0f); /* 1 + 1e8 rounds to 1e8 */
    free(c);
}

static void test_transpose_moves_bits(void **state)
{
    (void)state;
    rng r = {11};
    static const int64_t sizes[] = {0, 1, 3, 8, 13};
    for (int x = 0; x < 5; x++)
        for (int y = 0; y < 5; y++) {
            int64_t M = sizes[x], N = sizes[y];
            shape sa = {2, {M, N}}, sc;
            float *a = random_f32(&r, M * N);
            int status;
            float *c = run_op(".input a f32\n.output c f32\n TRANSPOSE c, a\n HALT\n", a, &sa, NULL, NULL, &sc, &status, NULL);
            assert_int_equal(status, ADEAD_OK);
            assert_int_equal(sc.dims[0], N);
            assert_int_equal(sc.dims[1], M);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) assert_int_equal(f32_bits(c[j * M + i]), f32_bits(a[i * N + j])); /* payloads kept */
            free(a);
            free(c);
        }
}

/* Softmax from the definition, with its own strided-partials reduction. */
static float reduce(const float *x, int64_t n, int is_max)
{
    float p[32];
    for (int i = 0; i < 32; i++) p[i] = is_max ? -INFINITY : 0.0f;
    for (int64_t lane = 0; lane < 32; lane++)
        for (int64_t i = lane; i < n; i += 32) p[lane] = is_max ? f32_max(p[lane], x[i]) : f32_add(p[lane], x[i]);
    for (int w = 16; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) p[i] = is_max ? f32_max(p[i], p[i + w]) : f32_add(p[i], p[i + w]);
    return p[0];
}

static void softmax_expected(const float *x, float *y, int64_t rows, int64_t n)
{
    float *e = malloc(sizeof *e * (size_t)(n ? n : 1));
    for (int64_t r = 0; r < rows; r++) {
        float m = reduce(x + r * n, n, 1);
        for (int64_t i = 0; i < n; i++) e[i] = f32_exp(f32_sub(x[r * n + i], m));
        float inv = f32_div(1.0f, reduce(e, n, 0));
        for (int64_t i = 0; i < n; i++) y[r * n + i] = f32_canon(f32_mul(e[i], inv));
    }
    free(e);
}

static void test_softmax(void **state)
{
    (void)state;
    rng r = {13};
    static const int64_t lens[] = {1, 2, 31, 32, 33, 100, 257};
    for (int t = 0; t < 7; t++)
        for (int kind = 0; kind < 2; kind++) {
            int64_t rows = 3 + t, n = lens[t];
            shape sa = {3, {1, rows, n}}, sc;
            float *a = random_f32(&r, rows * n);
            if (kind) /* ordinary rows (no specials), where softmax is a distribution */
                for (int64_t i = 0; i < rows * n; i++) a[i] = (float)((int64_t)(rng_u32(&r) % 2001) - 1000) / 37.0f;
            int status;
            float *c = run_op(".input a f32\n.output c f32\n SOFTMAX c, a\n HALT\n", a, &sa, NULL, NULL, &sc, &status, NULL);
            assert_int_equal(status, ADEAD_OK);
            float *want = malloc(sizeof *want * (size_t)(rows * n));
            softmax_expected(a, want, rows, n);
            expect_same_bits(c, want, rows * n, "SOFTMAX");
            free(a);
            free(c);
            free(want);
        }
    /* Rows with +inf, with NaN, or all -inf are all NaN; in place works. */
    float a[6] = {1.0f, INFINITY, 2.0f, -INFINITY, -INFINITY, -INFINITY};
    shape sa = {2, {2, 3}}, sc;
    int status;
    float *c = run_op(".input a f32 output\n.output c f32\n SOFTMAX a, a\n TCOPY c, a\n HALT\n", a, &sa, NULL, NULL, &sc, &status, NULL);
    assert_int_equal(status, ADEAD_OK);
    for (int i = 0; i < 6; i++) assert_int_equal(f32_bits(c[i]), F32_CANON_NAN);
    free(c);
}

static void test_relu(void **state)
{
    (void)state;
    float a[8] = {1.5f, -2.0f, -0.0f, 0.0f, f32_from(0x00000010u), f32_from(0xFFC12345u), INFINITY, -INFINITY};
    uint32_t want[8] = {0x3FC00000u, 0, 0, 0, 0, F32_CANON_NAN, 0x7F800000u, 0};
    shape sa = {1, {8}}, sc;
    int status;
    float *c = run_op(".input a f32\n.output c f32\n RELU c, a\n HALT\n", a, &sa, NULL, NULL, &sc, &status, NULL);
    for (int i = 0; i < 8; i++) assert_int_equal(f32_bits(c[i]), want[i]);
    free(c);
}

/* Broadcast index: each output multi-index, mapped into an operand by taking 0 on its size-1
 * axes (computed from scratch per element, unlike the reference's strides). */
static int64_t operand_index(const shape *op, const shape *out, int64_t flat)
{
    int64_t idx[4], rem = flat, at = 0, stride = 1;
    for (int i = out->rank - 1; i >= 0; i--) {
        idx[i] = rem % out->dims[i];
        rem /= out->dims[i];
    }
    for (int i = op->rank - 1; i >= 0; i--) {
        int64_t oi = idx[out->rank - op->rank + i];
        at += (op->dims[i] == 1 ? 0 : oi) * stride;
        stride *= op->dims[i];
    }
    return at;
}

static void test_elementwise_broadcasting(void **state)
{
    (void)state;
    static const struct {
        shape a, b, c;
    } cases[] = {
        {{2, {2, 3}}, {2, {2, 3}}, {2, {2, 3}}},   {{2, {2, 3}}, {1, {3}}, {2, {2, 3}}},
        {{2, {4, 1}}, {2, {1, 5}}, {2, {4, 5}}},   {{3, {2, 1, 3}}, {2, {4, 1}}, {3, {2, 4, 3}}},
        {{0, {0}}, {1, {7}}, {1, {7}}},           {{4, {2, 1, 3, 1}}, {4, {1, 2, 1, 5}}, {4, {2, 2, 3, 5}}},
        {{2, {0, 3}}, {1, {3}}, {2, {0, 3}}},     {{1, {1}}, {0, {0}}, {1, {1}}},
    };
    static const char *const ops[] = {"TADD", "TSUB", "TMUL"};
    rng r = {17};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++)
        for (int o = 0; o < 3; o++) {
            char src[256];
            snprintf(src, sizeof src, ".input a f32\n.input b f32\n.output c f32\n %s c, a, b\n HALT\n", ops[o]);
            float *a = random_f32(&r, count_of(&cases[t].a)), *b = random_f32(&r, count_of(&cases[t].b));
            shape sc;
            int status;
            float *c = run_op(src, a, &cases[t].a, b, &cases[t].b, &sc, &status, NULL);
            assert_int_equal(status, ADEAD_OK);
            assert_int_equal(sc.rank, cases[t].c.rank);
            for (int i = 0; i < sc.rank; i++) assert_int_equal(sc.dims[i], cases[t].c.dims[i]);
            for (int64_t i = 0; i < count_of(&cases[t].c); i++) {
                float x = a[operand_index(&cases[t].a, &cases[t].c, i)], y = b[operand_index(&cases[t].b, &cases[t].c, i)];
                float want = f32_canon(o == 0 ? f32_add(x, y) : o == 1 ? f32_sub(x, y) : f32_mul(x, y));
                assert_int_equal(f32_bits(c[i]), f32_bits(want));
            }
            free(a);
            free(b);
            free(c);
        }
}

static void expect_op_trap(const char *src, const shape *sa, const shape *sb, const char *phrase)
{
    float data[64] = {0};
    shape sc;
    int status;
    char err[1024];
    float *c = run_op(src, data, sa, sb ? data : NULL, sb, &sc, &status, err);
    free(c);
    assert_int_equal(status, ADEAD_E_TRAP);
    if (!strstr(err, phrase)) fail_msg("'%s' not in: %s", phrase, err);
}

static void test_shape_errors_trap(void **state)
{
    (void)state;
    shape s23 = {2, {2, 3}}, s45 = {2, {4, 5}}, s3 = {1, {3}}, s4 = {1, {4}}, s0 = {0, {0}}, s222 = {3, {2, 2, 2}};
    expect_op_trap(matmul_src, &s23, &s45, "test.adasm:4: pc 0 (MATMUL): a [2,3] x b [4,5]: needs [M,K] x [K,N]");
    expect_op_trap(matmul_src, &s3, &s3, "needs [M,K] x [K,N]");
    expect_op_trap(".input a f32\n.output c f32\n TRANSPOSE c, a\n HALT\n", &s222, NULL, "a [2,2,2] is not 2-D");
    expect_op_trap(".input a f32\n.output c f32\n SOFTMAX c, a\n HALT\n", &s0, NULL, "a is a scalar");
    expect_op_trap(".input a f32\n.input b f32\n.output c f32\n TADD c, a, b\n HALT\n", &s3, &s4, "shapes a [3] and b [4] do not broadcast");
    expect_op_trap(".input a f32\n.input b f32\n.output c f32\n VK_COMPUTE MATMUL, c, a, b\n HALT\n", &s23, &s45,
                   "(VK_COMPUTE): MATMUL: a [2,3] x b [4,5]");
    expect_op_trap(".input a f32\n.tensor e f32\n.output c f32\n TADD c, a, e\n HALT\n", &s3, NULL, "tensor e is empty");
    /* empty inputs whose product is not: [2^40, 0] x [0, 2^40] */
    shape tall = {2, {(int64_t)1 << 40, 0}}, wide = {2, {0, (int64_t)1 << 40}};
    expect_op_trap(matmul_src, &tall, &wide, "the result [1099511627776,1099511627776] would have more than 2^40 elements");
}

/* Writing onto a source gives what writing elsewhere gives. */
static void test_aliasing(void **state)
{
    (void)state;
    rng r = {19};
    float *a = random_f32(&r, 16), *b = random_f32(&r, 16);
    shape s = {2, {4, 4}}, s24 = {2, {2, 4}}, sc;
    int st1, st2;
    float *apart = run_op(".input a f32\n.input b f32\n.output c f32\n MATMUL c, a, b\n TRANSPOSE c, c\n TADD c, c, c\n HALT\n", a, &s, b, &s,
                          &sc, &st1, NULL);
    float *inplace = run_op(".input a f32 output\n.input b f32\n.output c f32\n MATMUL a, a, b\n TRANSPOSE a, a\n TADD a, a, a\n TCOPY c, a\n HALT\n",
                            a, &s, b, &s, &sc, &st2, NULL);
    assert_int_equal(st1, ADEAD_OK);
    assert_int_equal(st2, ADEAD_OK);
    expect_same_bits(inplace, apart, 16, "aliased ops");
    free(apart);
    free(inplace);
    /* A non-square transpose onto itself changes the shape. */
    float *t = run_op(".input a f32 output\n.output c f32\n TRANSPOSE a, a\n TCOPY c, a\n HALT\n", a, &s24, NULL, NULL, &sc, &st1, NULL);
    assert_int_equal(sc.dims[0], 4);
    assert_int_equal(sc.dims[1], 2);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) assert_int_equal(f32_bits(t[j * 2 + i]), f32_bits(a[i * 4 + j]));
    free(t);
    free(a);
    free(b);
}

/* The GPU_* and VK_* forms run the same op with the same bits. */
static void test_gpu_and_vulkan_forms_agree(void **state)
{
    (void)state;
    rng r = {23};
    float *a = random_f32(&r, 35), *b = random_f32(&r, 35);
    shape sa = {2, {5, 7}}, sb = {2, {7, 5}}, sc;
    int st;
    float *plain = run_op(matmul_src, a, &sa, b, &sb, &sc, &st, NULL);
    float *gpu = run_op(".input a f32\n.input b f32\n.output c f32\n GPU_INIT\n GPU_ALLOC a\n GPU_MATMUL c, a, b\n GPU_SYNC\n HALT\n", a, &sa, b,
                        &sb, &sc, &st, NULL);
    float *vk = run_op(".input a f32\n.input b f32\n.output c f32\n VK_INIT\n VK_COMPUTE MATMUL, c, a, b\n VK_SUBMIT\n VK_SYNC\n HALT\n", a, &sa,
                       b, &sb, &sc, &st, NULL);
    expect_same_bits(gpu, plain, 25, "GPU_MATMUL");
    expect_same_bits(vk, plain, 25, "VK_COMPUTE MATMUL");
    free(plain);
    free(gpu);
    free(vk);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_random),        cmocka_unit_test(test_matmul_order_is_the_chain),
        cmocka_unit_test(test_transpose_moves_bits), cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_relu),                 cmocka_unit_test(test_elementwise_broadcasting),
        cmocka_unit_test(test_shape_errors_trap),    cmocka_unit_test(test_aliasing),
        cmocka_unit_test(test_gpu_and_vulkan_forms_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
