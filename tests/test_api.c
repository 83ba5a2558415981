/* The embedding API (include/adeadvm.h): argument checking, loading, inputs and outputs, the
 * order in which calls are allowed, exact fuel with resumption, the memory limit, print and trace
 * callbacks, the digest recomputed by hand, tensor text, and programs shared between VMs. */
#include "testutil.h"

#include <fenv.h>

#include <math.h>
#include <pthread.h>
#include <unistd.h>

#include "../util/sha256.h"

/* ---- helpers ---- */

static void assert_contains(const char *text, const char *phrase)
{
    if (!text) fail_msg("no text, expected one containing \"%s\"", phrase);
    if (!strstr(text, phrase)) fail_msg("\"%s\" does not contain \"%s\"", text, phrase);
}

/* Programs and VMs made by a test are freed after it, failed or not, so that a failing check
 * leaks nothing and the sanitizer build reports only the library's own leaks. */
enum { MAX_KEPT = 256 };
static adead_program *kept_programs[MAX_KEPT];
static adead_vm *kept_vms[MAX_KEPT];
static int n_kept_programs, n_kept_vms;

static adead_program *keep_program(adead_program *prog)
{
    assert_non_null(prog);
    assert_true(n_kept_programs < MAX_KEPT);
    return kept_programs[n_kept_programs++] = prog;
}

static int free_kept(void **state)
{
    (void)state;
    for (int i = 0; i < n_kept_vms; i++) adead_vm_free(kept_vms[i]);
    for (int i = 0; i < n_kept_programs; i++) adead_program_free(kept_programs[i]);
    n_kept_vms = n_kept_programs = 0;
    return 0;
}

static adead_program *program(const char *src) { return keep_program(assemble_ok(src)); }

static adead_vm *new_vm(const adead_program *prog)
{
    adead_vm *vm = adead_vm_new(prog);
    assert_non_null(vm);
    assert_true(n_kept_vms < MAX_KEPT);
    return kept_vms[n_kept_vms++] = vm;
}

static void run_ok(adead_vm *vm)
{
    int rc = adead_vm_run(vm);
    if (rc != ADEAD_OK) fail_msg("run returned %d (%s): %s", rc, adead_status_name(rc), adead_vm_error(vm));
}

/* A call's status is `expected` and adead_vm_error says `phrase`. */
static void expect_vm_error(const adead_vm *vm, int rc, int expected, const char *phrase)
{
    if (rc != expected)
        fail_msg("status %d (%s), expected %d (%s); error: %s", rc, adead_status_name(rc), expected,
                 adead_status_name(expected), adead_vm_error(vm));
    assert_contains(adead_vm_error(vm), phrase);
}

static adead_tensor_view output_of(const adead_vm *vm, const char *name)
{
    adead_tensor_view t;
    int rc = adead_vm_output(vm, name, &t);
    if (rc) fail_msg("output %s: %s", name, adead_vm_error(vm));
    return t;
}

static int64_t output_i64(const adead_vm *vm, const char *name, int64_t index)
{
    adead_tensor_view t = output_of(vm, name);
    assert_int_equal(t.dtype, ADEAD_I64);
    assert_true(index >= 0 && (size_t)(index + 1) * 8 <= t.nbytes);
    int64_t v;
    memcpy(&v, (const char *)t.data + 8 * index, 8);
    return v;
}

static void digest_hex(const adead_vm *vm, char hex[65])
{
    int rc = adead_vm_digest(vm, hex);
    if (rc) fail_msg("digest: %s", adead_vm_error(vm));
}

/* ---- programs ---- */

/* total = 0 + 1 + ... + (n - 1): 5 + 2n + 2 instructions for n >= 1. */
static const char loop_sum_src[] =
    ".input  n     i64 [1] = [100]\n"
    ".output total i64 [1]\n"
    "main:\n"
    "    LDI   r0, 0\n"
    "    TLD   r2, n, r0\n"
    "    LDI   r1, 0\n"
    "    LDI   r3, 0\n"
    "    JGE   r1, r2, done\n"
    "loop:\n"
    "    ADD   r3, r3, r1\n"
    "    LOOP  r1, r2, loop\n"
    "done:\n"
    "    TST   total, r0, r3\n"
    "    HALT\n";

/* Seven instructions, no branches: ((1 + 2) * 5 - 1) = 14. */
static const char straight_line_src[] =
    ".output out i64 [1]\n"
    "main:\n"
    "    LDI  r0, 0\n"
    "    LDI  r1, 1\n"
    "    ADDI r1, r1, 2\n"
    "    MULI r1, r1, 5\n"
    "    ADDI r1, r1, -1\n"
    "    TST  out, r0, r1\n"
    "    HALT\n";
#define STRAIGHT_LINE_LENGTH 7

/* Calls and returns: fib(n) through recursion. */
static const char fib_src[] =
    ".input  n      i64 [1] = [12]\n"
    ".output result i64 [1]\n"
    "main:\n"
    "    LDI   r0, 0\n"
    "    TLD   r1, n, r0\n"
    "    CALL  fib, r1\n"
    "    TST   result, r0, r1\n"
    "    HALT\n"
    "fib:\n"
    "    JLTI  r0, 2, small\n"
    "    ADDI  r1, r0, -1\n"
    "    CALL  fib, r1\n"
    "    ADDI  r2, r0, -2\n"
    "    CALL  fib, r2\n"
    "    ADD   r0, r1, r2\n"
    "small:\n"
    "    RET\n";

/* Task switches: three workers that yield after every step. */
static const char tasks_src[] =
    ".output log    i64 [9]\n"
    ".output result i64 [1]\n"
    "main:\n"
    "    LDI   r1, 1\n"
    "    SPAWN r4, worker, r1\n"
    "    LDI   r1, 2\n"
    "    SPAWN r5, worker, r1\n"
    "    LDI   r1, 3\n"
    "    SPAWN r6, worker, r1\n"
    "    JOIN  r7, r4\n"
    "    JOIN  r8, r5\n"
    "    JOIN  r9, r6\n"
    "    ADD   r7, r7, r8\n"
    "    ADD   r7, r7, r9\n"
    "    LDI   r0, 0\n"
    "    TST   result, r0, r7\n"
    "    HALT\n"
    "worker:\n"
    "    LDI   r1, 0\n"
    "    LDI   r2, 3\n"
    "step:\n"
    "    TSIZE r3, log\n"
    "    LDI   r4, 0\n"
    "find:\n"
    "    TLD   r5, log, r4\n"
    "    JEQI  r5, 0, put\n"
    "    ADDI  r4, r4, 1\n"
    "    JLT   r4, r3, find\n"
    "put:\n"
    "    TST   log, r4, r0\n"
    "    YIELD\n"
    "    LOOP  r1, r2, step\n"
    "    MULI  r0, r0, 10\n"
    "    RET\n";

/* Inputs and outputs interleaved with plain tensors, to check declaration order. An input
 * without a shape or default, one with a declared shape, and an output never written. */
static const char io_src[] =
    ".input  x      f32\n"
    ".tensor tmp    f32\n"
    ".input  shaped i32 [2, 3]\n"
    ".output sum    f32\n"
    ".input  scale  f32 [1] = [2]\n"
    ".output never  i64\n"
    ".output count  i64 [1]\n"
    "main:\n"
    "    TADD  sum, x, x\n"
    "    TSIZE r1, x\n"
    "    LDI   r0, 0\n"
    "    TST   count, r0, r1\n"
    "    HALT\n";

/* Allocations whose size the caller controls through input `bytes`. */
static const char alloc_src[] =
    ".input  bytes  i64 [1] = [4096]\n"
    ".tensor big    f32\n"
    ".output done   i64 [1]\n"
    "main:\n"
    "    LDI   r0, 0\n"
    "    TLD   r1, bytes, r0\n"
    "    ALLOC r2, r1\n"
    "    LDI   r3, 512\n"
    "    LDI   r4, 512\n"
    "    TNEW  big, r3, 2\n"
    "    LDI   r5, 1\n"
    "    TST   done, r0, r5\n"
    "    HALT\n";

static const char print_src[] =
    ".const hello str \"hello\\tworld\\n\"\n"
    ".tensor m i32 [2, 2] = [1, 2, 3, -4]\n"
    ".tensor e f32\n"
    "main:\n"
    "    LDI    r0, -5\n"
    "    PRINTI r0\n"
    "    LDI    r0, 9223372036854775807\n"
    "    PRINTI r0\n"
    "    LDF    r1, 0.1\n"
    "    PRINTF r1\n"
    "    LDF    r1, 1.5\n"
    "    PRINTF r1\n"
    "    LDF    r1, -inf\n"
    "    PRINTF r1\n"
    "    PRINTS hello\n"
    "    PRINTT m\n"
    "    PRINTT e\n"
    "    HALT\n";

