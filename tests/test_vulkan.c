/* The Vulkan executor (backends/vulkan/, libadeadvm-vulkan.so), through the device suite
 * (tests/device_suite.h). Software devices are let in (ADEAD_VK_SOFTWARE=1, set here unless the
 * caller chose a device), so CI runs every test on lavapipe; a machine with a GPU runs them on
 * the GPU. Shapes are smaller than the CUDA suite's: lavapipe runs the emulated f32 build on the
 * CPU. Also here: op streams longer than a command buffer, copies larger than the staging buffer,
 * and the on-disk pipeline cache (new, loaded, corrupt, foreign, truncated: a bad file is ignored
 * and replaced, the run is unaffected). */
#include <stdlib.h>

static const char suite_name[] = "vulkan", suite_missing_tool[] = "no glslc or Vulkan headers";

#include "device_suite.h"

#include "../util/sha256.h"

static int vk_setup(void **state)
{
    if (!getenv("ADEAD_VK_DEVICE")) setenv("ADEAD_VK_SOFTWARE", "1", 1);
    return setup(state);
}

static void test_matmul(void **state)
{
    (void)state;
    need_gpu();
    static const int64_t shapes[][3] = {
        {1, 1, 1},     {1, 7, 1},      {3, 5, 2},     {2, 0, 3},      {17, 33, 9},    {33, 17, 35},
        {64, 64, 64},  {127, 129, 131}, {128, 8, 128}, {129, 7, 257}, {200, 300, 100}, {1, 1000, 300},
        {300, 1000, 1}, {64, 2000, 64},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        matmul_case(shapes[i][0], shapes[i][1], shapes[i][2], 64, i, NULL);
        if (shapes[i][1] <= 64) matmul_case(shapes[i][0], shapes[i][1], shapes[i][2], 4, 100 + i, NULL); /* mostly edge values */
    }
    shape in[2] = {f32s(2, 37, 19, 0, 0), f32s(2, 19, 41, 0, 0)}, out = f32s(2, 37, 41, 0, 0);
    run_case(ADEAD_K_MATMUL, in, 2, &out, 8, 77, 4, NULL);  /* offsets that are not the binding alignment */
    run_case(ADEAD_K_MATMUL, in, 2, &out, 8, 78, 20, NULL);
}

static void test_softmax(void **state)
{
    (void)state;
    need_gpu();
    static const int64_t shapes[][2] = {{1, 1}, {3, 31}, {5, 32}, {7, 33}, {2, 100}, {64, 1024}, {3, 1025}, {2, 5000},
                                        {1000, 16}, {1, 70000}};
    softmax_cases(shapes, sizeof shapes / sizeof shapes[0]);
}

static void test_relu_transpose(void **state)
{
    (void)state;
    need_gpu();
    relu_transpose_cases(5 << 20, 1024);
}

static void test_elementwise(void **state)
{
    (void)state;
    need_gpu();
    elementwise_cases(1 << 22);
}

static void test_attention(void **state)
{
    (void)state;
    need_gpu();
    static const int64_t lead1[] = {1, 1}, lead23[] = {2, 3};
    static const attention_shape cases[] = {
        {2, NULL, 5, 7, 3, 2},          {4, lead23, 17, 70, 8, 5},    {3, lead1, 64, 64, 64, 64},
        {3, lead1, 130, 200, 40, 33},   {3, lead23, 9, 65, 256, 256}, {3, lead1, 100, 30, 16, 16},
        {3, lead1, 30, 100, 16, 16},    {2, NULL, 2, 0, 3, 4},        {2, NULL, 3, 5, 0, 2},
        {3, lead23, 1, 129, 128, 128},  {3, lead1, 70, 90, 7, 200},   {3, lead23, 65, 65, 1, 1},
        {3, lead1, 17, 300, 100, 128},  {4, lead23, 33, 33, 64, 128},
    };
    attention_cases(cases, sizeof cases / sizeof cases[0], NULL); /* tiled where D, Dv fit, else one row per workgroup */
}

