/* Auto-dispatch (vm/dispatch.h): which executor a tensor op goes to, with fake executors that
 * only answer `supports`. The rule: data resident on a GPU that supports the op stay there;
 * otherwise an op whose largest operand reaches its class's threshold (gpu_min_elements for
 * MATMUL and ATTENTION, gpu_min_streaming for the rest) goes to the first GPU that supports it;
 * everything else, and everything when there is no GPU, to the CPU. */
#include "../vm/dispatch.h"
#include "testutil.h"

#include <string.h>

/* A fake GPU: supports ops of one kernel only (or every kernel when it is -1). */
typedef struct {
    adead_exec_device ex;
    adead_exec_device_ops ops;
    int kernel;
} fake_gpu;

static int fake_supports(const adead_exec_device *ex, const adead_exec_op *op)
{
    const fake_gpu *g = (const fake_gpu *)ex;
    return g->kernel < 0 || (uint32_t)g->kernel == op->kernel;
}

static void fake_init(fake_gpu *g, const char *name, int kernel)
{
    memset(g, 0, sizeof *g);
    g->ex.name = name;
    g->ex.ops = &g->ops;
    g->ops.supports = fake_supports;
    g->kernel = kernel;
}

static adead_exec_op op_of(int kernel, int n_in, int64_t out, int64_t in0, int64_t in1, int64_t in2)
{
    adead_exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = (uint32_t)kernel;
    op.n_in = (uint32_t)n_in;
    op.out.count = out;
    int64_t in[3] = {in0, in1, in2};
    for (int i = 0; i < 3; i++) op.in[i].count = in[i];
    return op;
}

enum { K_MATMUL = ADEAD_K_MATMUL, K_SOFTMAX = ADEAD_K_SOFTMAX };

static void test_cpu_only(void **state)
{
    (void)state;
    adead_exec_device cpu = {0};
    dispatch_rules r = {&cpu, {NULL, NULL}, 0, 0, 0, {0}};
    dispatch_set_defaults(&r);
    adead_exec_op big = op_of(K_MATMUL, 2, (int64_t)1 << 30, 1, 1, 0);
    assert_ptr_equal(dispatch_choose(&r, &big, -1), &cpu);
    /* A residency naming a GPU that is not there is ignored. */
    assert_ptr_equal(dispatch_choose(&r, &big, 0), &cpu);
    assert_ptr_equal(dispatch_choose(&r, &big, 5), &cpu);
}