/* Two outputs of different dtypes and ranks, for the digest. */
static const char two_outputs_src[] =
    ".output probs f32 [2, 2] = [0.5, -0, inf, 1e-3]\n"
    ".output count i64 []\n"
    "main:\n"
    "    LDI r0, 0\n"
    "    LDI r1, -123456789012\n"
    "    TST count, r0, r1\n"
    "    HALT\n";

/* ---- version and status names ---- */

static void test_version(void **state)
{
    (void)state;
    assert_string_equal(adead_version(), ADEAD_VERSION_STRING);
    char parts[32];
    snprintf(parts, sizeof parts, "%d.%d.%d", ADEAD_VERSION_MAJOR, ADEAD_VERSION_MINOR, ADEAD_VERSION_PATCH);
    assert_string_equal(parts, ADEAD_VERSION_STRING);
}

static void test_status_names(void **state)
{
    (void)state;
    static const char *const names[] = {"ok",    "bad argument", "bad program", "trap",
                                        "out of fuel", "memory limit", "I/O error",   "host out of memory"};
    for (int s = ADEAD_OK; s <= ADEAD_E_NOMEM; s++) {
        assert_string_equal(adead_status_name(s), names[s]);
        for (int t = 0; t < s; t++) assert_string_not_equal(adead_status_name(s), adead_status_name(t));
    }
    assert_string_equal(adead_status_name(8), "unknown status");
    assert_string_equal(adead_status_name(-1), "unknown status");
}

/* ---- NULL and bad arguments ---- */

static void test_null_arguments_to_program_functions(void **state)
{
    (void)state;
    adead_program *p = (adead_program *)1;
    char err[256];
    const char *src = straight_line_src;
    assert_int_equal(adead_program_load_file(NULL, &p, err, sizeof err), ADEAD_E_ARG);
    assert_int_equal(adead_program_load_file("examples/fib.adasm", NULL, err, sizeof err), ADEAD_E_ARG);
    assert_int_equal(adead_program_load_file(NULL, NULL, NULL, 0), ADEAD_E_ARG);
    assert_int_equal(adead_program_load_memory(NULL, 20, "x", &p, err, sizeof err), ADEAD_E_ARG);
    assert_int_equal(adead_program_load_memory("abc", 3, "x", NULL, err, sizeof err), ADEAD_E_ARG);
    assert_int_equal(adead_program_assemble(NULL, 5, "x", &p, err, sizeof err), ADEAD_E_ARG);
    assert_int_equal(adead_program_assemble(src, strlen(src), "x", NULL, err, sizeof err), ADEAD_E_ARG);

    void *bib = NULL;
    size_t size = 0;
    assert_int_equal(adead_assemble(NULL, 5, "x", &bib, &size, err, sizeof err), ADEAD_E_ARG);
    assert_int_equal(adead_assemble(src, strlen(src), "x", NULL, &size, err, sizeof err), ADEAD_E_ARG);
    assert_int_equal(adead_assemble(src, strlen(src), "x", &bib, NULL, err, sizeof err), ADEAD_E_ARG);
    char *text = NULL;
    assert_int_equal(adead_disassemble(NULL, 5, &text, err, sizeof err), ADEAD_E_ARG);
    assert_int_equal(adead_disassemble("abc", 3, NULL, err, sizeof err), ADEAD_E_ARG);

    assert_int_equal(adead_program_input_count(NULL), 0);
    assert_int_equal(adead_program_output_count(NULL), 0);
    assert_null(adead_program_input_name(NULL, 0));
    assert_null(adead_program_output_name(NULL, 0));
    adead_program_free(NULL);
    assert_null(adead_vm_new(NULL));

    adead_tensor_view view;
    void *data;
    assert_int_equal(adead_npy_read(NULL, &view, &data, err, sizeof err), ADEAD_E_ARG);
    assert_int_equal(adead_npy_write("x.npy", NULL, err, sizeof err), ADEAD_E_ARG);
    assert_null(adead_tensor_text(NULL));
}

static void test_null_arguments_to_vm_functions(void **state)
{
    (void)state;
    assert_int_equal(adead_vm_set_fuel(NULL, 10), ADEAD_E_ARG);
    assert_int_equal(adead_vm_set_memory_limit(NULL, 1 << 20), ADEAD_E_ARG);
    assert_int_equal(adead_vm_add_fuel(NULL, 10), ADEAD_E_ARG);
    assert_int_equal(adead_vm_run(NULL), ADEAD_E_ARG);
    assert_int_equal(adead_vm_bind(NULL, "x", ADEAD_F32, 0, NULL, NULL), ADEAD_E_ARG);
    assert_int_equal(adead_vm_instructions(NULL), 0);
    assert_non_null(adead_vm_error(NULL));
    adead_tensor_view view;
    char hex[65];
    assert_int_equal(adead_vm_output(NULL, "x", &view), ADEAD_E_ARG);
    assert_int_equal(adead_vm_digest(NULL, hex), ADEAD_E_ARG);
    adead_vm_set_print(NULL, NULL, NULL);
    adead_vm_set_trace(NULL, NULL, NULL);
    adead_vm_free(NULL);

    adead_program *p = program(straight_line_src);
    adead_vm *vm = new_vm(p);
    const int64_t dims[1] = {1};
    const float one = 1.0f;
    expect_vm_error(vm, adead_vm_bind(vm, NULL, ADEAD_F32, 1, dims, &one), ADEAD_E_ARG, "bad arguments");
    expect_vm_error(vm, adead_vm_bind(vm, "x", ADEAD_F32, 1, NULL, &one), ADEAD_E_ARG, "bad arguments");
    expect_vm_error(vm, adead_vm_bind(vm, "x", ADEAD_F32, -1, dims, &one), ADEAD_E_ARG, "rank 0..4");
    run_ok(vm);
    assert_int_equal(adead_vm_output(vm, NULL, &view), ADEAD_E_ARG);
    assert_int_equal(adead_vm_output(vm, "out", NULL), ADEAD_E_ARG);
    assert_int_equal(adead_vm_digest(vm, NULL), ADEAD_E_ARG);
}

/* Messages respect the buffer: none with errlen 0, cut and terminated when short. */
static void test_error_buffer_sizes(void **state)
{
    (void)state;
    adead_program *p = NULL;
    char err[8];
    memset(err, 'x', sizeof err);
    assert_int_equal(adead_program_load_file("no/such/file.bib", &p, err, 0), ADEAD_E_IO);
    for (size_t i = 0; i < sizeof err; i++) assert_int_equal(err[i], 'x');
    assert_int_equal(adead_program_load_file("no/such/file.bib", &p, err, sizeof err), ADEAD_E_IO);
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_int_equal(adead_program_load_file("no/such/file.bib", &p, NULL, 0), ADEAD_E_IO);
    const char *bad = "main:\n  FOO r1\n";
    assert_int_equal(adead_program_assemble(bad, strlen(bad), "bad.adasm", &p, err, sizeof err), ADEAD_E_LOAD);
    assert_true(memchr(err, 0, sizeof err) != NULL);
    assert_int_equal(adead_program_assemble(bad, strlen(bad), "bad.adasm", &p, NULL, 0), ADEAD_E_LOAD);
    assert_null(p);
}

/* ---- loading ---- */

static void test_load_file_missing(void **state)
{
    (void)state;
    adead_program *p = (adead_program *)1;
    char err[512] = "";
    assert_int_equal(adead_program_load_file("tests/no_such_program.bib", &p, err, sizeof err), ADEAD_E_IO);
    assert_null(p);
    assert_contains(err, "tests/no_such_program.bib");
    assert_contains(err, "No such file or directory");
    assert_int_equal(adead_program_load_file("tests/no_such_program.adasm", &p, err, sizeof err), ADEAD_E_IO);
    assert_contains(err, "tests/no_such_program.adasm");
    /* a directory is not a program either */
    assert_int_equal(adead_program_load_file("tests", &p, err, sizeof err), ADEAD_E_IO);
}

typedef struct {
    char dir[64];
    char path[128];
} temp_dir;

