/* Residency and the stream, through a test executor that behaves like a GPU (tests/fake_gpu.h):
 * every example and a corpus of kernel programs give the CPU's bits (digest and printed text)
 * when every op goes to the fake device, whose results arrive late and whose memory the VM
 * cannot read; and so they do when its memory runs out, when the VM's device limit forces
 * evictions, when it refuses a kernel, and when fuel stops the run every few instructions. A
 * device lost mid-run is a trap naming the instruction whose op failed. */
#include "../vm/vm.h"
#include "fake_gpu.h"
#include "program_corpus.h"
#include "testutil.h"

/* Every op offered to the fake GPU g. */
static void attach_fake(adead_vm *vm, void *g)
{
    char err[256];
    assert_int_equal(vm_attach_device(vm, &((fake_gpu *)g)->dev, NULL, err, sizeof err), ADEAD_OK);
    dispatch_prefer_device(&vm->dispatch); /* every op goes to the device */
}

/* Runs p on the CPU alone (g NULL) or with g attached and every op offered to it; fuel_step > 0
 * runs it in slices of that many instructions. */
static outcome run(const program *p, fake_gpu *g, uint64_t gpu_limit, uint64_t fuel_step)
{
    return corpus_run(p, g ? attach_fake : NULL, g, gpu_limit, fuel_step);
}


static void run_corpus(const fake_gpu_config *cfg, uint64_t gpu_limit, uint64_t fuel_step, const char *how,
                       fake_gpu_stats *total)
{
    for (size_t i = 0; i < N_CORPUS; i++) {
        outcome want = run(&corpus[i], NULL, 0, 0);
        fake_gpu *g = fake_gpu_create(cfg);
        outcome got = run(&corpus[i], g, gpu_limit, fuel_step);
        expect_same(&corpus[i], &want, &got, how);
        if (total) {
            total->ops += g->stats.ops;
            total->copies_in += g->stats.copies_in;
            total->copies_out += g->stats.copies_out;
            total->releases += g->stats.releases;
        }
        assert_int_equal(g->stats.bytes_in_use, 0); /* every device copy was given back */
        fake_gpu_destroy(g);
    }
}

static void test_late_results_give_the_cpu_bits(void **state)
{
    (void)state;
    fake_gpu_config cfg = {0};
    cfg.delay_ns = 20000;
    fake_gpu_stats total = {0};
    run_corpus(&cfg, 0, 0, "on the fake GPU", &total);
    print_message("fake GPU: %llu ops, %llu copies in, %llu out\n", (unsigned long long)total.ops, (unsigned long long)total.copies_in, (unsigned long long)total.copies_out);
    /* It really ran there, and results came back only as needed. */
    assert_true(total.ops > 25);
    assert_true(total.copies_out > 0 && total.copies_out < total.ops);
}

static void test_fuel_slices_give_the_cpu_bits(void **state)
{
    (void)state;
    fake_gpu_config cfg = {0};
    cfg.delay_ns = 5000;
    run_corpus(&cfg, 0, 7, "in fuel slices of 7", NULL);
}

/* Out of device memory at alloc: those ops run on the CPU. */
static void test_device_memory_runs_out(void **state)
{
    (void)state;
    fake_gpu_config cfg = {0};
    cfg.memory_bytes = 512;
    run_corpus(&cfg, 0, 0, "with 512 bytes of device memory", NULL);
}

/* The VM's own limit: copies evicted in slot order, the same bits. */
static void test_eviction(void **state)
{
    (void)state;
    fake_gpu_config cfg = {0};
    cfg.delay_ns = 2000;
    fake_gpu_stats total = {0};
    run_corpus(&cfg, 256, 0, "with a 256-byte device limit", &total);
    assert_true(total.releases > 0);
}

