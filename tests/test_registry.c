/* The executor plugin loader (backends/registry.h) with the plugins of tests/plugins/, built into
 * $ADEAD_BUILD/tests/plugins/ by mk/plugins.mk: one plugin that works (tiny: RELU through the
 * whole ABI, bit for bit against the reference), and one for each way of being refused or absent.
 * main() sets $ADEAD_PLUGIN_PATH before anything asks the registry (the discovery reads it once):
 * a temporary directory (a link to tiny, which comes first and so wins, and a file that is no
 * ELF), an empty component, then the plugins' directory (whose tiny is then skipped). */
#include "../backends/cpu/ref_ops.h"
#include "../backends/registry.h"
#include "testutil.h"

#include <pthread.h>
#include <unistd.h>

static char plugin_dir[600]; /* $ADEAD_BUILD/tests/plugins */
static char first_dir[64];   /* the temporary directory searched before it */

static void plugin_path(char *path, size_t n, const char *name)
{
    snprintf(path, n, "%s/libadeadvm-%s.so", plugin_dir, name);
}

static registry_entry load_ok(const char *name)
{
    char path[700], err[600] = "";
    registry_entry e;
    plugin_path(path, sizeof path, name);
    if (registry_load(path, &e, err, sizeof err)) fail_msg("registry_load %s: %s", path, err);
    return e;
}

static void load_refused(const char *name, registry_entry *e, char *err, size_t errlen)
{
    char path[700];
    plugin_path(path, sizeof path, name);
    assert_int_equal(registry_load(path, e, err, errlen), -1);
    assert_int_equal(e->state, REGISTRY_REFUSED);
    assert_null(e->reg);
    assert_int_equal(e->score, 0);
    assert_int_equal(e->n_devices, 0);
    assert_string_equal(e->name, name);
    assert_string_equal(e->path, path);
    assert_non_null(strstr(err, path)); /* the message names the file */
    assert_non_null(strstr(err, e->why));
}

static void test_tiny_loads(void **state)
{
    (void)state;
    registry_entry e = load_ok("tiny");
    assert_int_equal(e.state, REGISTRY_USABLE);
    assert_non_null(e.reg);
    assert_string_equal(e.name, "tiny");
    assert_string_equal(e.reg->name, "tiny");
    assert_int_equal(e.score, 5);
    assert_int_equal(e.n_devices, 1);
    assert_string_equal(e.skipped, "");
    assert_string_equal(e.devices[0]->name, "tiny host device");
    assert_int_equal(e.devices[0]->caps, ADEAD_EXEC_CAP_HOST_MEMORY | ADEAD_EXEC_CAP_EXACT);
    assert_ptr_equal(e.reg->device(0), e.devices[0]);
}

static adead_exec_op relu_op(adead_exec_buffer *out, adead_exec_buffer *in, int64_t count)
{
    adead_exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = ADEAD_K_RELU;
    op.n_in = 1;
    op.pc = 7;
    op.out.dtype = op.in[0].dtype = ADEAD_EXEC_F32;
    op.out.rank = op.in[0].rank = 1;
    op.out.dims[0] = op.in[0].dims[0] = count;
    op.out.count = op.in[0].count = count;
    op.out.ref.buf = out;
    op.in[0].ref.buf = in;
    return op;
}

/* Every class of f32 input RELU treats apart, with the bits docs/ops.md gives it. */
static const uint32_t tricky[][2] = {
    {0x7FC00000u, 0x7FC00000u}, /* quiet NaN */
    {0xFFC00001u, 0x7FC00000u}, /* negative NaN with a payload: canonical */
    {0x7F800001u, 0x7FC00000u}, /* signalling NaN: canonical */
    {0x7FFFFFFFu, 0x7FC00000u},
    {0x00000000u, 0x00000000u}, /* +0 */
    {0x80000000u, 0x00000000u}, /* -0 -> +0 */
    {0x00000001u, 0x00000000u}, /* subnormals read as zero */
    {0x007FFFFFu, 0x00000000u},
    {0x80000001u, 0x00000000u},
    {0x807FFFFFu, 0x00000000u},
    {0x00800000u, 0x00800000u}, /* FLT_MIN stays */
    {0x80800000u, 0x00000000u},
    {0x7F800000u, 0x7F800000u}, /* +Inf stays */
    {0xFF800000u, 0x00000000u}, /* -Inf -> +0 */
    {0x7F7FFFFFu, 0x7F7FFFFFu}, /* FLT_MAX */
    {0x3F800000u, 0x3F800000u}, /* 1 */
    {0xBF800000u, 0x00000000u}, /* -1 */
};
#define N_TRICKY (sizeof tricky / sizeof tricky[0])