static void temp_dir_make(temp_dir *td, const char *file_name)
{
    snprintf(td->dir, sizeof td->dir, "/tmp/adead_api_XXXXXX");
    assert_non_null(mkdtemp(td->dir));
    snprintf(td->path, sizeof td->path, "%s/%s", td->dir, file_name);
}

static void temp_dir_remove(temp_dir *td)
{
    unlink(td->path);
    assert_int_equal(rmdir(td->dir), 0);
}

static void write_file(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

static void test_load_file_assembles_adasm(void **state)
{
    (void)state;
    adead_program *p = NULL;
    char err[4096] = "";
    if (adead_program_load_file("examples/loop_sum.adasm", &p, err, sizeof err)) fail_msg("%s", err);
    keep_program(p);
    assert_int_equal(adead_program_input_count(p), 1);
    assert_string_equal(adead_program_input_name(p, 0), "n");
    adead_vm *vm = new_vm(p);
    run_ok(vm);
    assert_int_equal(output_i64(vm, "total", 0), 499500);

    /* errors in a file come back GCC-style, naming it */
    temp_dir td;
    temp_dir_make(&td, "bad.adasm");
    const char *bad = "main:\n  LDI r1, 1\n  ADD r1, r1, r999\n  HALT\n";
    write_file(td.path, bad, strlen(bad));
    assert_int_equal(adead_program_load_file(td.path, &p, err, sizeof err), ADEAD_E_LOAD);
    assert_null(p);
    char where[256];
    snprintf(where, sizeof where, "%s:3:", td.path);
    assert_contains(err, where);
    assert_contains(err, ": error: ");
    temp_dir_remove(&td);

    /* a .bib written from adead_assemble loads back from a file */
    temp_dir_make(&td, "fib.bib");
    void *bib;
    size_t size;
    assert_int_equal(adead_assemble(fib_src, strlen(fib_src), "fib.adasm", &bib, &size, err, sizeof err), ADEAD_OK);
    write_file(td.path, bib, size);
    free(bib);
    if (adead_program_load_file(td.path, &p, err, sizeof err)) fail_msg("%s", err);
    keep_program(p);
    vm = new_vm(p);
    run_ok(vm);
    assert_int_equal(output_i64(vm, "result", 0), 144);
    temp_dir_remove(&td);
}

/* The source is read as `len` bytes, with no NUL after it (ASan checks the block's end). */
static void test_assemble_reads_only_len_bytes(void **state)
{
    (void)state;
    size_t len = strlen(straight_line_src);
    char *exact = malloc(len);
    assert_non_null(exact);
    memcpy(exact, straight_line_src, len);
    adead_program *p = NULL;
    char err[1024] = "";
    int rc = adead_program_assemble(exact, len, NULL, &p, err, sizeof err);
    free(exact);
    if (rc) fail_msg("%s", err);
    keep_program(p);
    adead_vm *vm = new_vm(p);
    run_ok(vm);
    assert_int_equal(output_i64(vm, "out", 0), 14);

    /* only the first len bytes count: a prefix without HALT does not end the program */
    const char *cut = strstr(straight_line_src, "    HALT");
    rc = adead_program_assemble(straight_line_src, (size_t)(cut - straight_line_src), NULL, &p, err, sizeof err);
    assert_int_equal(rc, ADEAD_E_LOAD);
    assert_contains(err, "<memory>");
}

static void test_load_memory_garbage(void **state)
{
    (void)state;
    adead_program *p = (adead_program *)1;
    char err[1024] = "";
    static const char garbage[] = "this is not a bytecode file, just some text of some length.....";
    assert_int_equal(adead_program_load_memory(garbage, sizeof garbage, "garbage.bib", &p, err, sizeof err),
                     ADEAD_E_LOAD);
    assert_null(p);
    assert_contains(err, "garbage.bib: ");
    assert_int_equal(adead_program_load_memory(garbage, 0, NULL, &p, err, sizeof err), ADEAD_E_LOAD);
    assert_contains(err, "<memory>");
    assert_int_equal(adead_program_load_memory(NULL, 0, NULL, &p, err, sizeof err), ADEAD_E_LOAD);

    /* every proper prefix of a good image is refused, read in a block of exactly its size */
    void *bib;
    size_t size;
    assert_int_equal(adead_assemble(tasks_src, strlen(tasks_src), "tasks.adasm", &bib, &size, err, sizeof err),
                     ADEAD_OK);
    for (size_t len = 0; len < size; len++) {
        unsigned char *prefix = malloc(len ? len : 1);
        assert_non_null(prefix);
        memcpy(prefix, bib, len);
        assert_int_equal(adead_program_load_memory(prefix, len, "prefix.bib", &p, err, sizeof err), ADEAD_E_LOAD);
        assert_null(p);
        free(prefix);
    }
    /* any single byte changed: loads and runs, or is refused; never a crash */
    for (size_t pos = 0; pos < size; pos++) {
        static const unsigned char values[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
        for (size_t v = 0; v < sizeof values; v++) {
            unsigned char *copy = malloc(size);
            assert_non_null(copy);
            memcpy(copy, bib, size);
            copy[pos] = values[v];
            int rc = adead_program_load_memory(copy, size, "changed.bib", &p, err, sizeof err);
            free(copy); /* the program keeps its own copy */
            if (rc == ADEAD_OK) {
                adead_vm *vm = adead_vm_new(p);
                assert_non_null(vm);
                adead_vm_set_print(vm, NULL, NULL);
                adead_vm_set_fuel(vm, 100000);
                adead_vm_set_memory_limit(vm, 1 << 24);
                adead_vm_run(vm);
                adead_vm_free(vm);
                adead_program_free(p);
            } else {
                assert_int_equal(rc, ADEAD_E_LOAD);
                assert_true(err[0] != '\0');
            }
        }
    }
    free(bib);
}

static void test_io_names_in_declaration_order(void **state)
{
    (void)state;
    adead_program *p = program(io_src);
    assert_int_equal(adead_program_input_count(p), 3);
    assert_string_equal(adead_program_input_name(p, 0), "x");
    assert_string_equal(adead_program_input_name(p, 1), "shaped");
    assert_string_equal(adead_program_input_name(p, 2), "scale");
    assert_null(adead_program_input_name(p, 3));
    assert_null(adead_program_input_name(p, -1));
    assert_int_equal(adead_program_output_count(p), 3);
    assert_string_equal(adead_program_output_name(p, 0), "sum");
    assert_string_equal(adead_program_output_name(p, 1), "never");
    assert_string_equal(adead_program_output_name(p, 2), "count");
    assert_null(adead_program_output_name(p, 3));
    assert_null(adead_program_output_name(p, -1));

    p = program(straight_line_src);
    assert_int_equal(adead_program_input_count(p), 0);
    assert_null(adead_program_input_name(p, 0));
}

/* ---- binding ---- */

static void test_bind_rejects_bad_inputs(void **state)
{
    (void)state;
    adead_program *p = program(io_src);
    adead_vm *vm = new_vm(p);
    const float x[4] = {1, 2, 3, 4};
    const int32_t six[6] = {1, 2, 3, 4, 5, 6};
    const int64_t dims_4[1] = {4}, dims_2x3[2] = {2, 3}, dims_3x2[2] = {3, 2}, dims_6[1] = {6},
                  dims_rank5[5] = {1, 1, 1, 1, 4};
    expect_vm_error(vm, adead_vm_bind(vm, "nope", ADEAD_F32, 1, dims_4, x), ADEAD_E_ARG,
                    "there is no input named \"nope\"");
    expect_vm_error(vm, adead_vm_bind(vm, "sum", ADEAD_F32, 1, dims_4, x), ADEAD_E_ARG,
                    "there is no input named \"sum\"");
    expect_vm_error(vm, adead_vm_bind(vm, "tmp", ADEAD_F32, 1, dims_4, x), ADEAD_E_ARG,
                    "there is no input named \"tmp\" (its inputs: x, shaped");
    expect_vm_error(vm, adead_vm_bind(vm, "x", ADEAD_I32, 1, dims_4, x), ADEAD_E_ARG,
                    "input x is f32, the data given is i32");
    expect_vm_error(vm, adead_vm_bind(vm, "shaped", ADEAD_I64, 2, dims_2x3, six), ADEAD_E_ARG,
                    "input shaped is i32, the data given is i64");
    expect_vm_error(vm, adead_vm_bind(vm, "shaped", ADEAD_I32, 2, dims_3x2, six), ADEAD_E_ARG,
                    "input shaped: the shape given, [3,2], differs from the declared [2,3]");
    expect_vm_error(vm, adead_vm_bind(vm, "shaped", ADEAD_I32, 1, dims_6, six), ADEAD_E_ARG,
                    "input shaped: the shape given, [6], differs from the declared [2,3]");
    expect_vm_error(vm, adead_vm_bind(vm, "x", ADEAD_F32, 5, dims_rank5, x), ADEAD_E_ARG, "rank 0..4");
    expect_vm_error(vm, adead_vm_bind(vm, "x", ADEAD_F32, 1, dims_4, NULL), ADEAD_E_ARG, "data is NULL");
    expect_vm_error(vm, adead_vm_bind(vm, "x", (adead_dtype)7, 1, dims_4, x), ADEAD_E_ARG, "input x is f32");

    /* NULL data is fine for no elements; the right shape and dtype bind */
    const int64_t dims_0[1] = {0};
    assert_int_equal(adead_vm_bind(vm, "x", ADEAD_F32, 1, dims_0, NULL), ADEAD_OK);
    assert_int_equal(adead_vm_bind(vm, "x", ADEAD_F32, 1, dims_4, x), ADEAD_OK);
    assert_int_equal(adead_vm_bind(vm, "shaped", ADEAD_I32, 2, dims_2x3, six), ADEAD_OK);
    run_ok(vm);
    adead_tensor_view sum = output_of(vm, "sum");
    assert_int_equal(sum.rank, 1);
    assert_int_equal(sum.dims[0], 4);
    const float doubled[4] = {2, 4, 6, 8};
    assert_memory_equal(sum.data, doubled, sizeof doubled);
    assert_int_equal(output_i64(vm, "count", 0), 4);
}

/* The bound data is copied: changing the caller's buffer afterwards changes nothing. */
static void test_bind_copies_data(void **state)
{
    (void)state;
    adead_program *p = program(loop_sum_src);
    adead_vm *vm = new_vm(p);
    int64_t n = 10;
    const int64_t dims[1] = {1};
    assert_int_equal(adead_vm_bind(vm, "n", ADEAD_I64, 1, dims, &n), ADEAD_OK);
    n = 1000;
    run_ok(vm);
    assert_int_equal(output_i64(vm, "total", 0), 45);
}

/* A bind refused for NULL data must leave the input unbound: the run then says so, rather
 * than running on zeros the caller never gave. */
static void test_failed_bind_leaves_input_unbound(void **state)
{
    (void)state;
    adead_program *p = program(io_src);
    adead_vm *vm = new_vm(p);
    const int64_t dims_4[1] = {4};
    expect_vm_error(vm, adead_vm_bind(vm, "x", ADEAD_F32, 1, dims_4, NULL), ADEAD_E_ARG, "data is NULL");
    expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_ARG, "input x is not bound");
}

/* A negative dimension is a bad argument to adead_vm_bind (ADEAD_E_ARG), not a trap. */
static void test_bind_negative_dimension_is_bad_argument(void **state)
{
    (void)state;
    adead_program *p = program(io_src);
    adead_vm *vm = new_vm(p);
    const int64_t dims[1] = {-4};
    const float x[4] = {1, 2, 3, 4};
    expect_vm_error(vm, adead_vm_bind(vm, "x", ADEAD_F32, 1, dims, x), ADEAD_E_ARG, "negative");
}

static void test_bind_after_run(void **state)
{
    (void)state;
    adead_program *p = program(loop_sum_src);
    const int64_t dims[1] = {1}, n = 10;
    adead_vm *vm = new_vm(p);
    run_ok(vm);
    expect_vm_error(vm, adead_vm_bind(vm, "n", ADEAD_I64, 1, dims, &n), ADEAD_E_ARG, "has started");

    /* a run stopped for fuel has started too */
    vm = new_vm(p);
    assert_int_equal(adead_vm_set_fuel(vm, 3), ADEAD_OK);
    assert_int_equal(adead_vm_run(vm), ADEAD_E_FUEL);
    expect_vm_error(vm, adead_vm_bind(vm, "n", ADEAD_I64, 1, dims, &n), ADEAD_E_ARG, "has started");

    /* binding twice before the run: the last one counts */
    vm = new_vm(p);
    const int64_t first = 5;
    assert_int_equal(adead_vm_bind(vm, "n", ADEAD_I64, 1, dims, &first), ADEAD_OK);
    assert_int_equal(adead_vm_bind(vm, "n", ADEAD_I64, 1, dims, &n), ADEAD_OK);
    run_ok(vm);
    assert_int_equal(output_i64(vm, "total", 0), 45);
}

/* ---- running ---- */

/* io_src's input with a declared shape and no default: every run binds it. */
static void bind_shaped(adead_vm *vm)
{
    const int32_t six[6] = {1, 2, 3, 4, 5, 6};
    const int64_t dims_2x3[2] = {2, 3};
    assert_int_equal(adead_vm_bind(vm, "shaped", ADEAD_I32, 2, dims_2x3, six), ADEAD_OK);
}

static void test_run_with_unbound_input(void **state)
{
    (void)state;
    adead_program *p = program(io_src);
    adead_vm *vm = new_vm(p);
    expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_ARG, "input x is not bound");
    assert_contains(adead_vm_error(vm), "test.adasm");
    const float x[2] = {1, 2};
    const int64_t dims[1] = {2};
    assert_int_equal(adead_vm_bind(vm, "x", ADEAD_F32, 1, dims, x), ADEAD_OK);
    /* a declared shape is no initial value: 'shaped' must be bound too; 'scale' has a default */
    expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_ARG, "input shaped is not bound");
    bind_shaped(vm);
    run_ok(vm);
    assert_int_equal(output_i64(vm, "count", 0), 2);
}

