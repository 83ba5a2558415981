/* Every example program, end to end through the library, against values computed here without
 * the VM: closed forms and plain loops for the integer programs; for the float programs, an
 * f32 implementation of docs/ops.md written here (compared bit for bit) and a double-precision
 * one (a sanity check of the math: a tolerance is right there, and only there). */
#include "../isa/f32.h"
#include "testutil.h"

#include <math.h>

static adead_program *load(const char *path)
{
    adead_program *p = NULL;
    char err[4096];
    if (adead_program_load_file(path, &p, err, sizeof err)) fail_msg("%s", err);
    return p;
}

static int64_t run_i64(adead_program *p, const char *in, int64_t value, const char *out)
{
    adead_vm *vm = adead_vm_new(p);
    int64_t one = 1;
    assert_int_equal(adead_vm_bind(vm, in, ADEAD_I64, 1, &one, &value), ADEAD_OK);
    if (adead_vm_run(vm)) fail_msg("%s", adead_vm_error(vm));
    adead_tensor_view v;
    assert_int_equal(adead_vm_output(vm, out, &v), ADEAD_OK);
    int64_t r;
    memcpy(&r, v.data, 8);
    adead_vm_free(vm);
    return r;
}

static void test_loop_sum(void **state)
{
    (void)state;
    adead_program *p = load("examples/loop_sum.adasm");
    static const int64_t ns[] = {0, 1, 2, 3, 1000, 123457, -5};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        int64_t n = ns[i], want = n > 0 ? n * (n - 1) / 2 : 0;
        assert_int_equal(run_i64(p, "n", n, "total"), want);
    }
    adead_program_free(p);
}

static void test_fib(void **state)
{
    (void)state;
    adead_program *p = load("examples/fib.adasm");
    int64_t a = 0, b = 1; /* fib(n), fib(n + 1) */
    for (int64_t n = 0; n <= 24; n++) {
        assert_int_equal(run_i64(p, "n", n, "result"), a);
        int64_t next = a + b;
        a = b;
        b = next;
    }
    adead_program_free(p);
}

/* ---- softmax, two ways ---- */

static float reduce_f32(const float *x, int64_t n, int is_max)
{
    float p[32];
    for (int i = 0; i < 32; i++) p[i] = is_max ? -INFINITY : 0.0f;
    for (int64_t i = 0; i < n; i++) p[i % 32] = is_max ? f32_max(p[i % 32], x[i]) : f32_add(p[i % 32], x[i]);
    for (int w = 16; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) p[i] = is_max ? f32_max(p[i], p[i + w]) : f32_add(p[i], p[i + w]);
    return p[0];
}

static void softmax_f32(const float *x, float *y, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * n;
        float m = reduce_f32(row, n, 1);
        for (int64_t i = 0; i < n; i++) y[r * n + i] = f32_exp(f32_sub(row[i], m));
        float inv = f32_div(1.0f, reduce_f32(y + r * n, n, 0));
        for (int64_t i = 0; i < n; i++) y[r * n + i] = f32_canon(f32_mul(y[r * n + i], inv));
    }
}

static void softmax_f64(const float *x, double *y, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++) {
        double m = -INFINITY, s = 0;
        for (int64_t i = 0; i < n; i++) m = fmax(m, x[r * n + i]);
        for (int64_t i = 0; i < n; i++) s += exp(x[r * n + i] - m);
        for (int64_t i = 0; i < n; i++) y[r * n + i] = exp(x[r * n + i] - m) / s;
    }
}

/* Relative error against the double result, for finite rows with a sensible spread. */
static void expect_close(const float *got, const double *want, int64_t n, double rel)
{
    for (int64_t i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]);
        if (err > rel * fabs(want[i]) + 1e-30) fail_msg("element %lld: %.9g vs %.17g", (long long)i, (double)got[i], want[i]);
    }
}