static void test_unsupported_kernels_fall_back(void **state)
{
    (void)state;
    fake_gpu_config cfg = {0};
    cfg.unsupported_kernel = ADEAD_K_SOFTMAX;
    run_corpus(&cfg, 0, 0, "without SOFTMAX", NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.refuse_at_submit = ADEAD_K_MATMUL;
    run_corpus(&cfg, 0, 0, "refusing MATMUL at submit", NULL);
}

/* The second op fails on the device, but the VM learns of it only at the next host read: the
 * trap still names that op's instruction and line. */
static void test_device_lost_names_the_op(void **state)
{
    (void)state;
    static const program p = {"lost",
                              ".const a0 f32 [2, 2] = [1, 2, 3, 4]\n.tensor a f32\n.output c f32\n"
                              " TLOADK a, a0\n"
                              " MATMUL c, a, a\n"
                              " RELU c, c\n" /* line 6, pc 2: the op that fails */
                              " TADD c, c, a\n"
                              " PRINTT c\n"
                              " HALT\n"};
    fake_gpu_config cfg = {0};
    cfg.lose_device_at_op = 2;
    cfg.delay_ns = 100000;
    fake_gpu *g = fake_gpu_create(&cfg);
    outcome o = run(&p, g, 0, 0);
    fake_gpu_destroy(g);
    assert_int_equal(o.status, ADEAD_E_TRAP);
    if (!strstr(o.err, "test.adasm:6: pc 2 (RELU)") || !strstr(o.err, "device lost") || !strstr(o.err, "fakegpu"))
        fail_msg("%s", o.err);
    assert_string_equal(o.printed.buf, ""); /* PRINTT waited, and saw the failure instead */
}

/* The profile and the trace events name the executor of each op and give each queue a track. */
static void test_profile_names_executors(void **state)
{
    (void)state;
    fake_gpu_config cfg = {0};
    cfg.unsupported_kernel = ADEAD_K_SOFTMAX;
    fake_gpu *g = fake_gpu_create(&cfg);
    adead_program *prog = load(&corpus[5]); /* chain */
    adead_vm *vm = adead_vm_new(prog);
    char err[256];
    capture printed = {{0}, 0};
    adead_vm_set_print(vm, capture_write, &printed);
    assert_int_equal(vm_attach_device(vm, &g->dev, NULL, err, sizeof err), ADEAD_OK);
    dispatch_prefer_device(&vm->dispatch);
    assert_null(adead_vm_profile_text(vm)); /* off */
    assert_int_equal(adead_vm_set_profile(vm, 1), ADEAD_OK);
    assert_int_equal(adead_vm_run(vm), ADEAD_OK);
    char *text = adead_vm_profile_text(vm), *json = adead_vm_trace_json(vm);
    assert_non_null(text);
    assert_non_null(json);
    if (!strstr(text, "MATMUL") || !strstr(text, "fakegpu") || !strstr(text, "test.adasm:19") || !strstr(text, " cpu "))
        fail_msg("%s", text);
    if (!strstr(json, "\"fakegpu queue\"") || !strstr(json, "\"cpu queue\"") || !strstr(json, "\"name\":\"SOFTMAX\""))
        fail_msg("%s", json);
    int events = 0;
    for (const char *p = json; (p = strstr(p, "\"ph\":\"X\"")); p++) events++;
    const char *summary = strstr(text, "summary: ");
    assert_non_null(summary);
    assert_int_equal(atoi(summary + 9), events); /* every op completed and has its event */
    free(text);
    free(json);
    adead_vm_free(vm);
    adead_program_free(prog);
    fake_gpu_destroy(g);
}

/* VK_COMPUTE ATTENTION goes to a device whatever its size, as VK_COMPUTE MATMUL does, while the
 * plain ATTENTION of that size stays on the CPU; the profile names the VK_COMPUTE's pc; same bits. */
static void test_vk_compute_attention_prefers_the_device(void **state)
{
    (void)state;
    static const program p = {"vk prefers",
                              ".const q0 f32 [3, 2] = [1, 2, -3, 0.5, 0, 1e-40]\n.tensor q f32\n.output o f32\n.output vo f32\n.output voc f32\n"
                              " TLOADK q, q0\n"                          /* line 6, pc 0 */
                              " ATTENTION o, q, q, q\n"                  /* line 7, pc 1 */
                              " VK_COMPUTE ATTENTION, vo, q, q, q\n"     /* line 8, pc 2 and 3 */
                              " VK_COMPUTE ATTENTION_CAUSAL, voc, q, q\n" /* line 9, pc 4 */
                              " VK_ARG q\n"                              /* line 10, pc 5 */
                              " HALT\n"};
    fake_gpu_config cfg = {0};
    cfg.delay_ns = 1000;
    fake_gpu *g = fake_gpu_create(&cfg);
    adead_program *prog = load(&p);
    adead_vm *vm = adead_vm_new(prog);
    char err[256];
    assert_int_equal(vm_attach_device(vm, &g->dev, NULL, err, sizeof err), ADEAD_OK); /* the default rule: small ops on the CPU */
    assert_int_equal(adead_vm_set_profile(vm, 1), ADEAD_OK);
    assert_int_equal(adead_vm_run(vm), ADEAD_OK);
    adead_tensor_view o, vo, voc;
    assert_int_equal(adead_vm_output(vm, "o", &o), ADEAD_OK);
    assert_int_equal(adead_vm_output(vm, "vo", &vo), ADEAD_OK);
    assert_int_equal(adead_vm_output(vm, "voc", &voc), ADEAD_OK);
    assert_int_equal(vo.nbytes, o.nbytes);
    assert_memory_equal(vo.data, o.data, o.nbytes);
    assert_int_equal(voc.nbytes, o.nbytes);
    char *text = adead_vm_profile_text(vm);
    assert_non_null(text);
    int seen = 0;
    for (const char *line = text; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (*line < '0' || *line > '9') continue;
        char rec[512];
        snprintf(rec, sizeof rec, "%.*s", (int)strcspn(line, "\n"), line);
        unsigned long pc = strtoul(rec, NULL, 10);
        int ok = pc == 0 ? 1
                 : pc == 1 ? strstr(rec, "test.adasm:7 ") && strstr(rec, " cpu ")
                 : pc == 2 ? strstr(rec, "test.adasm:8 ") && strstr(rec, " ATTENTION ") && strstr(rec, "fakegpu")
                 : pc == 4 ? strstr(rec, "test.adasm:9 ") && strstr(rec, " ATTENTION_CAUSAL ") && strstr(rec, "fakegpu")
                           : 0;
        if (!ok) fail_msg("profile record: %s\n%s", rec, text);
        seen |= 1 << pc;
    }
    if ((seen & 0x16) != 0x16) fail_msg("missing records:\n%s", text);
    free(text);
    adead_vm_free(vm);
    adead_program_free(prog);
    assert_true(g->stats.ops >= 2);
    fake_gpu_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_results_give_the_cpu_bits),
        cmocka_unit_test(test_fuel_slices_give_the_cpu_bits),
        cmocka_unit_test(test_device_memory_runs_out),
        cmocka_unit_test(test_eviction),
        cmocka_unit_test(test_unsupported_kernels_fall_back),
        cmocka_unit_test(test_device_lost_names_the_op),
        cmocka_unit_test(test_profile_names_executors),
        cmocka_unit_test(test_vk_compute_attention_prefers_the_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