static void test_run_after_finish(void **state)
{
    (void)state;
    adead_program *p = program(straight_line_src);
    adead_vm *vm = new_vm(p);
    run_ok(vm);
    expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_ARG, "this VM has finished");
    expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_ARG, "create a new VM");
    assert_int_equal(adead_vm_add_fuel(vm, 10), ADEAD_E_ARG);
    /* the outputs of the finished run stay readable */
    assert_int_equal(output_i64(vm, "out", 0), 14);

    /* after a trap as well */
    p = program("main:\n  LDI r1, 1\n  LDI r2, 0\n  REM r3, r1, r2\n  HALT\n");
    vm = new_vm(p);
    expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_TRAP, "test.adasm:4: pc 2 (REM): ");
    /* the trapping instruction was started, so it counts */
    assert_int_equal(adead_vm_instructions(vm), 3);
    expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_ARG, "this VM has finished");
}

static void test_output_errors(void **state)
{
    (void)state;
    adead_program *p = program(io_src);
    adead_vm *vm = new_vm(p);
    adead_tensor_view t;
    char hex[65];
    expect_vm_error(vm, adead_vm_output(vm, "sum", &t), ADEAD_E_ARG, "after a run that ended with HALT");
    expect_vm_error(vm, adead_vm_digest(vm, hex), ADEAD_E_ARG, "after a run that ended with HALT");
    const float x[2] = {1, 2};
    const int64_t dims[1] = {2};
    assert_int_equal(adead_vm_bind(vm, "x", ADEAD_F32, 1, dims, x), ADEAD_OK);
    bind_shaped(vm);
    expect_vm_error(vm, adead_vm_output(vm, "sum", &t), ADEAD_E_ARG, "after a run");
    run_ok(vm);
    expect_vm_error(vm, adead_vm_output(vm, "nope", &t), ADEAD_E_ARG, "there is no output named \"nope\"");
    expect_vm_error(vm, adead_vm_output(vm, "x", &t), ADEAD_E_ARG, "there is no output named \"x\"");
    expect_vm_error(vm, adead_vm_output(vm, "tmp", &t), ADEAD_E_ARG, "there is no output named \"tmp\"");
    expect_vm_error(vm, adead_vm_output(vm, "never", &t), ADEAD_E_ARG, "output never was never written");
    /* the digest needs every output */
    expect_vm_error(vm, adead_vm_digest(vm, hex), ADEAD_E_ARG, "never");
    assert_int_equal(adead_vm_output(vm, "sum", &t), ADEAD_OK);

    /* and not after a stop for fuel */
    vm = new_vm(p);
    assert_int_equal(adead_vm_bind(vm, "x", ADEAD_F32, 1, dims, x), ADEAD_OK);
    bind_shaped(vm);
    assert_int_equal(adead_vm_set_fuel(vm, 2), ADEAD_OK);
    assert_int_equal(adead_vm_run(vm), ADEAD_E_FUEL);
    expect_vm_error(vm, adead_vm_output(vm, "count", &t), ADEAD_E_ARG, "after a run that ended with HALT");
}

