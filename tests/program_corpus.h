/* The programs that tests/test_residency.c (the fake GPU) and tests/test_cuda.c (a real one) run
 * on a device executor and compare with a CPU run: every example, and programs that move results
 * between device and host midway, trap, spawn tasks, and use the GPU_* and VK_* opcodes. */
#ifndef ADEAD_TEST_PROGRAM_CORPUS_H
#define ADEAD_TEST_PROGRAM_CORPUS_H

#include "testutil.h"

/* A program: its source, its inputs bound from the file (examples) or none. */
typedef struct {
    const char *name;
    const char *source; /* NULL: load `name` as a file */
} program;

static const program corpus[] = {
    {"examples/loop_sum.adasm", NULL},
    {"examples/fib.adasm", NULL},
    {"examples/softmax_rows.adasm", NULL},
    {"examples/tasks.adasm", NULL},
    {"examples/mlp.adasm", NULL},
    {"chain", /* results used on the device, read by the host midway, written by the host */
     ".const a0 f32 [5, 7] = [1, -2, 3, nan, 5, -0.0, 7, 1e-40, 2, -3, 4, 0.5, inf, 6, 0.25, 1, 2, 3, 4, 5, 6,\n"
     "  -1, -2, -3, -4, -5, -6, -7, 9, 8, 7, 6, 5, 4, 3]\n"
     ".const b0 f32 [7, 3] = [0.5, 1, -1, 2, 0, 3, -0.5, 1e-39, 1, 1, 1, 1, 2, 2, 2, -inf, 0, 1, 3, -2, 0.125]\n"
     ".const bias0 f32 [3] = [0.1, -0.2, 1e-41]\n"
     ".tensor a f32\n.tensor b f32\n.tensor bias f32\n.tensor c f32\n.tensor d f32\n.tensor t f32\n"
     ".output e f32\n.output s f32\n.output k f32\n.output tt f32\n"
     "main:\n"
     " TLOADK a, a0\n TLOADK b, b0\n TLOADK bias, bias0\n"
     " MATMUL c, a, b\n RELU d, c\n PRINTT c\n"
     " LDI r1, 4\n TLD r2, d, r1\n PRINTI r2\n"
     " TADD e, d, bias\n SOFTMAX s, e\n"
     " LDI r3, 0\n LDI r4, 1065353216\n TST e, r3, r4\n SOFTMAX s, e\n" /* e[0] = 1.0 from the host */
     " TRANSPOSE t, a\n RELU a, a\n TADD a, a, a\n TMUL t, t, t\n TSUB tt, t, t\n"
     " TCOPY k, e\n RELU k, k\n TFILL d, r4\n TADD d, d, d\n PRINTT d\n"
     " LDI r5, 3\n LDI r6, 5\n TRESHAPE c, r5, 2\n RELU c, c\n PRINTT c\n"
     " TFREE t\n LDI r7, 2\n TNEW t, r7, 1\n RELU t, t\n PRINTT t\n"
     " HALT\n"},
    {"attention",
     ".const q0 f32 [2, 4, 3] = [1, 0, -1, 0.5, 2, nan, -0.0, 1, 1, 3, -3, 1e-40, 1, 1, 1, 2, 2, 2, -1, -1, -1, 0, 0, 0]\n"
     ".const kk0 f32 [2, 5, 3] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0, 1, 0, 1, 0, -1, -2, -3, 0.5, 0.5, 0.5, 2, -2, 2, 1e-39, 0, 1, inf, 0, 0]\n"
     ".const v0 f32 [2, 5, 2] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10]\n"
     ".tensor q f32\n.tensor k f32\n.tensor v f32\n.output o f32\n.output oc f32\n.output m f32\n"
     " TLOADK q, q0\n TLOADK k, kk0\n TLOADK v, v0\n"
     " ATTENTION o, q, k, v\n ATTENTION_CAUSAL oc, q, k, v\n TADD m, o, oc\n SOFTMAX m, m\n"
     " MATMUL o, o, o\n" /* not 2-D: a trap, on every executor alike */
     " HALT\n"},
    {"vk attention", /* the 4th tensor in a VK_ARG; in place; both forms of the pair */
     ".const q0 f32 [2, 4, 3] = [1, 0, -1, 0.5, 2, nan, -0.0, 1, 1, 3, -3, 1e-40, 1, 1, 1, 2, 2, 2, -1, -1, -1, 0, 0, 0]\n"
     ".const kk0 f32 [2, 5, 3] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0, 1, 0, 1, 0, -1, -2, -3, 0.5, 0.5, 0.5, 2, -2, 2, 1e-39, 0, 1, inf, 0, 0]\n"
     ".const v0 f32 [2, 5, 2] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10]\n"
     ".tensor q f32\n.tensor k f32\n.tensor v f32\n.output o f32\n.output oc f32\n.output m f32\n"
     " TLOADK q, q0\n TLOADK k, kk0\n TLOADK v, v0\n"
     " VK_COMPUTE ATTENTION, o, q, k, v\n VK_COMPUTE ATTENTION_CAUSAL, oc, q, k\n VK_ARG v\n"
     " ATTENTION m, q, k, v\n TSUB m, m, o\n PRINTT m\n" /* zeros: the same bits as ATTENTION */
     " VK_COMPUTE ATTENTION_CAUSAL, q, q, k, v\n VK_COMPUTE RELU, q, q\n PRINTT q\n TADD m, o, oc\n"
     " HALT\n"},
    {"square",
     ".const a0 f32 [3, 3] = [1, 2, 3, -4, 5, -6, 7, 1e-40, nan]\n"
     ".tensor a f32\n.output c f32\n.output g f32\n"
     " TLOADK a, a0\n MATMUL c, a, a\n MATMUL c, c, a\n MATMUL c, a, c\n TRANSPOSE c, c\n" /* onto an input: scratch */
     " GPU_ALLOC a\n GPU_MATMUL g, a, c\n GPU_SYNC\n VK_COMPUTE RELU, g, g\n VK_SUBMIT\n VK_SYNC\n PRINTT g\n HALT\n"},
    {"tasks",
     ".const a0 f32 [4, 4] = [1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, 0.5, 0.25, 0.125, 1e-40]\n"
     ".tensor a f32\n.output x f32\n.output y f32\n"
     " TLOADK a, a0\n SPAWN r1, w, r0\n MATMUL x, a, a\n YIELD\n RELU x, x\n JOIN r2, r1\n TADD x, x, y\n HALT\n"
     "w:\n MATMUL y, a, a\n YIELD\n SOFTMAX y, y\n PRINTT y\n RET\n"},
};
#define N_CORPUS (sizeof corpus / sizeof corpus[0])