static void test_softmax_rows(void **state)
{
    (void)state;
    adead_program *p = load("examples/softmax_rows.adasm");
    /* The default rows: the third one mixes -1e30, -inf and 100. */
    adead_vm *vm = adead_vm_new(p);
    assert_int_equal(adead_vm_run(vm), ADEAD_OK);
    adead_tensor_view y;
    assert_int_equal(adead_vm_output(vm, "y", &y), ADEAD_OK);
    const float x[15] = {1, 2, 3, 4, 5, 0, 0, 0, 0, 0, -1e30f, 0.5f, 100, -INFINITY, 3.25f};
    float want[15];
    softmax_f32(x, want, 3, 5);
    assert_memory_equal(y.data, want, sizeof want);
    adead_vm_free(vm);

    /* Random rows of several lengths. */
    rng r = {31};
    static const int64_t lens[] = {1, 7, 32, 100, 1000};
    for (int t = 0; t < 5; t++) {
        int64_t rows = 4, n = lens[t], dims[2] = {rows, n};
        float *in = malloc(sizeof *in * (size_t)(rows * n)), *exact = malloc(sizeof *exact * (size_t)(rows * n));
        double *ideal = malloc(sizeof *ideal * (size_t)(rows * n));
        for (int64_t i = 0; i < rows * n; i++) in[i] = (float)((double)(rng_u32(&r) % 20001) / 1000.0 - 10.0);
        vm = adead_vm_new(p);
        assert_int_equal(adead_vm_bind(vm, "x", ADEAD_F32, 2, dims, in), ADEAD_OK);
        assert_int_equal(adead_vm_run(vm), ADEAD_OK);
        assert_int_equal(adead_vm_output(vm, "y", &y), ADEAD_OK);
        softmax_f32(in, exact, rows, n);
        assert_memory_equal(y.data, exact, y.nbytes);
        softmax_f64(in, ideal, rows, n);
        expect_close(y.data, ideal, rows * n, 4e-6);
        adead_vm_free(vm);
        free(in);
        free(exact);
        free(ideal);
    }
    adead_program_free(p);
}

/* ---- the MLP ---- */

typedef struct {
    float *data;
    int64_t dims[4];
    int rank;
} npy_tensor;

static npy_tensor read_npy(const char *path)
{
    npy_tensor t;
    adead_tensor_view v;
    void *data;
    char err[512];
    if (adead_npy_read(path, &v, &data, err, sizeof err)) fail_msg("%s", err);
    t.data = data;
    t.rank = v.rank;
    memcpy(t.dims, v.dims, sizeof t.dims);
    return t;
}

static void test_mlp(void **state)
{
    (void)state;
    npy_tensor x = read_npy("examples/mlp/x.npy"), w1 = read_npy("examples/mlp/w1.npy"), b1 = read_npy("examples/mlp/b1.npy"),
               w2 = read_npy("examples/mlp/w2.npy"), b2 = read_npy("examples/mlp/b2.npy");
    int64_t B = x.dims[0], F = x.dims[1], H = w1.dims[1], C = w2.dims[1];
    assert_int_equal(w1.dims[0], F);
    assert_int_equal(w2.dims[0], H);

    adead_program *p = load("examples/mlp.adasm");
    adead_vm *vm = adead_vm_new(p);
    assert_int_equal(adead_vm_bind(vm, "x", ADEAD_F32, 2, x.dims, x.data), ADEAD_OK);
    assert_int_equal(adead_vm_run(vm), ADEAD_OK);
    adead_tensor_view probs;
    assert_int_equal(adead_vm_output(vm, "probs", &probs), ADEAD_OK);
    assert_int_equal(probs.dims[0], B);
    assert_int_equal(probs.dims[1], C);

    /* f32, as docs/ops.md defines each step. */
    float *hidden = calloc((size_t)(B * H), sizeof *hidden), *logits = calloc((size_t)(B * C), sizeof *logits);
    float *want = calloc((size_t)(B * C), sizeof *want);
    for (int64_t i = 0; i < B; i++) {
        for (int64_t j = 0; j < H; j++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < F; k++) acc = f32_fma(x.data[i * F + k], w1.data[k * H + j], acc);
            float h = f32_add(f32_canon(acc), b1.data[j]);
            hidden[i * H + j] = h > 0.0f ? h : 0.0f;
        }
        for (int64_t j = 0; j < C; j++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < H; k++) acc = f32_fma(hidden[i * H + k], w2.data[k * C + j], acc);
            logits[i * C + j] = f32_add(f32_canon(acc), b2.data[j]);
        }
    }
    softmax_f32(logits, want, B, C);
    assert_memory_equal(probs.data, want, probs.nbytes);

    /* double, as the math says. */
    double *ideal = calloc((size_t)(B * C), sizeof *ideal);
    for (int64_t i = 0; i < B; i++) {
        double h[64], l[16], m = -INFINITY, s = 0;
        for (int64_t j = 0; j < H; j++) {
            h[j] = b1.data[j];
            for (int64_t k = 0; k < F; k++) h[j] += (double)x.data[i * F + k] * w1.data[k * H + j];
            h[j] = h[j] > 0 ? h[j] : 0;
        }
        for (int64_t j = 0; j < C; j++) {
            l[j] = b2.data[j];
            for (int64_t k = 0; k < H; k++) l[j] += h[k] * w2.data[k * C + j];
            m = fmax(m, l[j]);
        }
        for (int64_t j = 0; j < C; j++) s += exp(l[j] - m);
        for (int64_t j = 0; j < C; j++) ideal[i * C + j] = exp(l[j] - m) / s;
    }
    expect_close(probs.data, ideal, B * C, 1e-5);
    free(ideal);
    free(hidden);
    free(logits);
    free(want);
    adead_vm_free(vm);
    adead_program_free(p);
    free(x.data);
    free(w1.data);
    free(b1.data);
    free(w2.data);
    free(b2.data);
}