static void test_limits_are_set_before_starting(void **state)
{
    (void)state;
    adead_program *p = program(loop_sum_src);
    const int64_t dims[1] = {1}, n = 10;

    adead_vm *vm = new_vm(p);
    assert_int_equal(adead_vm_set_memory_limit(vm, 1 << 20), ADEAD_OK);
    assert_int_equal(adead_vm_bind(vm, "n", ADEAD_I64, 1, dims, &n), ADEAD_OK);
    assert_int_equal(adead_vm_set_memory_limit(vm, 1 << 21), ADEAD_OK); /* binding uses no VM memory */
    run_ok(vm);
    expect_vm_error(vm, adead_vm_set_memory_limit(vm, 1 << 21), ADEAD_E_ARG, "adead_vm_set_memory_limit");

    vm = new_vm(p);
    assert_int_equal(adead_vm_set_fuel(vm, 4), ADEAD_OK);
    assert_int_equal(adead_vm_run(vm), ADEAD_E_FUEL);
    expect_vm_error(vm, adead_vm_set_fuel(vm, 1000), ADEAD_E_ARG, "use adead_vm_add_fuel");
    expect_vm_error(vm, adead_vm_set_memory_limit(vm, 1 << 21), ADEAD_E_ARG, "adead_vm_set_memory_limit");
    assert_int_equal(adead_vm_add_fuel(vm, 1000), ADEAD_OK);
    run_ok(vm);
    expect_vm_error(vm, adead_vm_set_fuel(vm, 1000), ADEAD_E_ARG, "the VM has started");
}

/* ---- fuel ---- */

static void test_fuel_exact_on_straight_line(void **state)
{
    (void)state;
    adead_program *p = program(straight_line_src);
    const uint64_t k = STRAIGHT_LINE_LENGTH;

    adead_vm *vm = new_vm(p);
    run_ok(vm);
    assert_int_equal(adead_vm_instructions(vm), k);

    vm = new_vm(p);
    assert_int_equal(adead_vm_set_fuel(vm, k), ADEAD_OK);
    run_ok(vm);
    assert_int_equal(adead_vm_instructions(vm), k);
    assert_int_equal(output_i64(vm, "out", 0), 14);

    /* a budget short by any amount stops after exactly that many, and resumes to the end */
    for (uint64_t fuel = 1; fuel < k; fuel++) {
        vm = new_vm(p);
        assert_int_equal(adead_vm_instructions(vm), 0);
        assert_int_equal(adead_vm_set_fuel(vm, fuel), ADEAD_OK);
        expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_FUEL, "out of fuel");
        assert_int_equal(adead_vm_instructions(vm), fuel);
        /* running again with no more fuel stops at the same place */
        assert_int_equal(adead_vm_run(vm), ADEAD_E_FUEL);
        assert_int_equal(adead_vm_instructions(vm), fuel);
        assert_int_equal(adead_vm_add_fuel(vm, k - fuel), ADEAD_OK);
        run_ok(vm);
        assert_int_equal(adead_vm_instructions(vm), k);
        assert_int_equal(output_i64(vm, "out", 0), 14);
    }

    /* the message names where it stopped */
    vm = new_vm(p);
    assert_int_equal(adead_vm_set_fuel(vm, k - 1), ADEAD_OK);
    expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_FUEL, "test.adasm:9: pc 6 (HALT): out of fuel after 6 instructions");
}

typedef struct {
    char digest[65];
    uint64_t instructions;
} run_summary;

static run_summary run_unlimited(const adead_program *p)
{
    run_summary s;
    adead_vm *vm = new_vm(p);
    run_ok(vm);
    s.instructions = adead_vm_instructions(vm);
    digest_hex(vm, s.digest);
    return s;
}

/* Run with `step` units of fuel at a time; at every stop the count equals the fuel granted. */
static run_summary run_in_steps(const adead_program *p, uint64_t step)
{
    run_summary s;
    adead_vm *vm = new_vm(p);
    assert_int_equal(adead_vm_set_fuel(vm, step), ADEAD_OK);
    uint64_t granted = step;
    int rc;
    while ((rc = adead_vm_run(vm)) == ADEAD_E_FUEL) {
        if (adead_vm_instructions(vm) != granted)
            fail_msg("step %llu: stopped after %llu instructions, %llu granted", (unsigned long long)step,
                     (unsigned long long)adead_vm_instructions(vm), (unsigned long long)granted);
        assert_int_equal(adead_vm_add_fuel(vm, step), ADEAD_OK);
        granted += step;
    }
    if (rc) fail_msg("step %llu: %s", (unsigned long long)step, adead_vm_error(vm));
    s.instructions = adead_vm_instructions(vm);
    assert_true(s.instructions <= granted && s.instructions > granted - step);
    digest_hex(vm, s.digest);
    return s;
}

static void check_resumption(const char *src, int64_t expected_instructions)
{
    adead_program *p = program(src);
    run_summary whole = run_unlimited(p);
    if (expected_instructions) assert_int_equal(whole.instructions, expected_instructions);
    static const uint64_t steps[] = {1, 2, 3, 7, 64, 1000};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        run_summary parts = run_in_steps(p, steps[i]);
        assert_string_equal(parts.digest, whole.digest);
        assert_int_equal(parts.instructions, whole.instructions);
    }
}

static void test_fuel_resume_loop(void **state)
{
    (void)state;
    check_resumption(loop_sum_src, 5 + 2 * 100 + 2);
    adead_program *p = program(loop_sum_src);
    adead_vm *vm = new_vm(p);
    assert_int_equal(adead_vm_set_fuel(vm, 1), ADEAD_OK);
    while (adead_vm_run(vm) == ADEAD_E_FUEL) adead_vm_add_fuel(vm, 1);
    assert_int_equal(output_i64(vm, "total", 0), 4950);
}

static void test_fuel_resume_calls_and_tasks(void **state)
{
    (void)state;
    check_resumption(fib_src, 0);
    check_resumption(tasks_src, 0);
}

/* Fuel past 2^63 - 1 is clamped, not wrapped: the run is unlimited. */
static void test_fuel_huge_values(void **state)
{
    (void)state;
    adead_program *p = program(loop_sum_src);
    adead_vm *vm = new_vm(p);
    assert_int_equal(adead_vm_set_fuel(vm, UINT64_MAX), ADEAD_OK);
    run_ok(vm);
    vm = new_vm(p);
    assert_int_equal(adead_vm_set_fuel(vm, 5), ADEAD_OK);
    assert_int_equal(adead_vm_run(vm), ADEAD_E_FUEL);
    assert_int_equal(adead_vm_add_fuel(vm, UINT64_MAX), ADEAD_OK);
    assert_int_equal(adead_vm_add_fuel(vm, UINT64_MAX), ADEAD_OK);
    run_ok(vm);
    assert_int_equal(adead_vm_instructions(vm), 207);
}

/* ---- memory limit ---- */

static int run_alloc(const adead_program *p, uint64_t limit, int64_t alloc_bytes, adead_vm **out)
{
    adead_vm *vm = new_vm(p);
    assert_int_equal(adead_vm_set_memory_limit(vm, limit), ADEAD_OK);
    const int64_t dims[1] = {1};
    int rc = adead_vm_bind(vm, "bytes", ADEAD_I64, 1, dims, &alloc_bytes);
    if (!rc) rc = adead_vm_run(vm);
    *out = vm;
    return rc;
}

static void test_memory_limit(void **state)
{
    (void)state;
    adead_program *p = program(alloc_src);
    adead_vm *vm;
    /* 1 MiB of tensor (512 x 512 f32) fits in 4 MiB, not in 1 MiB */
    assert_int_equal(run_alloc(p, 4 << 20, 4096, &vm), ADEAD_OK);
    assert_int_equal(output_i64(vm, "done", 0), 1);

    int rc = run_alloc(p, 1 << 20, 4096, &vm);
    expect_vm_error(vm, rc, ADEAD_E_MEMORY, "bytes of tensor data are over the memory limit (1048576 bytes");
    assert_contains(adead_vm_error(vm), "(TNEW)");

    /* ALLOC past the limit */
    rc = run_alloc(p, 4 << 20, 8 << 20, &vm);
    expect_vm_error(vm, rc, ADEAD_E_MEMORY, "ALLOC of 8388608 bytes is over the memory limit (4194304 bytes");

    /* the default limit is 1 GiB */
    vm = new_vm(p);
    const int64_t dims[1] = {1}, gib = (int64_t)ADEAD_DEFAULT_MEMORY;
    assert_int_equal(adead_vm_bind(vm, "bytes", ADEAD_I64, 1, dims, &gib), ADEAD_OK);
    expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_MEMORY, "over the memory limit (1073741824 bytes");

    /* an absurd ALLOC is the limit too, not the host */
    rc = run_alloc(p, 4 << 20, INT64_MAX, &vm);
    expect_vm_error(vm, rc, ADEAD_E_MEMORY, "ALLOC of ");
}

