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
static const char suite_name[] = "cuda", suite_missing_tool[] = "no nvcc";

#include "device_suite.h"

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
    softmax_cases(shapes, sizeof shapes / sizeof shapes[0]);
}

static void test_relu_transpose(void **state)
{
    (void)state;
    need_gpu();
    relu_transpose_cases(1 << 24, 4096);
}

static void test_elementwise(void **state)
{
    (void)state;
    need_gpu();
    elementwise_cases(1 << 24);
}

static void test_attention(void **state)
{
    (void)state;
    need_gpu();
    static const int64_t lead1[] = {1, 1}, lead23[] = {2, 3};
    static const attention_shape cases[] = {
        {2, NULL, 5, 7, 3, 2},         {4, lead23, 17, 70, 8, 5},  {3, lead1, 64, 64, 64, 64},
        {3, lead1, 130, 200, 40, 33}, {3, lead23, 9, 65, 256, 256}, {3, lead1, 100, 30, 16, 16},
        {3, lead1, 30, 100, 16, 16},  {2, NULL, 2, 0, 3, 4},       {2, NULL, 3, 5, 0, 2},
        {3, lead23, 1, 129, 128, 128}, {4, lead23, 257, 257, 64, 64}, {3, lead1, 2048, 2048, 64, 64},
        {3, lead1, 300, 333, 128, 100}, {3, lead1, 70, 90, 7, 200},   {3, lead1, 129, 64, 256, 128},
        {3, lead23, 65, 65, 1, 1},
    };
    attention_cases(cases, sizeof cases / sizeof cases[0], NULL); /* the tiled kernel where it runs */
    attention_cases(cases, sizeof cases / sizeof cases[0], "attention=warp");
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