static void test_tiny_relu(void **state)
{
    (void)state;
    registry_entry e = load_ok("tiny");
    adead_exec_device *d = e.devices[0];
    char err[256] = "";
    adead_exec_queue *q = NULL;
    assert_int_equal(d->ops->open_queue(d, NULL, &q, err, sizeof err), ADEAD_EXEC_OK);
    assert_int_equal(q->ops->abi, ADEAD_EXEC_ABI);
    assert_true(q->ops->size >= sizeof(adead_exec_queue_ops));
    assert_string_equal(q->ops->settings(q), "");
    assert_string_equal(q->ops->last_error(q), "");

    /* Into a device buffer by copy_in, out of another by copy_out, at offsets. */
    uint32_t in[N_TRICKY], out[N_TRICKY];
    for (size_t i = 0; i < N_TRICKY; i++) in[i] = tricky[i][0];
    adead_exec_buffer *a = NULL, *b = NULL;
    assert_int_equal(d->ops->alloc(d, 16 + sizeof in, &a), ADEAD_EXEC_OK);
    assert_int_equal(d->ops->alloc(d, 8 + sizeof out, &b), ADEAD_EXEC_OK);
    assert_int_equal(a->ops->abi, ADEAD_EXEC_ABI);
    adead_exec_ref ra = {a, 16}, rb = {b, 8};
    assert_int_equal(q->ops->copy_in(q, ra, in, sizeof in), ADEAD_EXEC_OK);
    adead_exec_op op = relu_op(b, a, (int64_t)N_TRICKY);
    op.in[0].ref.offset = 16;
    op.out.ref.offset = 8;
    assert_true(d->ops->supports(d, &op));
    adead_exec_ticket t = 0;
    assert_int_equal(q->ops->submit(q, &op, 1, &t), ADEAD_EXEC_OK);
    assert_int_equal(t, 2); /* the copy took ticket 1 */
    assert_int_equal(q->ops->copy_out(q, out, rb, sizeof out), ADEAD_EXEC_OK);
    assert_int_equal(q->ops->wait(q, t), ADEAD_EXEC_OK);
    for (size_t i = 0; i < N_TRICKY; i++)
        if (out[i] != tricky[i][1]) fail_msg("relu(0x%08X) = 0x%08X, want 0x%08X", in[i], out[i], tricky[i][1]);

    /* In place on host memory (wrap_host), against the CPU reference on edge-biased random bits. */
    enum { N = 4096 };
    static uint32_t host[N], want[N];
    rng r = {0x9E3779B97F4A7C15ull};
    for (int i = 0; i < N; i++) host[i] = rng_f32_bits(&r);
    ref_relu((const float *)host, (float *)want, N);
    adead_exec_buffer *h = NULL;
    assert_int_equal(d->ops->wrap_host(d, host, sizeof host, &h), ADEAD_EXEC_OK);
    assert_ptr_equal(h->host, host);
    op = relu_op(h, h, N);
    adead_exec_op two[2] = {op, op}; /* relu twice is relu */
    assert_int_equal(q->ops->submit(q, two, 2, &t), ADEAD_EXEC_OK);
    assert_int_equal(t, 5); /* copy_out took 3 */
    assert_int_equal(q->ops->failed_ticket(q), 0);
    assert_int_equal(q->ops->wait(q, 0), ADEAD_EXEC_OK);
    assert_memory_equal(host, want, sizeof host);

    /* What it does not run it says so, by name and pc. */
    op.kernel = ADEAD_K_MATMUL;
    assert_false(d->ops->supports(d, &op));
    assert_int_equal(q->ops->submit(q, &op, 1, &t), ADEAD_EXEC_UNSUPPORTED);
    assert_non_null(strstr(q->ops->last_error(q), "RELU"));
    assert_non_null(strstr(q->ops->last_error(q), "pc 7"));
    assert_int_equal(q->ops->failed_ticket(q), 6); /* the failing op takes no ticket */
    op = relu_op(h, h, N + 1); /* one element past the buffer */
    adead_exec_op ok_then_bad[2] = {relu_op(h, h, N), op};
    assert_int_equal(q->ops->submit(q, ok_then_bad, 2, &t), ADEAD_EXEC_INTERNAL);
    assert_int_equal(q->ops->failed_ticket(q), 7);
    assert_int_equal(q->ops->wait(q, 8), ADEAD_EXEC_INTERNAL); /* never given */

    h->ops->release(h);
    b->ops->release(b);
    a->ops->release(a);
    q->ops->close(q);
}