/* A limit too small for the declared tensors is reported by the run that lays them out; asking
 * again gives the same answer (and leaks nothing: see the sanitizer build). A bind only copies the
 * data, refusing it when it alone is over the limit. */
static void test_memory_limit_hit_before_running(void **state)
{
    (void)state;
    adead_program *p = program(".input a i64 [1] = [1]\n.input b i64 [1] = [2]\n.output c i64 [1]\nmain:\n  HALT\n");
    const int64_t dims[1] = {1}, one = 1;
    adead_vm *vm = new_vm(p);
    /* room for block 0 and one tensor's block, not the second */
    assert_int_equal(adead_vm_set_memory_limit(vm, 8192), ADEAD_OK);
    assert_int_equal(adead_vm_bind(vm, "a", ADEAD_I64, 1, dims, &one), ADEAD_OK);
    expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_MEMORY, "over the memory limit");
    expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_MEMORY, "over the memory limit");
    adead_vm *vm2 = new_vm(program(".input x i64\nmain:\n  HALT\n"));
    assert_int_equal(adead_vm_set_memory_limit(vm2, 8192), ADEAD_OK);
    const int64_t big[1] = {2048};
    int64_t *data = calloc(2048, sizeof *data);
    expect_vm_error(vm2, adead_vm_bind(vm2, "x", ADEAD_I64, 1, big, data), ADEAD_E_MEMORY, "input x: 16384 bytes are over the memory limit");
    free(data);

    vm = new_vm(p);
    assert_int_equal(adead_vm_set_memory_limit(vm, 1), ADEAD_OK);
    expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_MEMORY, "over the memory limit (1 bytes");
}

/* After a run refused for the memory limit the VM has not started, and set_memory_limit takes a
 * new limit; the next run must then set the tensors up afresh, each with its own storage. */
static void test_retry_after_memory_limit_keeps_tensors_apart(void **state)
{
    (void)state;
    adead_program *p = program(".input  a i64 [1] = [1]\n"
                               ".input  b i64 [1] = [2]\n"
                               ".output c i64 [2]\n"
                               "main:\n"
                               "    LDI r0, 0\n"
                               "    TLD r1, a, r0\n"
                               "    TLD r2, b, r0\n"
                               "    TST c, r0, r1\n"
                               "    LDI r3, 1\n"
                               "    TST c, r3, r2\n"
                               "    HALT\n");
    adead_vm *vm = new_vm(p);
    const int64_t dims[1] = {1}, one = 1;
    assert_int_equal(adead_vm_set_memory_limit(vm, 8192), ADEAD_OK);
    assert_int_equal(adead_vm_bind(vm, "a", ADEAD_I64, 1, dims, &one), ADEAD_OK);
    expect_vm_error(vm, adead_vm_run(vm), ADEAD_E_MEMORY, "over the memory limit");
    assert_int_equal(adead_vm_set_memory_limit(vm, 1 << 20), ADEAD_OK);
    run_ok(vm);
    assert_int_equal(output_i64(vm, "c", 0), 1);
    assert_int_equal(output_i64(vm, "c", 1), 2);
}

/* ---- determinism against the host ---- */

/* Binds only copy data: tensors are laid out in slot order at the first run, so the order of
 * the binds cannot move the program's ALLOC addresses. */
static void test_bind_order_does_not_move_addresses(void **state)
{
    (void)state;
    adead_program *p = program(".input a i64 = [1, 2]\n.input b i64 = [3]\n.output where i64 [1]\n"
                               "main:\n  TFREE a\n  LDI r1, 16\n  ALLOC r2, r1\n  LDI r0, 0\n  TST where, r0, r2\n  HALT\n");
    const int64_t big_dims[1] = {2000}, small_dims[1] = {1};
    int64_t *big = calloc(2000, sizeof *big), small = 7;
    int64_t where[2];
    for (int order = 0; order < 2; order++) {
        adead_vm *vm = new_vm(p);
        if (order) assert_int_equal(adead_vm_bind(vm, "b", ADEAD_I64, 1, small_dims, &small), ADEAD_OK);
        assert_int_equal(adead_vm_bind(vm, "a", ADEAD_I64, 1, big_dims, big), ADEAD_OK);
        if (!order) assert_int_equal(adead_vm_bind(vm, "b", ADEAD_I64, 1, small_dims, &small), ADEAD_OK);
        run_ok(vm);
        where[order] = output_i64(vm, "where", 0);
    }
    assert_int_equal(where[0], where[1]);
    free(big);
}

/* A host running with another rounding mode gets the same bits from the assembler, the
 * disassembler, the tensor text and a run, and gets its mode back. */
static void test_host_rounding_mode_does_not_leak(void **state)
{
    (void)state;
    const char *src = ".output y f32 [1]\nmain:\n  LDF r1, 0.7\n  LDF r2, 3\n  FDIV r1, r1, r2\n  LDI r0, 0\n  TST y, r0, r1\n  HALT\n";
    void *bib[2];
    size_t size[2];
    char err[1024], *text[2], *shown[2];
    uint32_t bits[2];
    for (int upward = 0; upward < 2; upward++) {
        if (upward) fesetround(FE_UPWARD);
        assert_int_equal(adead_assemble(src, strlen(src), "r.adasm", &bib[upward], &size[upward], err, sizeof err), ADEAD_OK);
        assert_int_equal(adead_disassemble(bib[upward], size[upward], &text[upward], err, sizeof err), ADEAD_OK);
        adead_program *p = NULL;
        assert_int_equal(adead_program_load_memory(bib[upward], size[upward], "r.bib", &p, err, sizeof err), ADEAD_OK);
        adead_vm *vm = adead_vm_new(p);
        assert_int_equal(adead_vm_run(vm), ADEAD_OK);
        adead_tensor_view y;
        assert_int_equal(adead_vm_output(vm, "y", &y), ADEAD_OK);
        memcpy(&bits[upward], y.data, 4);
        shown[upward] = adead_tensor_text(&y);
        if (upward) {
            assert_int_equal(fegetround(), FE_UPWARD);
            fesetround(FE_TONEAREST);
        }
        adead_vm_free(vm);
        adead_program_free(p);
    }
    assert_int_equal(size[0], size[1]);
    assert_memory_equal(bib[0], bib[1], size[0]);
    assert_string_equal(text[0], text[1]);
    assert_int_equal(bits[0], bits[1]);
    assert_string_equal(shown[0], shown[1]);
    for (int i = 0; i < 2; i++) {
        free(bib[i]);
        free(text[i]);
        free(shown[i]);
    }
}

/* ---- print and trace ---- */

static void test_print_callback(void **state)
{
    (void)state;
    adead_program *p = program(print_src);
    adead_vm *vm = new_vm(p);
    capture out;
    memset(&out, 0, sizeof out);
    adead_vm_set_print(vm, capture_write, &out);
    run_ok(vm);
    assert_string_equal(out.buf, "-5\n"
                                 "9223372036854775807\n"
                                 "0.100000001\n"
                                 "1.5\n"
                                 "-inf\n"
                                 "hello\tworld\n"
                                 "i32[2,2] [[1, 2], [3, -4]]\n"
                                 "(empty tensor)\n");

    /* a NULL sink prints nothing, and the run is the same */
    vm = new_vm(p);
    adead_vm_set_print(vm, NULL, NULL);
    run_ok(vm);
    assert_int_equal(adead_vm_instructions(vm), 14);
}