static void test_tasks(void **state)
{
    (void)state;
    adead_program *p = load("examples/tasks.adasm");
    adead_vm *vm = adead_vm_new(p);
    assert_int_equal(adead_vm_run(vm), ADEAD_OK);
    adead_tensor_view log, result;
    assert_int_equal(adead_vm_output(vm, "log", &log), ADEAD_OK);
    assert_int_equal(adead_vm_output(vm, "result", &result), ADEAD_OK);
    const int64_t want_log[9] = {1, 2, 3, 1, 2, 3, 1, 2, 3}, want_result = 60; /* round robin; 10+20+30 */
    assert_memory_equal(log.data, want_log, sizeof want_log);
    assert_memory_equal(result.data, &want_result, 8);
    adead_vm_free(vm);
    adead_program_free(p);
}

/* Every example: text -> .bib -> text -> .bib gives the same bytes (docs/asm.md). */
/* README's digest table: each command's digest, with the default executor, at every SIMD level
 * the host has, and on Vulkan where a device is (software devices let in). */
static void test_readme_digests(void **state)
{
    (void)state;
    FILE *f = fopen("README.md", "r");
    assert_non_null(f);
    char line[1024];
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        char *cmd = strstr(line, "| `build/bin/adead-vm --digest "), *dig = strstr(line, "| `sha256:");
        if (!cmd || !dig) continue;
        cmd += strlen("| `build/bin/adead-vm ");
        char *end = strchr(cmd, '`');
        assert_non_null(end);
        *end = 0;
        dig += 3;
        dig[strlen("sha256:") + 64] = 0;
        static const char *const how[] = {"", "--simd scalar", "--simd sse2", "--simd avx2", "--simd avx512", "--simd neon",
                                          "--threads 1", "--executor vulkan"};
        for (size_t h = 0; h < sizeof how / sizeof how[0]; h++) {
            char full[1400], *out = NULL;
            snprintf(full, sizeof full, "ADEAD_VK_SOFTWARE=1 %s/bin/adead-vm %s %s", build_dir(), how[h], cmd);
            int rc = run_cmd(full, &out);
            /* A level this CPU lacks, or no Vulkan device: nothing to compare there. */
            int absent = rc && out && (strstr(out, "is not available on this CPU") || strstr(out, "is not usable here") ||
                                       strstr(out, "no executor \"vulkan\""));
            if (!absent && (rc || !strstr(out, dig))) fail_msg("%s: not %s:\n%s", full, dig, out ? out : "");
            free(out);
        }
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 5);
}

static void test_examples_round_trip(void **state)
{
    (void)state;
    static const char *const names[] = {"examples/loop_sum.adasm", "examples/fib.adasm", "examples/softmax_rows.adasm", "examples/mlp.adasm",
                                        "examples/tasks.adasm"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = 0;
        char *src = slurp(names[i], &n), err[4096], *text;
        void *bib, *again;
        size_t size, size2;
        assert_non_null(src);
        assert_int_equal(adead_assemble(src, n, names[i], &bib, &size, err, sizeof err), ADEAD_OK);
        assert_int_equal(adead_disassemble(bib, size, &text, err, sizeof err), ADEAD_OK);
        assert_int_equal(adead_assemble(text, strlen(text), "examples/x.adasm", &again, &size2, err, sizeof err), ADEAD_OK);
        assert_int_equal(size, size2);
        assert_memory_equal(bib, again, size);
        free(src);
        free(text);
        free(bib);
        free(again);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_sum), cmocka_unit_test(test_fib),   cmocka_unit_test(test_softmax_rows),
        cmocka_unit_test(test_mlp),      cmocka_unit_test(test_tasks), cmocka_unit_test(test_readme_digests),
        cmocka_unit_test(test_examples_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