static void test_tiny_params(void **state)
{
    (void)state;
    registry_entry e = load_ok("tiny");
    adead_exec_device *d = e.devices[0];
    adead_exec_queue *q = NULL;
    char err[256] = "";
    assert_int_equal(d->ops->open_queue(d, "", &q, err, sizeof err), ADEAD_EXEC_OK);
    q->ops->close(q);
    q = NULL;
    assert_int_equal(d->ops->open_queue(d, "simd=avx2", &q, err, sizeof err), ADEAD_EXEC_BAD_PARAMS);
    assert_null(q);
    assert_non_null(strstr(err, "'simd'"));
    assert_int_equal(d->ops->open_queue(d, ",threads", &q, err, sizeof err), ADEAD_EXEC_BAD_PARAMS);
    assert_non_null(strstr(err, "'threads'"));
    assert_null(q);
}

static void test_badabi_refused(void **state)
{
    (void)state;
    registry_entry e;
    char err[700] = "";
    load_refused("badabi", &e, err, sizeof err);
    assert_non_null(strstr(err, "libadeadvm-badabi.so"));
    assert_non_null(strstr(err, "ABI"));
    assert_non_null(strstr(e.why, "built for another executor ABI (this library speaks ABI 1)"));
}

static void test_nodev_not_here(void **state)
{
    (void)state;
    registry_entry e = load_ok("nodev");
    assert_int_equal(e.state, REGISTRY_NOT_HERE);
    assert_null(e.reg);
    assert_int_equal(e.score, 0);
    assert_int_equal(e.n_devices, 0);
    assert_string_equal(e.name, "nodev");
    assert_string_equal(e.why, "no device of its kind here");
}

static void test_other_refusals(void **state)
{
    (void)state;
    registry_entry e;
    char err[700] = "";
    load_refused("small", &e, err, sizeof err);
    assert_non_null(strstr(e.why, "registry struct is"));
    load_refused("noentry", &e, err, sizeof err);
    assert_non_null(strstr(e.why, "no adead_exec_entry symbol"));
    load_refused("absent", &e, err, sizeof err); /* no such file: dlopen's reason */
    assert_true(strlen(e.why) > 0);

    /* A file not named libadeadvm-<name>.so is not opened at all. */
    char path[700];
    snprintf(path, sizeof path, "%s/tests/test_registry", build_dir());
    assert_int_equal(registry_load(path, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "not named libadeadvm-<name>.so"));
    assert_int_equal(registry_load("libadeadvm-.so", &e, err, sizeof err), -1);
}

/* Device 0 is kept; 1 (ops of ABI 2), 2 (a small ops struct), 3 (NULL) are left out, each with
 * its reason. */
static void test_bad_devices_skipped(void **state)
{
    (void)state;
    registry_entry e = load_ok("baddev");
    assert_int_equal(e.state, REGISTRY_USABLE);
    assert_int_equal(e.score, 2);
    assert_int_equal(e.n_devices, 1);
    assert_string_equal(e.devices[0]->name, "sound device");
    assert_non_null(strstr(e.skipped, "device 1: its ops speak executor ABI 2"));
    assert_non_null(strstr(e.skipped, "device 2: its ops struct is"));
    assert_non_null(strstr(e.skipped, "device 3: it is NULL"));
}

static void *count_in_thread(void *arg)
{
    *(int *)arg = registry_count();
    return NULL;
}

static int find(const char *name)
{
    int n = registry_count();
    for (int i = 0; i < n; i++)
        if (!strcmp(registry_get(i)->name, name)) return i;
    fail_msg("no executor %s in the registry", name);
    return -1;
}

static void expect(const char *name, registry_state st, const char *dir)
{
    const registry_entry *e = registry_get(find(name));
    char path[700];
    snprintf(path, sizeof path, "%s/libadeadvm-%s.so", dir, name);
    if (e->state != st) fail_msg("%s: state %d, want %d (%s)", name, (int)e->state, (int)st, e->why);
    assert_string_equal(e->path, path);
    assert_true((e->reg != NULL) == (st == REGISTRY_USABLE));
}