static void test_trace_callback(void **state)
{
    (void)state;
    adead_program *p = program(straight_line_src);
    adead_vm *vm = new_vm(p);
    capture trace;
    memset(&trace, 0, sizeof trace);
    adead_vm_set_trace(vm, capture_write, &trace);
    run_ok(vm);
    assert_string_equal(trace.buf, "[task 0] pc 0 test.adasm:3: LDI r0, 0\n"
                                   "  r0=0\n"
                                   "[task 0] pc 1 test.adasm:4: LDI r1, 1\n"
                                   "  r1=1\n"
                                   "[task 0] pc 2 test.adasm:5: ADDI r1, r1, 2\n"
                                   "  r1=3\n"
                                   "[task 0] pc 3 test.adasm:6: MULI r1, r1, 5\n"
                                   "  r1=15\n"
                                   "[task 0] pc 4 test.adasm:7: ADDI r1, r1, -1\n"
                                   "  r1=14\n"
                                   "[task 0] pc 5 test.adasm:8: TST out, r0, r1\n"
                                   "[task 0] pc 6 test.adasm:9: HALT\n");
    assert_int_equal(adead_vm_instructions(vm), STRAIGHT_LINE_LENGTH);

    /* tracing turned off again: nothing more arrives */
    vm = new_vm(p);
    memset(&trace, 0, sizeof trace);
    adead_vm_set_trace(vm, capture_write, &trace);
    adead_vm_set_trace(vm, NULL, NULL);
    run_ok(vm);
    assert_int_equal(trace.n, 0);

    /* trace and print go to their own sinks */
    adead_program *printer = program("main:\n  LDI r0, 7\n  PRINTI r0\n  HALT\n");
    vm = new_vm(printer);
    capture out;
    memset(&out, 0, sizeof out);
    memset(&trace, 0, sizeof trace);
    adead_vm_set_print(vm, capture_write, &out);
    adead_vm_set_trace(vm, capture_write, &trace);
    run_ok(vm);
    assert_string_equal(out.buf, "7\n");
    assert_string_equal(trace.buf, "[task 0] pc 0 test.adasm:2: LDI r0, 7\n"
                                   "  r0=7\n"
                                   "[task 0] pc 1 test.adasm:3: PRINTI r0\n"
                                   "[task 0] pc 2 test.adasm:4: HALT\n");
}

/* docs/cli.md: the trace shows, after each instruction, "the registers it wrote". LOOP writes
 * its counter (ra += 1), so the counter's new value belongs in the trace. */
static void test_trace_shows_loop_counter(void **state)
{
    (void)state;
    adead_program *p = program("main:\n"
                               "    LDI  r1, 0\n"
                               "    LDI  r2, 2\n"
                               "loop:\n"
                               "    LOOP r1, r2, loop\n"
                               "    HALT\n");
    adead_vm *vm = new_vm(p);
    capture trace;
    memset(&trace, 0, sizeof trace);
    adead_vm_set_trace(vm, capture_write, &trace);
    run_ok(vm);
    assert_contains(trace.buf, "[task 0] pc 2 test.adasm:5: LOOP r1, r2, loop\n  r1=1\n");
    assert_contains(trace.buf, "[task 0] pc 2 test.adasm:5: LOOP r1, r2, loop\n  r1=2\n");
}

/* ---- digest ---- */

static void hash_le(sha256_ctx *c, uint64_t v, int bytes)
{
    unsigned char b[8];
    for (int i = 0; i < bytes; i++) b[i] = (unsigned char)(v >> (8 * i));
    sha256_update(c, b, (size_t)bytes);
}

/* docs/cli.md: per output in declaration order, name + NUL, dtype u32, rank u32, dims u64, data. */
static void hash_output(sha256_ctx *c, const char *name, uint32_t dtype, uint32_t rank, const uint64_t *dims,
                        const void *data, size_t nbytes)
{
    sha256_update(c, name, strlen(name) + 1);
    hash_le(c, dtype, 4);
    hash_le(c, rank, 4);
    for (uint32_t i = 0; i < rank; i++) hash_le(c, dims[i], 8);
    sha256_update(c, data, nbytes);
}