static void test_sequences(void **state)
{
    (void)state;
    need_gpu();
    enum { A, B, C, BIAS, S, FULL, Y, Z };
    const seq_tensor ts[] = {
        {f32s(2, 30, 77, 0, 0), 64}, {f32s(2, 77, 26, 0, 0), 64}, {f32s(2, 30, 26, 0, 0), 64},
        {f32s(1, 26, 0, 0, 0), 8},   {f32s(0, 0, 0, 0, 0), 4},    {f32s(2, 30, 26, 0, 0), 8},
        {f32s(2, 30, 26, 0, 0), 8},  {f32s(2, 30, 26, 0, 0), 8},
    };
    /* Each op reads what the one before wrote: the barriers between dispatches. */
    const seq_op run[] = {
        {ADEAD_K_MATMUL, C, {A, B}, 2}, {ADEAD_K_TADD, C, {C, BIAS}, 2}, {ADEAD_K_RELU, C, {C}, 1},
        {ADEAD_K_TMUL, C, {C, S}, 2},   {ADEAD_K_TSUB, C, {FULL, C}, 2}, {ADEAD_K_SOFTMAX, Y, {C}, 1},
        {ADEAD_K_TRANSPOSE, Z, {Y}, 1}, {ADEAD_K_TADD, Y, {Y, Y}, 2},    {ADEAD_K_TMUL, Z, {Y, C}, 2},
    };
    seq_tensor tz[8];
    memcpy(tz, ts, sizeof tz);
    tz[Z].s = f32s(2, 26, 30, 0, 0);
    seq_op r2[9];
    memcpy(r2, run, sizeof r2);
    r2[8].out = C; /* Z is [26, 30] after the TRANSPOSE: multiply C by Y instead */
    r2[8].in[1] = Y;
    r2[8].in[0] = C;
    for (uint64_t seed = 1; seed <= 3; seed++) run_sequence(tz, 8, r2, 9, seed, NULL);
}

/* More ops than one command buffer holds, submitted one by one without waiting, then read. */
static void test_long_stream(void **state)
{
    (void)state;
    need_gpu();
    enum { N = 4096, OPS = 700 };
    adead_exec_device *cpu = cpu_registry()->device(0);
    float *x = malloc(N * 4), *y = malloc(N * 4), *got = malloc(N * 4);
    assert_true(x && y && got);
    rng r = {12345};
    fill_random(&r, x, N, 4, 16);
    fill_random(&r, y, N, 4, 16);
    adead_exec_buffer *gx, *gy, *cx, *cy;
    check(gq, gpu->ops->alloc(gpu, N * 4, &gx), "alloc");
    check(gq, gpu->ops->alloc(gpu, N * 4, &gy), "alloc");
    check(gq, gq->ops->copy_in(gq, (adead_exec_ref){gx, 0}, x, N * 4), "copy_in");
    check(gq, gq->ops->copy_in(gq, (adead_exec_ref){gy, 0}, y, N * 4), "copy_in");
    check(cq, cpu->ops->wrap_host(cpu, x, N * 4, &cx), "wrap");
    check(cq, cpu->ops->wrap_host(cpu, y, N * 4, &cy), "wrap");
    shape s = f32s(1, N, 0, 0, 0);
    for (int k = 0; k < OPS; k++) {
        adead_exec_op g, c;
        memset(&g, 0, sizeof g);
        g.kernel = k % 3 == 2 ? ADEAD_K_RELU : k % 3 ? ADEAD_K_TMUL : ADEAD_K_TADD;
        g.n_in = g.kernel == ADEAD_K_RELU ? 1 : 2;
        c = g;
        g.out = g.in[0] = tensor_of(&s, gx, 0);
        g.in[1] = tensor_of(&s, gy, 0);
        c.out = c.in[0] = tensor_of(&s, cx, 0);
        c.in[1] = tensor_of(&s, cy, 0);
        adead_exec_ticket t;
        check(gq, gq->ops->submit(gq, &g, 1, &t), "submit");
        check(cq, cq->ops->submit(cq, &c, 1, &t), "cpu submit");
        if (k == OPS / 2) check(gq, gq->ops->wait(gq, t - 3), "wait midway");
    }
    check(cq, cq->ops->wait(cq, 0), "cpu wait");
    check(gq, gq->ops->copy_out(gq, got, (adead_exec_ref){gx, 0}, N * 4), "copy_out");
    check(gq, gq->ops->wait(gq, 0), "wait");
    if (memcmp(got, x, N * 4)) fail_msg("700 ops in one stream differ from the CPU's");
    gx->ops->release(gx);
    gy->ops->release(gy);
    cx->ops->release(cx);
    cy->ops->release(cy);
    free(x);
    free(y);
    free(got);
}