static void test_discovery(void **state)
{
    (void)state;
    /* The first calls of all, from four threads at once: one table. */
    pthread_t th[4];
    int counts[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, count_in_thread, &counts[i]), 0);
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    int n = registry_count();
    for (int i = 0; i < 4; i++) assert_int_equal(counts[i], n);
    assert_true(n >= 1 + 7);
    assert_null(registry_get(-1));
    assert_null(registry_get(n));

    const registry_entry *cpu = registry_get(0);
    assert_string_equal(cpu->name, "cpu");
    assert_string_equal(cpu->path, "");
    if (cpu->state != REGISTRY_USABLE) fail_msg("the built-in cpu registry: %s", cpu->why);
    assert_true(cpu->score >= 1);
    assert_true(cpu->n_devices >= 1);

    /* The first directory's tiny wins; the one in the plugins' directory is skipped. */
    expect("tiny", REGISTRY_USABLE, first_dir);
    assert_int_equal(registry_get(find("tiny"))->score, 5);
    int tinies = 0;
    for (int i = 0; i < n; i++) tinies += !strcmp(registry_get(i)->name, "tiny");
    assert_int_equal(tinies, 1);
    expect("junk", REGISTRY_REFUSED, first_dir);
    expect("badabi", REGISTRY_REFUSED, plugin_dir);
    expect("baddev", REGISTRY_USABLE, plugin_dir);
    expect("nodev", REGISTRY_NOT_HERE, plugin_dir);
    expect("noentry", REGISTRY_REFUSED, plugin_dir);
    expect("small", REGISTRY_REFUSED, plugin_dir);
    assert_string_equal(registry_get(find("nodev"))->why, "no device of its kind here");

    /* Directories in search order, each one's files in name order. */
    assert_true(find("junk") < find("tiny"));
    assert_true(find("tiny") < find("badabi"));
    assert_true(find("badabi") < find("baddev"));
    assert_true(find("baddev") < find("nodev"));
    assert_true(find("nodev") < find("noentry"));
    assert_true(find("noentry") < find("small"));
}

static void contains(const char *text, const char *want)
{
    if (!strstr(text, want)) fail_msg("the report lacks \"%s\":\n%s", want, text);
}

static void test_report(void **state)
{
    (void)state;
    char *text = registry_report();
    assert_non_null(text);
    printf("%s", text);
    char line[1200];
    contains(text, "executor cpu: built in, score ");
    snprintf(line, sizeof line, "executor tiny: %s/libadeadvm-tiny.so, score 5, 1 device: tiny host device (exact)\n",
             first_dir);
    contains(text, line);
    contains(text, "executor nodev: not here: no device of its kind here\n");
    snprintf(line, sizeof line,
             "executor badabi: refused: %s/libadeadvm-badabi.so: built for another executor ABI (this library "
             "speaks ABI 1)\n",
             plugin_dir);
    contains(text, line);
    contains(text, "executor baddev: ");
    contains(text, "1 device: sound device (inexact: runs nothing); skipped device 1: ");
    contains(text, "executor small: refused: ");
    contains(text, "executor noentry: refused: ");
    contains(text, "executor junk: refused: ");
    /* The directories: the executable's (static library) first, then $ADEAD_PLUGIN_PATH's. */
    snprintf(line, sizeof line, ", %s, %s", first_dir, plugin_dir);
    contains(text, "executor plugins looked for in: /");
    contains(text, line);
    free(text);
}

int main(void)
{
    snprintf(plugin_dir, sizeof plugin_dir, "%s/tests/plugins", build_dir());
    snprintf(first_dir, sizeof first_dir, "/tmp/adead-registry-XXXXXX");
    if (!mkdtemp(first_dir)) {
        perror("mkdtemp");
        return 1;
    }
    char tiny[700], target[1200], junk[100], path[1400];
    snprintf(tiny, sizeof tiny, "%s/libadeadvm-tiny.so", first_dir);
    snprintf(junk, sizeof junk, "%s/libadeadvm-junk.so", first_dir);
    char cwd[512];
    if (!getcwd(cwd, sizeof cwd)) {
        perror("getcwd");
        return 1;
    }
    snprintf(target, sizeof target, "%s%s%s/libadeadvm-tiny.so", plugin_dir[0] == '/' ? "" : cwd,
             plugin_dir[0] == '/' ? "" : "/", plugin_dir);
    FILE *f = fopen(junk, "w");
    if (symlink(target, tiny) || !f || fputs("not an ELF file\n", f) < 0 || fclose(f)) {
        perror(first_dir);
        return 1;
    }
    snprintf(path, sizeof path, "%s::%s", first_dir, plugin_dir);
    setenv("ADEAD_PLUGIN_PATH", path, 1);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_loads),     cmocka_unit_test(test_tiny_relu),
        cmocka_unit_test(test_tiny_params),    cmocka_unit_test(test_badabi_refused),
        cmocka_unit_test(test_nodev_not_here), cmocka_unit_test(test_other_refusals),
        cmocka_unit_test(test_bad_devices_skipped), cmocka_unit_test(test_discovery),
        cmocka_unit_test(test_report),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(tiny);
    unlink(junk);
    rmdir(first_dir);
    return rc;
}