static adead_program *load(const program *p)
{
    adead_program *prog = NULL;
    char err[8192];
    int rc = p->source ? adead_program_assemble(p->source, strlen(p->source), "test.adasm", &prog, err, sizeof err)
                       : adead_program_load_file(p->name, &prog, err, sizeof err);
    if (rc) fail_msg("%s: %s", p->name, err);
    return prog;
}

static void bind_inputs(adead_vm *vm, const program *p)
{
    if (!strcmp(p->name, "examples/mlp.adasm")) {
        adead_tensor_view t;
        void *data;
        char err[512];
        assert_int_equal(adead_npy_read("examples/mlp/x.npy", &t, &data, err, sizeof err), ADEAD_OK);
        assert_int_equal(adead_vm_bind(vm, "x", t.dtype, t.rank, t.dims, t.data), ADEAD_OK);
        free(data);
    }
}

/* What a run gives: status, digest (when it halted), printed text, error message. */
typedef struct {
    int status;
    char digest[65];
    capture printed;
    char err[1024];
} outcome;

/* Runs p; prepare (may be NULL) sets the VM up first (which executors, ...); gpu_limit > 0 caps
 * device memory; fuel_step > 0 runs it in slices of that many instructions. */
typedef void (*corpus_prepare_fn)(adead_vm *vm, void *ctx);

static outcome corpus_run(const program *p, corpus_prepare_fn prepare, void *ctx, uint64_t gpu_limit, uint64_t fuel_step)
{
    outcome o;
    memset(&o, 0, sizeof o);
    adead_program *prog = load(p);
    adead_vm *vm = adead_vm_new(prog);
    assert_non_null(vm);
    adead_vm_set_print(vm, capture_write, &o.printed);
    if (prepare) prepare(vm, ctx);
    if (gpu_limit) assert_int_equal(adead_vm_set_gpu_memory_limit(vm, gpu_limit), ADEAD_OK);
    bind_inputs(vm, p);
    if (fuel_step) adead_vm_set_fuel(vm, fuel_step);
    o.status = adead_vm_run(vm);
    while (fuel_step && o.status == ADEAD_E_FUEL) {
        adead_vm_add_fuel(vm, fuel_step);
        o.status = adead_vm_run(vm);
    }
    snprintf(o.err, sizeof o.err, "%s", adead_vm_error(vm));
    if (!o.status) assert_int_equal(adead_vm_digest(vm, o.digest), ADEAD_OK);
    adead_vm_free(vm);
    adead_program_free(prog);
    return o;
}

/* got must be want: the same status, digest, printed text and (for a failure) message. */
static void expect_same(const program *p, const outcome *want, const outcome *got, const char *how)
{
    if (got->status != want->status) fail_msg("%s %s: status %d, CPU %d (%s)", p->name, how, got->status, want->status, got->err);
    if (strcmp(got->digest, want->digest)) fail_msg("%s %s: digest %s, CPU %s", p->name, how, got->digest, want->digest);
    if (strcmp(got->printed.buf, want->printed.buf))
        fail_msg("%s %s printed:\n%s\nthe CPU printed:\n%s", p->name, how, got->printed.buf, want->printed.buf);
    if (want->status && strcmp(got->err, want->err)) fail_msg("%s %s: '%s', CPU '%s'", p->name, how, got->err, want->err);
}

#endif