/* Copies of more than the staging buffer, at offsets, both ways, and of nothing. */
static void test_large_copies(void **state)
{
    (void)state;
    need_gpu();
    const size_t n = (size_t)37 << 20; /* 37 MiB: more than VK_STAGES pieces of 4 MiB */
    unsigned char *a = malloc(n), *b = malloc(n);
    assert_true(a && b);
    for (size_t i = 0; i < n; i++) a[i] = (unsigned char)(i * 2654435761u >> 13);
    adead_exec_buffer *g;
    check(gq, gpu->ops->alloc(gpu, n + 64, &g), "alloc");
    check(gq, gq->ops->copy_in(gq, (adead_exec_ref){g, 12}, a, n), "copy_in");
    check(gq, gq->ops->copy_in(gq, (adead_exec_ref){g, 0}, a, 0), "empty copy_in");
    memset(b, 0, n);
    check(gq, gq->ops->copy_out(gq, b, (adead_exec_ref){g, 12}, n), "copy_out");
    check(gq, gq->ops->copy_out(gq, b, (adead_exec_ref){g, 0}, 0), "empty copy_out");
    check(gq, gq->ops->wait(gq, 0), "wait");
    assert_memory_equal(a, b, n);
    check(gq, gq->ops->copy_out(gq, b, (adead_exec_ref){g, 4096 + 12}, 1000), "copy_out 2");
    assert_memory_equal(a + 4096, b, 1000);
    g->ops->release(g);
    free(a);
    free(b);
}

static void test_bad_params(void **state)
{
    (void)state;
    need_gpu();
    adead_exec_queue *q = NULL;
    char err[256];
    assert_int_equal(gpu->ops->open_queue(gpu, "threads=3", &q, err, sizeof err), ADEAD_EXEC_BAD_PARAMS);
    assert_non_null(strstr(err, "unknown parameter \"threads=3\""));
    assert_int_equal(gpu->ops->open_queue(gpu, "", &q, err, sizeof err), ADEAD_EXEC_OK);
    assert_non_null(strstr(q->ops->settings(q), "f32="));
    q->ops->close(q);
}

/* ---- the pipeline cache on disk, through adead-vm --info in a fresh process each time ---- */

static char *info_with_cache(const char *dir)
{
    char cmd[1200], *out = NULL;
    snprintf(cmd, sizeof cmd, "XDG_CACHE_HOME=%s ADEAD_VK_SOFTWARE=1 %s/bin/adead-vm --info", dir, build_dir());
    if (run_cmd(cmd, &out)) fail_msg("%s failed:\n%s", cmd, out ? out : "");
    char *line = strstr(out, "executor vulkan: ");
    if (!line || strstr(line, "(exact)") == NULL) fail_msg("the vulkan line is not exact:\n%s", out);
    return out;
}

static void expect_note(const char *dir, const char *note)
{
    char *out = info_with_cache(dir);
    if (!strstr(out, note)) fail_msg("expected \"%s\":\n%s", note, out);
    free(out);
}

static char *cache_file_in(const char *dir)
{
    char cmd[700], *out = NULL;
    snprintf(cmd, sizeof cmd, "ls %s/adeadvm/vulkan-*.bin | head -1", dir);
    run_cmd(cmd, &out);
    if (!out || !out[0]) fail_msg("no pipeline cache file under %s/adeadvm", dir);
    out[strcspn(out, "\n")] = 0;
    return out;
}

static void rewrite(const char *path, void (*change)(unsigned char *bytes, size_t *n))
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f);
    rewind(f);
    unsigned char *buf = malloc(n + 1); /* a driver's data can be megabytes (NVIDIA's) */
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, n, f), n);
    fclose(f);
    change(buf, &n);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
    free(buf);
}

static void flip_data_byte(unsigned char *b, size_t *n) { b[*n - 1] ^= 0x40; }
static void truncate_it(unsigned char *b, size_t *n) { (void)b; *n = 20; }
static void foreign_uuid(unsigned char *b, size_t *n) /* another driver's data, checksum intact */
{
    b[48 + 16] ^= 0xFF;
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, b + 48, *n - 48);
    sha256_final(&c, b + 16);
}

static void test_pipeline_cache(void **state)
{
    (void)state;
    need_gpu();
    if (getenv("ADEAD_VK_DEVICE")) skip(); /* the subprocesses would choose their own device */
    char dir[] = "/tmp/adead-vkcache-XXXXXX";
    assert_non_null(mkdtemp(dir));
    expect_note(dir, "pipeline cache: new, saved");
    expect_note(dir, "pipeline cache: loaded");
    char *file = cache_file_in(dir);
    rewrite(file, flip_data_byte);
    expect_note(dir, "pipeline cache: ignored (checksum differs)");
    expect_note(dir, "pipeline cache: loaded"); /* replaced by a good one */
    rewrite(file, foreign_uuid);
    expect_note(dir, "pipeline cache: ignored (made by another device or driver)");
    rewrite(file, truncate_it);
    expect_note(dir, "pipeline cache: ignored (not a pipeline cache file)");
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(run_cmd(cmd, NULL), 0);
    free(file);
}