/* The size is the largest operand: any input, or the output; inputs past n_in do not count. */
static void test_size_threshold(void **state)
{
    (void)state;
    adead_exec_device cpu = {0};
    fake_gpu g;
    fake_init(&g, "gpu", -1);
    const int64_t min = 1000;
    dispatch_rules r = {&cpu, {&g.ex, NULL}, 1, 0, 0, {0}};
    dispatch_set_thresholds(&r, min, min);
    struct {
        adead_exec_op op;
        int to_gpu;
    } cases[] = {
        {op_of(K_MATMUL, 2, min - 1, 10, 10, 0), 0},
        {op_of(K_MATMUL, 2, min, 10, 10, 0), 1},
        {op_of(K_MATMUL, 2, 1, min, 10, 0), 1},
        {op_of(K_MATMUL, 2, 1, 10, min, 0), 1},
        {op_of(K_MATMUL, 3, 1, 10, 10, min), 1},
        {op_of(K_MATMUL, 2, 1, 10, 10, min), 0}, /* in[2] is not an input of this op */
        {op_of(K_MATMUL, 1, 1, 10, min, min), 0},
        {op_of(K_SOFTMAX, 0, min - 1, min, min, min), 0},
        {op_of(K_SOFTMAX, 1, min - 1, min - 1, 0, 0), 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        adead_exec_device *want = cases[i].to_gpu ? &g.ex : &cpu;
        if (dispatch_choose(&r, &cases[i].op, -1) != want) fail_msg("case %zu: wrong executor", i);
    }
}

/* GPUs in order of preference, each only for what it supports; resident data stay where they
 * are whatever their size, unless that GPU cannot run the op. */
static void test_preference_and_residency(void **state)
{
    (void)state;
    adead_exec_device cpu = {0};
    fake_gpu cuda, vk;
    fake_init(&cuda, "cuda", K_MATMUL);
    fake_init(&vk, "vulkan", -1);
    dispatch_rules r = {&cpu, {&cuda.ex, &vk.ex}, 2, 0, 0, {0}};
    dispatch_set_thresholds(&r, 100, 100);
    adead_exec_op mm = op_of(K_MATMUL, 2, 1000, 1000, 1000, 0), sm = op_of(K_SOFTMAX, 1, 1000, 1000, 0, 0);
    adead_exec_op small_mm = op_of(K_MATMUL, 2, 4, 4, 4, 0), small_sm = op_of(K_SOFTMAX, 1, 4, 4, 0, 0);
    assert_ptr_equal(dispatch_choose(&r, &mm, -1), &cuda.ex);
    assert_ptr_equal(dispatch_choose(&r, &sm, -1), &vk.ex); /* cuda does not support it */
    assert_ptr_equal(dispatch_choose(&r, &small_mm, -1), &cpu);
    /* Resident on vulkan: stays, small or not. */
    assert_ptr_equal(dispatch_choose(&r, &mm, 1), &vk.ex);
    assert_ptr_equal(dispatch_choose(&r, &small_mm, 1), &vk.ex);
    /* Resident on cuda, which cannot run SOFTMAX: the size rule decides. */
    assert_ptr_equal(dispatch_choose(&r, &small_sm, 0), &cpu);
    assert_ptr_equal(dispatch_choose(&r, &sm, 0), &vk.ex);
    /* No GPU supports the op: the CPU, however big. */
    fake_init(&vk, "vulkan", K_MATMUL);
    assert_ptr_equal(dispatch_choose(&r, &sm, -1), &cpu);
}

/* The defaults (util/config.h): MATMUL and ATTENTION from 2^18 elements, the memory-bound ops
 * never from host memory (their copies cost more than the CPU's op at every size measured), but
 * where their inputs already are; dispatch_prefer_device sends everything a GPU supports. */
static void test_default_classes(void **state)
{
    (void)state;
    adead_exec_device cpu = {0};
    fake_gpu g;
    fake_init(&g, "gpu", -1);
    dispatch_rules r = {&cpu, {&g.ex, NULL}, 1, 0, 0, {0}};
    dispatch_set_defaults(&r);
    const int64_t at = (int64_t)1 << 18, huge = (int64_t)1 << 40;
    adead_exec_op mm = op_of(K_MATMUL, 2, at, 1, 1, 0), mm_small = op_of(K_MATMUL, 2, at - 1, at - 1, at - 1, 0);
    adead_exec_op att = op_of(ADEAD_K_ATTENTION, 3, 1, at, 1, 1), attc = op_of(ADEAD_K_ATTENTION_CAUSAL, 3, 1, 1, 1, at);
    assert_ptr_equal(dispatch_choose(&r, &mm, -1), &g.ex);
    assert_ptr_equal(dispatch_choose(&r, &mm_small, -1), &cpu);
    assert_ptr_equal(dispatch_choose(&r, &att, -1), &g.ex);
    assert_ptr_equal(dispatch_choose(&r, &attc, -1), &g.ex);
    static const int streaming[] = {ADEAD_K_RELU, ADEAD_K_TADD, ADEAD_K_TSUB, ADEAD_K_TMUL, ADEAD_K_TRANSPOSE, ADEAD_K_SOFTMAX};
    for (size_t i = 0; i < sizeof streaming / sizeof streaming[0]; i++) {
        adead_exec_op op = op_of(streaming[i], 1, huge, huge, 0, 0);
        assert_ptr_equal(dispatch_choose(&r, &op, -1), &cpu);
        assert_ptr_equal(dispatch_choose(&r, &op, 0), &g.ex); /* already on the GPU */
    }
    dispatch_prefer_device(&r);
    adead_exec_op tiny = op_of(ADEAD_K_RELU, 1, 1, 1, 0, 0);
    assert_ptr_equal(dispatch_choose(&r, &tiny, -1), &g.ex);
    assert_ptr_equal(dispatch_choose(&r, &mm_small, -1), &g.ex);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_only),
        cmocka_unit_test(test_size_threshold),
        cmocka_unit_test(test_preference_and_residency),
        cmocka_unit_test(test_default_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