static void test_digest_by_hand(void **state)
{
    (void)state;
    adead_program *p = program(two_outputs_src);
    adead_vm *vm = new_vm(p);
    run_ok(vm);

    static const uint32_t probs_bits[4] = {0x3f000000u, 0x80000000u, 0x7f800000u, 0x3a83126fu};
    const int64_t count = -123456789012;
    const uint64_t probs_dims[2] = {2, 2};
    unsigned char probs_le[16], count_le[8];
    for (int i = 0; i < 16; i++) probs_le[i] = (unsigned char)(probs_bits[i / 4] >> (8 * (i % 4)));
    for (int i = 0; i < 8; i++) count_le[i] = (unsigned char)((uint64_t)count >> (8 * i));

    /* the outputs are what the hand computation assumes */
    adead_tensor_view probs = output_of(vm, "probs"), c = output_of(vm, "count");
    assert_int_equal(probs.nbytes, 16);
    assert_memory_equal(probs.data, probs_le, 16);
    assert_int_equal(c.rank, 0);
    assert_int_equal(c.nbytes, 8);
    assert_memory_equal(c.data, count_le, 8);

    sha256_ctx ctx;
    sha256_init(&ctx);
    hash_output(&ctx, "probs", ADEAD_F32, 2, probs_dims, probs_le, sizeof probs_le);
    hash_output(&ctx, "count", ADEAD_I64, 0, NULL, count_le, sizeof count_le);
    unsigned char d[32];
    sha256_final(&ctx, d);
    char expected[65], hex[65];
    sha256_hex(d, expected);
    digest_hex(vm, hex);
    assert_string_equal(hex, expected);
    /* the same again */
    digest_hex(vm, hex);
    assert_string_equal(hex, expected);

    /* no outputs: the digest of nothing */
    p = program("main:\n  HALT\n");
    vm = new_vm(p);
    run_ok(vm);
    digest_hex(vm, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ---- tensor text ---- */

static void expect_text(const adead_tensor_view *t, const char *expected)
{
    char *text = adead_tensor_text(t);
    assert_non_null(text);
    assert_string_equal(text, expected);
    free(text);
}

static void test_tensor_text_formats(void **state)
{
    (void)state;
    const int64_t scalar = -7;
    adead_tensor_view t = tensor_view(ADEAD_I64, 0, NULL, &scalar, 8);
    expect_text(&t, "i64[] -7");

    const int64_t dims_0[1] = {0}, dims_2x0[2] = {2, 0}, dims_0x3[2] = {0, 3};
    t = tensor_view(ADEAD_F32, 1, dims_0, NULL, 0);
    expect_text(&t, "f32[0] []");
    const int64_t huge_but_empty[3] = {(int64_t)1 << 40, (int64_t)1 << 40, 0}; /* must not walk 2^80 rows */
    t = tensor_view(ADEAD_F32, 3, huge_but_empty, NULL, 0);
    expect_text(&t, "f32[1099511627776,1099511627776,0] []");
    t = tensor_view(ADEAD_I32, 2, dims_2x0, NULL, 0);
    expect_text(&t, "i32[2,0] []"); /* like numpy: an empty array prints as [] */
    t = tensor_view(ADEAD_I32, 2, dims_0x3, NULL, 0);
    expect_text(&t, "i32[0,3] []");

    const int32_t i32s[6] = {1, -2, 3, 4, 5, INT32_MIN};
    const int64_t dims_2x3[2] = {2, 3};
    t = tensor_view(ADEAD_I32, 2, dims_2x3, i32s, sizeof i32s);
    expect_text(&t, "i32[2,3] [[1, -2, 3], [4, 5, -2147483648]]");

    const int64_t i64s[2] = {INT64_MIN, INT64_MAX}, dims_2[1] = {2};
    t = tensor_view(ADEAD_I64, 1, dims_2, i64s, sizeof i64s);
    expect_text(&t, "i64[2] [-9223372036854775808, 9223372036854775807]");

    const int32_t rank4[2] = {1, 2};
    const int64_t dims_1x1x1x2[4] = {1, 1, 1, 2};
    t = tensor_view(ADEAD_I32, 4, dims_1x1x1x2, rank4, sizeof rank4);
    expect_text(&t, "i32[1,1,1,2] [[[[1, 2]]]]");
}

static void test_tensor_text_f32_specials(void **state)
{
    (void)state;
    static const uint32_t bits[8] = {0x3dcccccdu, 0x80000000u, 0x00000000u, 0x7f800000u,
                                     0xff800000u, 0x7fc00000u, 0x00000001u, 0x7f7fffffu};
    const int64_t dims[1] = {8};
    adead_tensor_view t = tensor_view(ADEAD_F32, 1, dims, bits, sizeof bits);
    expect_text(&t, "f32[8] [0.100000001, -0, 0, inf, -inf, nan, 1.40129846e-45, 3.40282347e+38]");
    const float half = 0.5f;
    t = tensor_view(ADEAD_F32, 0, NULL, &half, 4);
    expect_text(&t, "f32[] 0.5");
}

/* At most 1000 elements are shown, then "...". */
static void test_tensor_text_truncates(void **state)
{
    (void)state;
    int32_t values[1200];
    for (int i = 0; i < 1200; i++) values[i] = i;

    const int64_t exactly[1] = {1000};
    adead_tensor_view t = tensor_view(ADEAD_I32, 1, exactly, values, 1000 * 4);
    char *text = adead_tensor_text(&t);
    assert_non_null(text);
    assert_null(strstr(text, "..."));
    assert_true(strlen(text) > 6 && !strcmp(text + strlen(text) - 6, ", 999]"));
    free(text);

    const int64_t over[1] = {1001};
    t = tensor_view(ADEAD_I32, 1, over, values, 1001 * 4);
    text = adead_tensor_text(&t);
    assert_non_null(text);
    assert_true(strlen(text) > 11 && !strcmp(text + strlen(text) - 11, ", 999, ...]"));
    assert_null(strstr(text, "1000"));
    free(text);

    const int64_t rows[2] = {2, 600};
    t = tensor_view(ADEAD_I32, 2, rows, values, 1200 * 4);
    text = adead_tensor_text(&t);
    assert_non_null(text);
    assert_true(!strncmp(text, "i32[2,600] [[0, 1, 2, ", 22));
    assert_true(strlen(text) > 12 && !strcmp(text + strlen(text) - 12, ", 999, ...]]"));
    free(text);

    /* bad views give NULL */
    t.rank = 5;
    assert_null(adead_tensor_text(&t));
    t.rank = -1;
    assert_null(adead_tensor_text(&t));
}

/* ---- programs shared by VMs ---- */

static void test_program_shared_by_two_vms(void **state)
{
    (void)state;
    adead_program *p = program(fib_src);
    /* one VM stops for fuel again and again while the other runs: its fuel patch stays its own */
    adead_vm *a = new_vm(p), *b = new_vm(p);
    assert_int_equal(adead_vm_set_fuel(a, 5), ADEAD_OK);
    assert_int_equal(adead_vm_run(a), ADEAD_E_FUEL);
    run_ok(b);
    int rc;
    while ((rc = adead_vm_run(a)) == ADEAD_E_FUEL) assert_int_equal(adead_vm_add_fuel(a, 5), ADEAD_OK);
    assert_int_equal(rc, ADEAD_OK);
    adead_tensor_view ra = output_of(a, "result"), rb = output_of(b, "result");
    assert_int_equal(ra.nbytes, rb.nbytes);
    assert_memory_equal(ra.data, rb.data, ra.nbytes);
    assert_int_equal(output_i64(a, "result", 0), 144);
    assert_int_equal(adead_vm_instructions(a), adead_vm_instructions(b));
    char da[65], db[65];
    digest_hex(a, da);
    digest_hex(b, db);
    assert_string_equal(da, db);
    /* each VM's inputs are its own */
    adead_vm *c = new_vm(p);
    const int64_t dims[1] = {1}, n = 20;
    assert_int_equal(adead_vm_bind(c, "n", ADEAD_I64, 1, dims, &n), ADEAD_OK);
    run_ok(c);
    assert_int_equal(output_i64(c, "result", 0), 6765);
    assert_int_equal(output_i64(b, "result", 0), 144);
}

typedef struct {
    const adead_program *prog;
    uint64_t fuel_step;
    char digest[65];
    int status;
} thread_job;

static void *run_job(void *arg)
{
    thread_job *job = arg;
    adead_vm *vm = adead_vm_new(job->prog);
    if (!vm) {
        job->status = ADEAD_E_NOMEM;
        return NULL;
    }
    adead_vm_set_print(vm, NULL, NULL);
    adead_vm_set_fuel(vm, job->fuel_step);
    int rc;
    while ((rc = adead_vm_run(vm)) == ADEAD_E_FUEL) adead_vm_add_fuel(vm, job->fuel_step);
    job->status = rc ? rc : adead_vm_digest(vm, job->digest);
    adead_vm_free(vm);
    return NULL;
}

static void test_program_shared_across_threads(void **state)
{
    (void)state;
    adead_program *p = program(tasks_src);
    run_summary whole = run_unlimited(p);
    enum { N_THREADS = 4 };
    thread_job jobs[N_THREADS];
    pthread_t threads[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].prog = p;
        jobs[i].fuel_step = (uint64_t)(1 + 3 * i);
        assert_int_equal(pthread_create(&threads[i], NULL, run_job, &jobs[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(jobs[i].status, ADEAD_OK);
        assert_string_equal(jobs[i].digest, whole.digest);
    }
}

#define TEST(fn) cmocka_unit_test_teardown(fn, free_kept)

/* ADEAD_SIMD and ADEAD_THREADS apply independently: a bad one never drops the other, and an
 * explicit setting excuses only its own variable. */
static void test_environment_settings_are_independent(void **state)
{
    (void)state;
    adead_program *p = assemble_ok(".output y f32 [1]\nmain:\n    HALT\n");
    setenv("ADEAD_SIMD", "scalar", 1);
    setenv("ADEAD_THREADS", "abc", 1);
    adead_vm *vm = adead_vm_new(p);
    assert_non_null(vm);
    assert_string_equal(adead_vm_simd(vm), "scalar"); /* applied despite the bad thread count */
    assert_int_equal(adead_vm_run(vm), ADEAD_E_ARG);
    assert_non_null(strstr(adead_vm_error(vm), "ADEAD_THREADS=abc"));
    adead_vm_free(vm);

    vm = adead_vm_new(p);
    assert_int_equal(adead_vm_set_simd(vm, "scalar"), ADEAD_OK); /* does not excuse ADEAD_THREADS */
    assert_int_equal(adead_vm_run(vm), ADEAD_E_ARG);
    adead_vm_free(vm);

    vm = adead_vm_new(p);
    assert_int_equal(adead_vm_set_threads(vm, 2), ADEAD_OK);
    assert_int_equal(adead_vm_threads(vm), 2);
    assert_string_equal(adead_vm_simd(vm), "scalar");
    assert_int_equal(adead_vm_run(vm), ADEAD_OK);
    adead_vm_free(vm);

    setenv("ADEAD_SIMD", "bogus", 1);
    setenv("ADEAD_THREADS", "3", 1);
    vm = adead_vm_new(p);
    assert_int_equal(adead_vm_threads(vm), 3); /* applied despite the bad level */
    assert_int_equal(adead_vm_run(vm), ADEAD_E_ARG);
    assert_non_null(strstr(adead_vm_error(vm), "ADEAD_SIMD=bogus"));
    adead_vm_free(vm);
    unsetenv("ADEAD_SIMD");
    unsetenv("ADEAD_THREADS");
    adead_program_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_version),
        TEST(test_environment_settings_are_independent),
        TEST(test_status_names),
        TEST(test_null_arguments_to_program_functions),
        TEST(test_null_arguments_to_vm_functions),
        TEST(test_error_buffer_sizes),
        TEST(test_load_file_missing),
        TEST(test_load_file_assembles_adasm),
        TEST(test_assemble_reads_only_len_bytes),
        TEST(test_load_memory_garbage),
        TEST(test_io_names_in_declaration_order),
        TEST(test_bind_rejects_bad_inputs),
        TEST(test_bind_copies_data),
        TEST(test_failed_bind_leaves_input_unbound),
        TEST(test_bind_negative_dimension_is_bad_argument),
        TEST(test_bind_after_run),
        TEST(test_run_with_unbound_input),
        TEST(test_run_after_finish),
        TEST(test_output_errors),
        TEST(test_limits_are_set_before_starting),
        TEST(test_fuel_exact_on_straight_line),
        TEST(test_fuel_resume_loop),
        TEST(test_fuel_resume_calls_and_tasks),
        TEST(test_fuel_huge_values),
        TEST(test_memory_limit),
        TEST(test_memory_limit_hit_before_running),
        TEST(test_retry_after_memory_limit_keeps_tensors_apart),
        TEST(test_bind_order_does_not_move_addresses),
        TEST(test_host_rounding_mode_does_not_leak),
        TEST(test_print_callback),
        TEST(test_trace_callback),
        TEST(test_trace_shows_loop_counter),
        TEST(test_digest_by_hand),
        TEST(test_tensor_text_formats),
        TEST(test_tensor_text_f32_specials),
        TEST(test_tensor_text_truncates),
        TEST(test_program_shared_by_two_vms),
        TEST(test_program_shared_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