/* No loader, no driver: the plugin says why in --info, --executor vulkan is refused with that
 * reason, and the program runs on the CPU with the same digest. In subprocesses: the plugin's
 * discovery runs once per process. */
static void expect_not_here(const char *env, const char *reason)
{
    if (!plugin_present) {
        printf("skip vulkan: %s\n", skip_why);
        skip();
    }
    char cmd[1200], *out = NULL, *want = NULL;
    snprintf(cmd, sizeof cmd, "%s ADEAD_VK_SOFTWARE=1 %s/bin/adead-vm --info", env, build_dir());
    assert_int_equal(run_cmd(cmd, &out), 0);
    if (!strstr(out, "executor vulkan: not here: ") || !strstr(out, reason)) fail_msg("%s:\n%s", cmd, out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s %s/bin/adead-vm --executor vulkan --digest examples/fib.adasm", env, build_dir());
    if (run_cmd(cmd, &out) == 0 || !strstr(out, reason)) fail_msg("%s:\n%s", cmd, out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s ADEAD_VK_SOFTWARE=1 %s/bin/adead-vm --digest examples/fib.adasm", env, build_dir());
    assert_int_equal(run_cmd(cmd, &out), 0);
    snprintf(cmd, sizeof cmd, "%s/bin/adead-vm --executor cpu --digest examples/fib.adasm", build_dir());
    assert_int_equal(run_cmd(cmd, &want), 0);
    assert_string_equal(out, want);
    free(out);
    free(want);
}

static void test_no_loader_no_driver(void **state)
{
    (void)state;
    expect_not_here("ADEAD_VK_LOADER=/nonexistent/libvulkan.so.1", "no Vulkan loader (");
    expect_not_here("VK_DRIVER_FILES=/nonexistent/icd.json VK_ICD_FILENAMES=/nonexistent/icd.json", "finds no Vulkan driver");
}

/* VK_COMPUTE goes to a Vulkan device first, even when another device executor that takes the op
 * comes first in the registry (the tiny test plugin, found first through ADEAD_PLUGIN_PATH by an
 * adead-vm copied where no plugins are); without a Vulkan device it goes to that other one. */
static void test_vk_compute_prefers_vulkan(void **state)
{
    (void)state;
    need_gpu();
    if (getenv("ADEAD_VK_DEVICE")) skip();
    char dir[] = "/tmp/adead-vkpick-XXXXXX", cmd[2400], *out = NULL;
    assert_non_null(mkdtemp(dir));
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(cmd, sizeof cmd,
             "cp %s/bin/adead-vm %s/ && printf '.tensor a f32 [4] = [1, -2, 3, -4]\\n.output b f32\\n VK_COMPUTE RELU, b, a\\n HALT\\n' > %s/p.adasm",
             build_dir(), dir, dir);
    assert_int_equal(run_cmd(cmd, NULL), 0);
    const char *const envs[2] = {"", "ADEAD_VK_DEVICE=no-such-device"};
    const char *const want[2] = {"(Vulkan ", "tiny host device"};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s ADEAD_VK_SOFTWARE=1 ADEAD_PLUGIN_PATH=%s/%s/tests/plugins:%s/%s/lib/adeadvm %s/adead-vm --profile %s/p.adasm",
                 envs[i], build_dir()[0] == '/' ? "" : cwd, build_dir(), build_dir()[0] == '/' ? "" : cwd, build_dir(), dir, dir);
        assert_int_equal(run_cmd(cmd, &out), 0);
        const char *row = strstr(out, " RELU ");
        if (!row || !strstr(row, want[i]) || !strstr(out, "b = f32[4] [1, 0, 3, 0]")) fail_msg("%s:\n%s", cmd, out);
        free(out);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    run_cmd(cmd, NULL);
}

static void test_programs(void **state)
{
    (void)state;
    need_gpu();
    programs_match(0, 0, "with --executor vulkan");
    programs_match(256, 0, "with 256 bytes of device memory");
    programs_match(0, 5, "in fuel slices of 5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_loads_or_says_why),
        cmocka_unit_test(test_executor_choice),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_relu_transpose),
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_long_stream),
        cmocka_unit_test(test_large_copies),
        cmocka_unit_test(test_pipeline_cache),
        cmocka_unit_test(test_no_loader_no_driver),
        cmocka_unit_test(test_vk_compute_prefers_vulkan),
        cmocka_unit_test(test_programs),
    };
    return cmocka_run_group_tests(tests, vk_setup, teardown);
}
