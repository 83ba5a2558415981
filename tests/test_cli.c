/* adead-vm and adead-asm as programs: usage and argument errors, the exit status of every failure
 * class, output printing, .npy files in and out, --digest, --quiet, --stats, --trace, the portable
 * switch-dispatch build, and the assembler's file handling. Every run is a real process. */
#include "testutil.h"

#include <dirent.h>
#include <unistd.h>

/* ---- a temporary folder for the whole group (flat: files only) ---- */

static char temp_dir[64];

typedef struct {
    char s[512];
} path_buf;

static path_buf temp_file(const char *name)
{
    path_buf p;
    snprintf(p.s, sizeof p.s, "%s/%s", temp_dir, name);
    return p;
}

static int make_temp_dir(void **state)
{
    (void)state;
    snprintf(temp_dir, sizeof temp_dir, "/tmp/adead_cli_XXXXXX");
    return mkdtemp(temp_dir) ? 0 : -1;
}

static int remove_temp_dir(void **state)
{
    (void)state;
    DIR *d = opendir(temp_dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        unlink(temp_file(e->d_name).s);
    }
    closedir(d);
    return rmdir(temp_dir);
}

static void write_file(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text) { write_file(path, text, strlen(text)); }

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* ---- memory the harness owns ----
 * Command output, file contents and .npy data are freed after each test, so that a failing check
 * (which leaves the test at once) leaks nothing and the sanitizer build reports only real leaks. */

static void **owned;
static size_t n_owned, cap_owned;

static void *keep(void *p)
{
    assert_non_null(p);
    if (n_owned == cap_owned) {
        size_t cap = cap_owned ? 2 * cap_owned : 64;
        void **bigger = realloc(owned, cap * sizeof *owned);
        if (!bigger) {
            free(p);
            fail_msg("out of memory");
        }
        owned = bigger;
        cap_owned = cap;
    }
    owned[n_owned++] = p;
    return p;
}

static int free_owned(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_owned; i++) free(owned[i]);
    free(owned);
    owned = NULL;
    n_owned = cap_owned = 0;
    return 0;
}

/* ---- running the tools ---- */

/* Which streams of the command come back: both (as run_cmd gives them), or only one. The
 * redirection sits inside a subshell so that run_cmd's own "2>&1" cannot undo it. */
typedef enum { BOTH_STREAMS, STDOUT_ONLY, STDERR_ONLY } streams;

typedef struct {
    int status;
    char *text; /* owned by the harness */
} run_result;

static run_result run_tool(const char *tool, streams which, const char *args_fmt, va_list ap)
{
    char args[3000], cmd[4000];
    int n = vsnprintf(args, sizeof args, args_fmt, ap);
    assert_true(n >= 0 && (size_t)n < sizeof args);
    const char *redirect = which == STDOUT_ONLY ? " 2>/dev/null" : which == STDERR_ONLY ? " 2>&1 >/dev/null" : "";
    snprintf(cmd, sizeof cmd, "(%s/bin/%s %s%s)", build_dir(), tool, args, redirect);
    run_result r;
    r.text = NULL;
    r.status = run_cmd(cmd, &r.text);
    keep(r.text);
    return r;
}

#define DEFINE_RUNNER(fn, tool, which)                              \
    static run_result fn(const char *args_fmt, ...)                \
    {                                                               \
        va_list ap;                                                 \
        va_start(ap, args_fmt);                                     \
        run_result r = run_tool(tool, which, args_fmt, ap);         \
        va_end(ap);                                                 \
        return r;                                                   \
    }

static run_result run_tool_with(const char *tool, streams which, const char *args_fmt, ...)
{
    va_list ap;
    va_start(ap, args_fmt);
    run_result r = run_tool(tool, which, args_fmt, ap);
    va_end(ap);
    return r;
}

DEFINE_RUNNER(vm, "adead-vm", BOTH_STREAMS)
DEFINE_RUNNER(vm_stdout, "adead-vm", STDOUT_ONLY)
DEFINE_RUNNER(vm_stderr, "adead-vm", STDERR_ONLY)
DEFINE_RUNNER(vm_switch, "adead-vm-switch", BOTH_STREAMS)
DEFINE_RUNNER(assembler, "adead-asm", BOTH_STREAMS)
DEFINE_RUNNER(assembler_stdout, "adead-asm", STDOUT_ONLY)

static void assert_contains(const char *text, const char *phrase)
{
    if (!strstr(text, phrase)) fail_msg("output\n----\n%s----\ndoes not contain \"%s\"", text, phrase);
}

static void assert_exit(run_result r, int expected)
{
    if (r.status != expected) fail_msg("exit status %d, expected %d; output:\n%s", r.status, expected, r.text);
}

/* The run exits with `status` and prints exactly `text`. */
static void expect_exact(run_result r, int status, const char *text)
{
    assert_exit(r, status);
    if (strcmp(r.text, text)) fail_msg("output\n----\n%s----\nexpected\n----\n%s----", r.text, text);
}

/* The run exits with `status` and says `phrase` somewhere. */
static void expect_phrase(run_result r, int status, const char *phrase)
{
    assert_exit(r, status);
    assert_contains(r.text, phrase);
}

/* adead-vm ARGS exits with `status` and says `phrase` (stdout and stderr together). */
static void expect_vm(int status, const char *phrase, const char *args_fmt, ...)
{
    va_list ap;
    va_start(ap, args_fmt);
    run_result r = run_tool("adead-vm", BOTH_STREAMS, args_fmt, ap);
    va_end(ap);
    expect_phrase(r, status, phrase);
}

static void expect_asm(int status, const char *phrase, const char *args_fmt, ...)
{
    va_list ap;
    va_start(ap, args_fmt);
    run_result r = run_tool("adead-asm", BOTH_STREAMS, args_fmt, ap);
    va_end(ap);
    expect_phrase(r, status, phrase);
}

/* The 64 hex digits after "sha256:" in output, checked for form. */
static void digest_of(const char *output, char hex[65])
{
    const char *p = strstr(output, "sha256:");
    if (!p) fail_msg("no digest in output:\n%s", output);
    p += 7;
    for (int i = 0; i < 64; i++) {
        if (!p[i] || !strchr("0123456789abcdef", p[i])) fail_msg("malformed digest in output:\n%s", output);
        hex[i] = p[i];
    }
    hex[64] = 0;
    assert_true(p[64] == '\n');
}

/* `adead-vm --quiet --digest ARGS` must succeed; returns its digest. */
static void vm_digest(char hex[65], const char *args)
{
    run_result r = vm("--quiet --digest %s", args);
    assert_exit(r, 0);
    digest_of(r.text, hex);
}

/* The instruction count --stats reports. */
static unsigned long long stats_count(const char *output)
{
    const char *p = strstr(output, "adead-vm: ");
    unsigned long long n = 0;
    char word[32] = "";
    while (p && sscanf(p, "adead-vm: %llu %31s", &n, word) != 2) p = strstr(p + 1, "adead-vm: ");
    if (!p || strcmp(word, "instructions")) fail_msg("no instruction count in:\n%s", output);
    return n;
}

/* ---- small programs and .npy files ---- */

static const char div_by_zero_src[] =
    ".output q i64 [1]\n"
    "main:\n"
    "    LDI r1, 7\n"
    "    LDI r2, 0\n"
    "    DIV r3, r1, r2\n" /* line 5, pc 2 */
    "    HALT\n";

/* 4 MiB of f32 through TNEW. */
static const char big_tensor_src[] =
    ".tensor big f32\n"
    "main:\n"
    "    LDI r1, 1024\n"
    "    LDI r2, 1024\n"
    "    TNEW big, r1, 2\n"
    "    HALT\n";

static const char straight_line_src[] =
    ".output out i64 [1]\n"
    "main:\n"
    "    LDI r0, 0\n"
    "    LDI r1, 42\n"
    "    TST out, r0, r1\n"
    "    HALT\n";

static const char two_errors_src[] =
    "main:\n"
    "  ADD r1, r300, r2\n"
    "  FOO r1\n"
    "  HALT\n";

static void write_i64_npy(const char *path, int rank, const int64_t *dims, const int64_t *values, size_t count)
{
    write_npy(path, ADEAD_I64, rank, dims, values, count * sizeof *values);
}

/* A tensor read back from a .npy file (its data owned by the harness). */
static adead_tensor_view read_npy(const char *path)
{
    adead_tensor_view t;
    void *data = NULL;
    char err[512];
    if (adead_npy_read(path, &t, &data, err, sizeof err)) fail_msg("adead_npy_read: %s", err);
    if (data) keep(data);
    return t;
}

static void assert_same_tensor(const adead_tensor_view *a, const adead_tensor_view *b)
{
    assert_int_equal(a->dtype, b->dtype);
    assert_int_equal(a->rank, b->rank);
    for (int i = 0; i < a->rank; i++) assert_int_equal(a->dims[i], b->dims[i]);
    assert_int_equal(a->nbytes, b->nbytes);
    if (a->nbytes) assert_memory_equal(a->data, b->data, a->nbytes);
}

/* A file's whole contents (owned by the harness); size_out may be NULL. */
static char *read_whole(const char *path, size_t *size_out)
{
    size_t size = 0;
    char *bytes = slurp(path, &size);
    if (!bytes) fail_msg("cannot read %s", path);
    keep(bytes);
    if (size_out) *size_out = size;
    return bytes;
}

static void assert_same_file(const char *a_path, const char *b_path)
{
    size_t a_size, b_size;
    char *a = read_whole(a_path, &a_size), *b = read_whole(b_path, &b_size);
    if (a_size != b_size || memcmp(a, b, a_size)) fail_msg("%s and %s differ", a_path, b_path);
}

static void copy_file(const char *from, const char *to)
{
    size_t size;
    char *bytes = read_whole(from, &size);
    write_file(to, bytes, size);
}

/* ---- --help, --version ---- */

static void test_vm_help_and_version(void **state)
{
    (void)state;
    run_result r = vm_stdout("--help");
    assert_exit(r, 0);
    assert_contains(r.text, "usage: adead-vm");
    assert_contains(r.text, "--in NAME=FILE.npy");
    assert_contains(r.text, "--fuel N");
    assert_contains(r.text, "exit status");
    expect_phrase(vm_stdout("-h"), 0, "usage: adead-vm");
    expect_exact(vm_stdout("--version"), 0, "adead-vm " ADEAD_VERSION_STRING "\n");
}

static void test_asm_help_and_version(void **state)
{
    (void)state;
    run_result r = assembler_stdout("--help");
    assert_exit(r, 0);
    assert_contains(r.text, "usage: adead-asm");
    assert_contains(r.text, "-d");
    assert_contains(r.text, "exit status");
    expect_phrase(assembler_stdout("-h"), 0, "usage: adead-asm");
    expect_exact(assembler_stdout("--version"), 0, "adead-asm " ADEAD_VERSION_STRING "\n");
}

/* ---- bad usage: exit 1 ---- */

static void test_vm_usage_errors(void **state)
{
    (void)state;
    expect_vm(1, "unknown option '--bogus'", "--bogus examples/loop_sum.adasm");
    expect_vm(1, "unknown option '-x'", "-x examples/loop_sum.adasm");
    expect_vm(1, "usage: adead-vm", "");
    expect_vm(1, "usage: adead-vm", "--quiet --digest");
    expect_vm(1, "one program at a time ('examples/fib.adasm' and 'examples/loop_sum.adasm')",
              "examples/fib.adasm examples/loop_sum.adasm");
}

static void test_vm_bad_fuel(void **state)
{
    (void)state;
    const char *msg = "--fuel takes a positive instruction count";
    expect_vm(1, "got 'abc'", "--fuel abc examples/loop_sum.adasm");
    expect_vm(1, msg, "--fuel 0 examples/loop_sum.adasm");
    expect_vm(1, msg, "--fuel -5 examples/loop_sum.adasm");
    expect_vm(1, msg, "--fuel 12x examples/loop_sum.adasm");
    expect_vm(1, msg, "--fuel 1K examples/loop_sum.adasm"); /* suffixes are for --mem */
    expect_vm(1, msg, "--fuel 18446744073709551616 examples/loop_sum.adasm"); /* 2^64 */
    expect_vm(1, "got ''", "examples/loop_sum.adasm --fuel");
}

static void test_vm_bad_mem(void **state)
{
    (void)state;
    const char *msg = "--mem takes a size like 4096, 64K, 512M, 2G or 1T";
    expect_vm(1, "got '12X'", "--mem 12X examples/loop_sum.adasm");
    expect_vm(1, msg, "--mem 0 examples/loop_sum.adasm");
    expect_vm(1, msg, "--mem 0K examples/loop_sum.adasm");
    expect_vm(1, msg, "--mem 99999999999T examples/loop_sum.adasm"); /* past 2^64 bytes */
    expect_vm(1, msg, "--mem 16777216T examples/loop_sum.adasm");   /* exactly 2^64 */
    expect_vm(1, msg, "--mem 64KB examples/loop_sum.adasm");
    expect_vm(1, msg, "--mem K examples/loop_sum.adasm");
    expect_vm(1, msg, "--mem -1 examples/loop_sum.adasm");
    expect_vm(1, "got ''", "examples/loop_sum.adasm --mem");
    /* lower-case suffixes are accepted */
    expect_vm(0, "total = i64[1] [499500]", "--mem 64k examples/loop_sum.adasm");
}

/* A trailing space is not a size suffix: "--mem '1 '" must be refused like "--mem 1X". */
static void test_vm_mem_trailing_space_is_refused(void **state)
{
    (void)state;
    expect_vm(1, "--mem takes a size", "--mem '1 ' examples/loop_sum.adasm");
    expect_vm(1, "--mem takes a size", "--mem '4096 ' examples/loop_sum.adasm");
}

static void test_vm_bad_bindings(void **state)
{
    (void)state;
    path_buf x = temp_file("bind_x.npy");
    const int64_t one[1] = {1}, n[1] = {10};
    write_i64_npy(x.s, 1, one, n, 1);
    expect_vm(1, "--in takes NAME=FILE.npy, got 'n'", "--in n examples/loop_sum.adasm");
    expect_vm(1, "--in takes NAME=FILE.npy, got '=x.npy'", "--in =x.npy examples/loop_sum.adasm");
    expect_vm(1, "--in takes NAME=FILE.npy, got 'n='", "--in n= examples/loop_sum.adasm");
    expect_vm(1, "--in takes NAME=FILE.npy, got ''", "examples/loop_sum.adasm --in");
    expect_vm(1, "--out takes NAME=FILE.npy, got 'total'", "--out total examples/loop_sum.adasm");
    expect_vm(1, "there is no input named \"q\"", "--in q=%s examples/loop_sum.adasm", x.s);
    /* an output is not an input, nor the other way round */
    expect_vm(1, "there is no input named \"total\"", "--in total=%s examples/loop_sum.adasm", x.s);
    expect_vm(1, "there is no output named \"q\"", "--out q=%s examples/loop_sum.adasm", temp_file("bind_q.npy").s);
    expect_vm(1, "there is no output named \"n\"", "--out n=%s examples/loop_sum.adasm", temp_file("bind_n.npy").s);
}

static void test_vm_input_dtype_and_shape_are_checked(void **state)
{
    (void)state;
    path_buf wrong_dtype = temp_file("n_i32.npy"), wrong_shape = temp_file("n_2.npy"), scalar = temp_file("n_0d.npy"),
             good = temp_file("n_good.npy");
    const int64_t one[1] = {1}, two[1] = {2}, ten[2] = {10, 10};
    const int32_t ten_i32[1] = {10};
    write_npy(wrong_dtype.s, ADEAD_I32, 1, one, ten_i32, sizeof ten_i32);
    write_i64_npy(wrong_shape.s, 1, two, ten, 2);
    write_i64_npy(scalar.s, 0, NULL, ten, 1);
    write_i64_npy(good.s, 1, one, ten, 1);
    expect_vm(1, "input n is i64, the data given is i32", "--in n=%s examples/loop_sum.adasm", wrong_dtype.s);
    expect_vm(1, "input n: the shape given, [2], differs from the declared [1]", "--in n=%s examples/loop_sum.adasm", wrong_shape.s);
    expect_vm(1, "input n: the shape given, [], differs from the declared [1]", "--in n=%s examples/loop_sum.adasm", scalar.s);
    expect_vm(1, "there is no input named \"m\" (its inputs: n)", "--in m=%s examples/loop_sum.adasm", good.s);
    expect_vm(1, "input x is f32, the data given is i64", "--in x=%s examples/mlp.adasm", good.s);
    expect_exact(vm("--in n=%s examples/loop_sum.adasm", good.s), 0, "total = i64[1] [45]\n");
}

/* ---- failures of the program and its files ---- */

static void test_vm_missing_program_is_io_error(void **state)
{
    (void)state;
    expect_vm(6, "missing.bib: cannot open: No such file or directory", "%s", temp_file("missing.bib").s);
    expect_vm(6, "missing.adasm: cannot open: No such file or directory", "%s", temp_file("missing.adasm").s);
}

static void test_vm_malformed_bib(void **state)
{
    (void)state;
    path_buf garbage = temp_file("garbage.bib"), truncated = temp_file("truncated.bib"), whole = temp_file("whole.bib");
    write_text(garbage.s, "this is not bytecode\n");
    expect_vm(2, "garbage.bib: ", "%s", garbage.s);

    /* the first half of a good file */
    expect_asm(0, "", "-o %s examples/loop_sum.adasm", whole.s);
    size_t size;
    char *bytes = read_whole(whole.s, &size);
    write_file(truncated.s, bytes, size / 2);
    expect_vm(2, "truncated.bib: ", "%s", truncated.s);
}

static void test_vm_assembly_errors(void **state)
{
    (void)state;
    path_buf src = temp_file("errors.adasm");
    write_text(src.s, two_errors_src);
    run_result r = vm("%s", src.s);
    assert_exit(r, 2);
    char expected[4096];
    snprintf(expected, sizeof expected,
             "%s:2:11: error: register 'r300' is out of range (r0..r255)\n"
             "   ADD r1, r300, r2\n"
             "           ^\n",
             src.s);
    assert_contains(r.text, expected);
    snprintf(expected, sizeof expected, "%s:3:3: error: unknown instruction 'FOO'", src.s);
    assert_contains(r.text, expected);
}

static void test_vm_bad_npy_input_is_io_error(void **state)
{
    (void)state;
    path_buf missing = temp_file("missing.npy"), text = temp_file("text.npy"), empty = temp_file("empty.npy");
    write_text(text.s, "1000\n");
    write_text(empty.s, "");
    expect_vm(6, "--in n: ", "--in n=%s examples/loop_sum.adasm", missing.s);
    expect_vm(6, "cannot open: No such file or directory", "--in n=%s examples/loop_sum.adasm", missing.s);
    expect_vm(6, "not a .npy file", "--in n=%s examples/loop_sum.adasm", text.s);
    expect_vm(6, "empty.npy", "--in n=%s examples/loop_sum.adasm", empty.s);
}

static void test_vm_unwritable_out_is_io_error(void **state)
{
    (void)state;
    expect_vm(6, "No such file or directory", "--out total=%s examples/loop_sum.adasm",
              temp_file("no_such_dir/total.npy").s);
}

/* ---- output files are never destroyed, write errors never silent (issue 13) ---- */

/* No temporary file of a failed or finished write is left in the folder. */
static void assert_no_temp_files(void)
{
    DIR *d = opendir(temp_dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp-")) {
            closedir(d);
            fail_msg("a temporary file was left: %s", e->d_name);
        }
    closedir(d);
}

static void assert_contents(const char *path, const char *want, size_t n)
{
    size_t size;
    char *bytes = read_whole(path, &size);
    if (size != n || memcmp(bytes, want, n)) fail_msg("%s was changed (%zu bytes, wanted %zu)", path, size, n);
}

static void test_vm_failed_write_keeps_device_and_old_file(void **state)
{
    (void)state;
    /* A device node that cannot take the bytes (a copy of /dev/full, made where root can): exit 6, and
     * the node is still there (it used to be removed). */
    path_buf full = temp_file("full_dev");
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "mknod %s c 1 7", full.s);
    if (run_cmd(cmd, NULL) == 0) {
        expect_vm(6, "No space left on device", "examples/loop_sum.adasm --out total=%s", full.s);
        assert_true(file_exists(full.s));
    } else {
        print_message("skip the device node case: mknod needs root\n");
    }
    /* An existing file, a write over `ulimit -f`: the old bytes stay, no temporary file is left. */
    path_buf precious = temp_file("precious.npy"), big = temp_file("big.adasm");
    static char old[300000];
    for (size_t i = 0; i < sizeof old; i++) old[i] = (char)(i * 7 + 3);
    write_file(precious.s, old, sizeof old);
    write_text(big.s, ".output y f32 [50000000]\nmain:\n HALT\n");
    snprintf(cmd, sizeof cmd, "ulimit -f 1000; %s/bin/adead-vm %s --out y=%s", build_dir(), big.s, precious.s);
    char *out = NULL;
    int status = run_cmd(cmd, &out);
    keep(out);
    if (status != 6 || !strstr(out, "File too large")) fail_msg("exit %d:\n%s", status, out);
    assert_contents(precious.s, old, sizeof old);
    assert_no_temp_files();
}

static void test_vm_failed_run_writes_no_output(void **state)
{
    (void)state;
    path_buf prog = temp_file("trap_after.adasm"), keep_me = temp_file("keep.npy");
    write_text(prog.s, ".output y i64 [1]\nmain:\n LDI r1, 5\n TST y, r0, r1\n TRAP 9\n");
    write_text(keep_me.s, "old contents");
    expect_vm(3, "user trap 9", "%s --out y=%s", prog.s, keep_me.s);
    assert_contents(keep_me.s, "old contents", 12);
    assert_no_temp_files();
}

/* Every --out is checked before the run: a typo costs no run (PRINTI would show one). */
static void test_vm_out_checked_before_the_run(void **state)
{
    (void)state;
    path_buf prog = temp_file("two_outs.adasm"), a = temp_file("a.npy");
    write_text(prog.s, ".output y i64 [1]\n.output z i64 [1]\nmain:\n LDI r1, 77\n PRINTI r1\n HALT\n");
    run_result r = vm("%s --out y=%s --out z=%s", prog.s, a.s, temp_file("no_such_dir/z.npy").s);
    expect_phrase(r, 6, "--out z");
    if (strstr(r.text, "77")) fail_msg("the program ran:\n%s", r.text);
    assert_false(file_exists(a.s));
    expect_vm(1, "both write", "%s --out y=%s --out z=%s", prog.s, a.s, a.s);
    expect_vm(1, "--out y is given twice", "%s --out y=%s --out y=%s", prog.s, a.s, temp_file("b.npy").s);
    expect_vm(1, "replace one of the run's own input files", "%s --out y=%s", prog.s, prog.s);
    assert_no_temp_files();
}

static void test_vm_std_streams_are_checked(void **state)
{
    (void)state;
    expect_vm(6, "cannot write to standard output", "examples/loop_sum.adasm >/dev/full");
    expect_vm(6, "cannot write to standard output", "--quiet --digest examples/loop_sum.adasm >/dev/full");
    expect_vm(6, "cannot write to standard output", "--help >/dev/full");
    assert_exit(vm("--trace examples/loop_sum.adasm 2>/dev/full"), 6);
    assert_exit(vm("examples/loop_sum.adasm >/dev/null"), 0);
}

/* '-' is stdin for the program or one --in, stdout for one --out; a symbolic link is followed and
 * kept; an existing file keeps its mode. */
static void test_vm_dash_links_and_modes(void **state)
{
    (void)state;
    path_buf file = temp_file("total.npy"), piped = temp_file("piped.npy"), n = temp_file("n5.npy");
    const int64_t one[1] = {1}, five[1] = {5};
    expect_exact(vm("examples/loop_sum.adasm --out total=%s", file.s), 0, "");
    assert_exit(vm_stdout("examples/loop_sum.adasm --out total=- > %s", piped.s), 0);
    assert_same_file(file.s, piped.s);
    expect_exact(vm("- < examples/loop_sum.adasm"), 0, "total = i64[1] [499500]\n");
    write_i64_npy(n.s, 1, one, five, 1);
    expect_exact(vm("--in n=- examples/loop_sum.adasm < %s", n.s), 0, "total = i64[1] [10]\n");
    expect_vm(1, "can be read only once", "--in n=- - < %s", n.s);
    expect_vm(1, "only one --out", "examples/mlp.adasm --out probs=- --out h=-");

    path_buf link = temp_file("link.npy"), target = temp_file("target.npy");
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "ln -s target.npy %s && chmod 640 %s", link.s, file.s);
    assert_int_equal(run_cmd(cmd, NULL), 0);
    expect_exact(vm("examples/loop_sum.adasm --out total=%s", link.s), 0, "");
    assert_same_file(target.s, piped.s);
    snprintf(cmd, sizeof cmd, "test -L %s", link.s);
    assert_int_equal(run_cmd(cmd, NULL), 0);
    expect_exact(vm("examples/loop_sum.adasm --out total=%s", file.s), 0, "");
    snprintf(cmd, sizeof cmd, "stat -c %%a %s", file.s);
    char *mode = NULL;
    assert_int_equal(run_cmd(cmd, &mode), 0);
    keep(mode);
    assert_string_equal(mode, "640\n");
    assert_no_temp_files();
}

/* Devices and pipes are refused from their first bytes, not after a gigabyte. */
static void test_vm_streams_that_are_not_the_format(void **state)
{
    (void)state;
    expect_vm(6, "/dev/zero: not a .npy file", "--in n=/dev/zero examples/loop_sum.adasm");
    expect_vm(6, "/dev/zero: not a .bib file", "/dev/zero");
    expect_asm(6, "/dev/zero: not a text file: byte 0 is NUL", "/dev/zero -o /dev/null");
    expect_asm(6, "not a .bib file", "-d /dev/zero");
    /* a .npy on a pipe is read to the size its header gives, and no further */
    path_buf n = temp_file("n7.npy");
    const int64_t one[1] = {1}, seven[1] = {7};
    write_i64_npy(n.s, 1, one, seven, 1);
    expect_exact(vm("--in n=- examples/loop_sum.adasm < %s", n.s), 0, "total = i64[1] [21]\n");
    char cmd[2000], *log = NULL;
    snprintf(cmd, sizeof cmd, "(cat %s; echo trailing) | %s/bin/adead-vm --in n=- examples/loop_sum.adasm", n.s, build_dir());
    int status = run_cmd(cmd, &log);
    keep(log);
    if (status != 6 || !strstr(log, "<stdin>: more than the 136 bytes")) fail_msg("exit %d:\n%s", status, log);
}

static void test_asm_keeps_its_source_and_old_output(void **state)
{
    (void)state;
    path_buf src = temp_file("self.adasm"), out = temp_file("self.bib");
    const char *text = "main:\n HALT\n";
    write_text(src.s, text);
    expect_asm(1, "is the input itself", "-o %s %s", src.s, src.s);
    assert_contents(src.s, text, strlen(text));
    /* a write over `ulimit -f` (512-byte blocks) keeps the old output */
    path_buf big = temp_file("bigconst.adasm");
    char body[9000];
    int k = snprintf(body, sizeof body, ".const c f32 [1000] = [");
    for (int i = 0; i < 1000; i++) k += snprintf(body + k, sizeof body - (size_t)k, "%s%d", i ? ", " : "", i);
    snprintf(body + k, sizeof body - (size_t)k, "]\nmain:\n HALT\n");
    write_text(big.s, body);
    write_text(out.s, "old bib");
    char cmd[2000], *log = NULL;
    snprintf(cmd, sizeof cmd, "ulimit -f 1; %s/bin/adead-asm -o %s %s", build_dir(), out.s, big.s);
    int status = run_cmd(cmd, &log);
    keep(log);
    if (status != 6 || !strstr(log, "File too large")) fail_msg("exit %d:\n%s", status, log);
    assert_contents(out.s, "old bib", 7);
    path_buf good = temp_file("good.bib");
    expect_asm(0, "", "-o %s %s", good.s, src.s);
    expect_asm(6, "<stdout>: cannot write", "-d %s >/dev/full", good.s);
    assert_no_temp_files();
}

/* Executor plugins on $ADEAD_PLUGIN_PATH: --info says what each is; a usable one takes the ops it
 * supports when --executor names it (here RELU), with the CPU's bits, while auto leaves a
 * memory-bound op on host data on the CPU; an unknown --executor is refused with the names. */
static void test_vm_plugins(void **state)
{
    (void)state;
    path_buf prog = temp_file("bigrelu.adasm");
    write_text(prog.s, ".tensor a f32 [1100000]\n.output y f32\nmain:\n LDI r1, 5\n LDI r2, -7\n TST a, r1, r2\n"
                       " RELU y, a\n SOFTMAX y, y\n HALT\n");
    char env[600];
    snprintf(env, sizeof env, "ADEAD_PLUGIN_PATH=%s/tests/plugins", build_dir());
    run_result info = run_tool_with("adead-vm", BOTH_STREAMS, "--info");
    assert_contains(info.text, "executor cpu: built in");
    char cmd[1500], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s %s/bin/adead-vm --info", env, build_dir());
    assert_int_equal(run_cmd(cmd, &out), 0);
    keep(out);
    assert_contains(out, "executor tiny: ");
    assert_contains(out, "executor nodev: not here: no device of its kind here");
    assert_contains(out, "executor badabi: refused: ");
    snprintf(cmd, sizeof cmd, "%s %s/bin/adead-vm --trace --digest --quiet %s", env, build_dir(), prog.s);
    assert_int_equal(run_cmd(cmd, &out), 0);
    keep(out);
    assert_contains(out, "= y f32[1100000] <- a f32[1100000] on cpu");
    snprintf(cmd, sizeof cmd, "%s %s/bin/adead-vm --executor nonesuch %s", env, build_dir(), prog.s);
    assert_int_equal(run_cmd(cmd, &out), 1);
    keep(out);
    assert_contains(out, "adead-vm: --executor nonesuch: no executor \"nonesuch\" here (auto, cpu, "); /* the option, not the API function */
    snprintf(cmd, sizeof cmd, "%s %s/bin/adead-vm --executor tiny --trace --digest --quiet %s", env, build_dir(), prog.s);
    assert_int_equal(run_cmd(cmd, &out), 0);
    keep(out);
    assert_contains(out, "= y f32[1100000] <- a f32[1100000] on tiny host device");
    assert_contains(out, "= y f32[1100000] <- y f32[1100000] on cpu"); /* tiny has no SOFTMAX */
    char with[65], without[65];
    digest_of(out, with);
    run_result plain = vm("--digest --quiet --gpu-mem 1K %s", prog.s);
    digest_of(plain.text, without);
    assert_string_equal(with, without);
}

static void test_vm_profile_and_trace_json(void **state)
{
    (void)state;
    path_buf json = temp_file("trace.json");
    run_result r = vm_stderr("--quiet --profile --trace-json %s examples/mlp.adasm --in x=examples/mlp/x.npy", json.s);
    assert_exit(r, 0);
    assert_contains(r.text, "examples/mlp.adasm:15");
    assert_contains(r.text, "hidden f32[4,16] <- x f32[4,8], w1 f32[8,16]");
    assert_contains(r.text, "GFLOP/s");
    assert_contains(r.text, "summary: 6 ops");
    char *t = read_whole(json.s, NULL);
    assert_contains(t, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");
    assert_contains(t, "\"cpu queue\"");
    assert_contains(t, "\"name\":\"SOFTMAX\",\"cat\":\"op\",\"ph\":\"X\"");
    /* the file is checked before the run, like --out */
    expect_vm(6, "--trace-json", "--trace-json %s examples/loop_sum.adasm", temp_file("no_dir/t.json").s);
    assert_no_temp_files();
}

static void test_vm_trap_names_source_and_pc(void **state)
{
    (void)state;
    path_buf src = temp_file("div.adasm");
    write_text(src.s, div_by_zero_src);
    char expected[1024];
    snprintf(expected, sizeof expected, "%s:5: pc 2 (DIV): division by zero", src.s);
    expect_vm(3, expected, "%s", src.s);
    /* and from the assembled file, whose line table names the source */
    path_buf bib = temp_file("div.bib");
    expect_asm(0, "", "-o %s %s", bib.s, src.s);
    expect_vm(3, expected, "%s", bib.s);
}

static void test_vm_out_of_fuel(void **state)
{
    (void)state;
    expect_vm(4, "out of fuel after 100 instructions", "--fuel 100 examples/fib.adasm");
    expect_vm(4, "out of fuel", "--fuel 2006 examples/loop_sum.adasm");
    /* loop_sum runs 2007 instructions, HALT included */
    expect_vm(0, "total = i64[1] [499500]", "--fuel 2007 examples/loop_sum.adasm");
}

static void test_vm_memory_limit(void **state)
{
    (void)state;
    path_buf src = temp_file("big.adasm");
    write_text(src.s, big_tensor_src);
    expect_vm(5, "bytes of tensor data are over the memory limit (1048576 bytes", "--mem 1M %s", src.s);
    expect_vm(5, "(TNEW)", "--mem 1M %s", src.s);
    expect_exact(vm("--mem 8M %s", src.s), 0, "");
    expect_exact(vm("--mem 8192K %s", src.s), 0, "");
}

/* ---- running the examples ---- */

static void test_vm_examples_run(void **state)
{
    (void)state;
    expect_exact(vm("examples/loop_sum.adasm"), 0, "total = i64[1] [499500]\n");
    expect_exact(vm("examples/fib.adasm"), 0, "result = i64[1] [6765]\n");
    expect_exact(vm("examples/tasks.adasm"), 0, "log = i64[9] [1, 2, 3, 1, 2, 3, 1, 2, 3]\nresult = i64[1] [60]\n");
    expect_exact(vm("examples/softmax_rows.adasm"), 0,
                 "y = f32[3,5] [[0.0116562285, 0.0316849165, 0.0861285329, 0.234121636, 0.636408567], "
                 "[0.200000003, 0.200000003, 0.200000003, 0.200000003, 0.200000003], [0, 0, 1, 0, 0]]\n");
    expect_exact(vm("examples/mlp.adasm --in x=examples/mlp/x.npy"), 0,
                 "probs = f32[4,3] [[0.605137229, 0.31594938, 0.0789133683], "
                 "[0.346104711, 0.445475042, 0.208420217], [0.234672979, 0.290937036, 0.474389941], "
                 "[0.332309246, 0.628769159, 0.0389216095]]\n");
    /* mlp's x has no default */
    expect_vm(1, "input x is not bound", "examples/mlp.adasm");
}

static void test_vm_info(void **state)
{
    (void)state;
    run_result r = vm("--info");
    assert_exit(r, 0);
    assert_contains(r.text, "simd: best ");
    assert_contains(r.text, "simd levels usable here: scalar");
    assert_contains(r.text, "executors: cpu (");
    assert_contains(r.text, "dispatch: MATMUL and ATTENTION of >= 262144 elements go to a GPU");
    assert_contains(r.text, " ns per decision here (no GPU), ");
    assert_contains(r.text, " ns with one GPU that takes every op (a stand-in; measured now)");
}

/* --simd / --threads and their environment variables: bad values are refused with the setting
 * named; good ones change nothing in the output. */
static void test_vm_simd_and_threads(void **state)
{
    (void)state;
    const char *mlp = "examples/mlp.adasm --in x=examples/mlp/x.npy";
    const char *expected = "probs = f32[4,3] [[0.605137229, 0.31594938, 0.0789133683], "
                           "[0.346104711, 0.445475042, 0.208420217], [0.234672979, 0.290937036, 0.474389941], "
                           "[0.332309246, 0.628769159, 0.0389216095]]\n";
    expect_exact(vm("--simd scalar --threads 1 %s", mlp), 0, expected);
    expect_exact(vm("--simd auto --threads 7 %s", mlp), 0, expected);
#if defined(__x86_64__)
    expect_exact(vm("--simd sse2 --threads 2 %s", mlp), 0, expected);
#endif
    expect_vm(1, "\"avx9\" is not a SIMD level", "--simd avx9 %s", mlp);
    expect_vm(1, "--simd takes a level", "examples/fib.adasm --simd");
    expect_vm(1, "--threads takes a count 0..256", "--threads 999 %s", mlp);
    expect_vm(1, "got 'x'", "--threads x %s", mlp);
#if defined(__x86_64__)
    expect_vm(1, "SIMD level neon is not available on this CPU", "--simd neon %s", mlp);
#endif
    setenv("ADEAD_SIMD", "avx9", 1);
    expect_vm(1, "ADEAD_SIMD=avx9: not a SIMD level", "%s", mlp);
    expect_exact(vm("--simd scalar %s", mlp), 0, expected); /* the option wins over the environment */
    setenv("ADEAD_SIMD", "scalar", 1);
    expect_exact(vm("%s", mlp), 0, expected);
    unsetenv("ADEAD_SIMD");
    setenv("ADEAD_THREADS", "many", 1);
    expect_vm(1, "ADEAD_THREADS=many: not a thread count", "%s", mlp);
    expect_vm(1, "ADEAD_THREADS=many: not a thread count", "--simd scalar %s", mlp); /* not excused by --simd */
    expect_exact(vm("--threads 2 %s", mlp), 0, expected);
    setenv("ADEAD_THREADS", "3", 1);
    expect_exact(vm("%s", mlp), 0, expected);
    unsetenv("ADEAD_THREADS");
}

/* A program run through the API, for comparing what the CLI wrote. */
typedef struct {
    adead_program *prog;
    adead_vm *vm;
} api_run;

static api_run run_through_api(const char *program, const char *input_name, const char *input_path)
{
    api_run r;
    char err[4096];
    if (adead_program_load_file(program, &r.prog, err, sizeof err)) fail_msg("load %s: %s", program, err);
    r.vm = adead_vm_new(r.prog);
    assert_non_null(r.vm);
    if (input_name) {
        adead_tensor_view in = read_npy(input_path);
        int rc = adead_vm_bind(r.vm, input_name, in.dtype, in.rank, in.dims, in.data);
        if (rc) fail_msg("bind: %s", adead_vm_error(r.vm));
    }
    if (adead_vm_run(r.vm)) fail_msg("run: %s", adead_vm_error(r.vm));
    return r;
}

static void free_api_run(api_run *r)
{
    adead_vm_free(r->vm);
    adead_program_free(r->prog);
}

static void assert_file_equals_output(const char *path, const api_run *r, const char *name)
{
    adead_tensor_view f = read_npy(path), expected;
    assert_int_equal(adead_vm_output(r->vm, name, &expected), ADEAD_OK);
    assert_same_tensor(&f, &expected);
}

static void test_vm_out_files_match_api(void **state)
{
    (void)state;
    path_buf log = temp_file("tasks_log.npy"), result = temp_file("tasks_result.npy");
    /* only the output without --out is printed */
    expect_exact(vm("--out log=%s examples/tasks.adasm", log.s), 0, "result = i64[1] [60]\n");
    expect_exact(vm("--out log=%s --out result=%s examples/tasks.adasm", log.s, result.s), 0, "");

    api_run r = run_through_api("examples/tasks.adasm", NULL, NULL);
    assert_file_equals_output(log.s, &r, "log");
    assert_file_equals_output(result.s, &r, "result");
    free_api_run(&r);
}

static void test_vm_mlp_in_out_round_trip(void **state)
{
    (void)state;
    path_buf probs = temp_file("mlp_probs.npy"), x_copy = temp_file("mlp_x_copy.npy"),
             probs_again = temp_file("mlp_probs_again.npy");
    expect_exact(vm("examples/mlp.adasm --in x=examples/mlp/x.npy --out probs=%s", probs.s), 0, "");

    api_run r = run_through_api("examples/mlp.adasm", "x", "examples/mlp/x.npy");
    assert_file_equals_output(probs.s, &r, "probs");
    free_api_run(&r);

    adead_tensor_view p = read_npy(probs.s);
    assert_int_equal(p.dtype, ADEAD_F32);
    assert_int_equal(p.rank, 2);
    assert_int_equal(p.dims[0], 4);
    assert_int_equal(p.dims[1], 3);

    /* the input rewritten through adead_npy_write gives the same file out */
    adead_tensor_view x = read_npy("examples/mlp/x.npy");
    write_npy(x_copy.s, x.dtype, x.rank, x.dims, x.data, x.nbytes);
    assert_same_file("examples/mlp/x.npy", x_copy.s);
    expect_exact(vm("examples/mlp.adasm --in x=%s --out probs=%s", x_copy.s, probs_again.s), 0, "");
    assert_same_file(probs.s, probs_again.s);

    /* a file written feeds the next program: softmax of the probability rows */
    expect_phrase(vm("examples/softmax_rows.adasm --in x=%s", probs.s), 0, "y = f32[4,3] [[");
}

/* ---- --digest, --quiet, --stats, --trace ---- */

static void test_vm_digest(void **state)
{
    (void)state;
    run_result r = vm("--digest examples/loop_sum.adasm");
    assert_exit(r, 0);
    assert_true(strncmp(r.text, "total = i64[1] [499500]\nsha256:", 31) == 0);
    char first[65], again[65], from_bib[65], changed[65];
    digest_of(r.text, first);

    vm_digest(again, "examples/loop_sum.adasm");
    assert_string_equal(first, again);

    path_buf bib = temp_file("loop_sum.bib");
    expect_asm(0, "", "-o %s examples/loop_sum.adasm", bib.s);
    vm_digest(from_bib, bib.s);
    assert_string_equal(first, from_bib);

    path_buf n = temp_file("digest_n.npy");
    const int64_t one[1] = {1}, n_value[1] = {999};
    write_i64_npy(n.s, 1, one, n_value, 1);
    char args[1024];
    snprintf(args, sizeof args, "--in n=%s examples/loop_sum.adasm", n.s);
    vm_digest(changed, args);
    assert_string_not_equal(first, changed);

    /* the default input, given explicitly, is no change */
    const int64_t default_n[1] = {1000};
    write_i64_npy(n.s, 1, one, default_n, 1);
    vm_digest(changed, args);
    assert_string_equal(first, changed);

    /* --out does not take an output out of the digest */
    char with_out[1024];
    snprintf(args, sizeof args, "--out total=%s examples/loop_sum.adasm", temp_file("digest_total.npy").s);
    vm_digest(with_out, args);
    assert_string_equal(first, with_out);
}

static void test_vm_quiet(void **state)
{
    (void)state;
    expect_exact(vm("--quiet examples/tasks.adasm"), 0, "");
    run_result r = vm("--quiet --digest examples/tasks.adasm");
    assert_exit(r, 0);
    assert_int_equal(strlen(r.text), strlen("sha256:") + 64 + 1);
    assert_true(strncmp(r.text, "sha256:", 7) == 0);
    /* --quiet does not stop --out */
    path_buf result = temp_file("quiet_result.npy");
    expect_exact(vm("--quiet --out result=%s examples/tasks.adasm", result.s), 0, "");
    assert_true(file_exists(result.s));
}

static void test_vm_stats(void **state)
{
    (void)state;
    run_result r = vm_stderr("--stats examples/loop_sum.adasm");
    assert_exit(r, 0);
    assert_contains(r.text, "adead-vm: 2007 instructions in ");
    assert_contains(r.text, " ns each)");
    assert_int_equal(stats_count(r.text), 2007);
    /* the count is printed on a stop too */
    r = vm_stderr("--stats --fuel 100 examples/loop_sum.adasm");
    assert_exit(r, 4);
    assert_int_equal(stats_count(r.text), 100);
    /* and nothing of it goes to stdout */
    expect_exact(vm_stdout("--stats examples/loop_sum.adasm"), 0, "total = i64[1] [499500]\n");
}

static void test_vm_trace(void **state)
{
    (void)state;
    path_buf src = temp_file("trace.adasm");
    write_text(src.s, straight_line_src);
    char expected[4096];
    snprintf(expected, sizeof expected,
             "[task 0] pc 0 %s:3: LDI r0, 0\n"
             "  r0=0\n"
             "[task 0] pc 1 %s:4: LDI r1, 42\n"
             "  r1=42\n"
             "[task 0] pc 2 %s:5: TST out, r0, r1\n"
             "[task 0] pc 3 %s:6: HALT\n",
             src.s, src.s, src.s, src.s);
    expect_exact(vm_stderr("--trace %s", src.s), 0, expected);
    expect_exact(vm_stdout("--trace %s", src.s), 0, "out = i64[1] [42]\n");

    /* an example with calls: the documented lines */
    run_result r = vm_stderr("--trace examples/fib.adasm");
    assert_exit(r, 0);
    const char *start = "[task 0] pc 0 examples/fib.adasm:9: LDI r0, 0\n  r0=0\n";
    assert_true(strncmp(r.text, start, strlen(start)) == 0);
    assert_contains(r.text, "[task 0] pc 6 examples/fib.adasm:17: ADDI r1, r0, -1\n  r1=19\n");

    /* tasks are named */
    expect_phrase(vm_stderr("--trace examples/tasks.adasm"), 0, "[task 3] pc ");
}

/* Tracing a run that stops for fuel inside a loop must stop cleanly (exit 4), as it does
 * without --trace, in both dispatch builds. */
static void test_vm_trace_with_fuel_stops_cleanly(void **state)
{
    (void)state;
    static const char *const fuels[] = {"1", "7", "8", "9", "10", "12", "100"};
    static const char *const tools[] = {"adead-vm", "adead-vm-switch"};
    for (size_t t = 0; t < 2; t++)
        for (size_t i = 0; i < sizeof fuels / sizeof fuels[0]; i++) {
            run_result r = run_tool_with(tools[t], STDERR_ONLY, "--trace --fuel %s examples/loop_sum.adasm", fuels[i]);
            if (r.status != 4) {
                size_t n = strlen(r.text);
                fail_msg("%s --trace --fuel %s examples/loop_sum.adasm: exit status %d, expected 4; stderr ends:\n%s",
                         tools[t], fuels[i], r.status, n > 300 ? r.text + n - 300 : r.text);
            }
            assert_contains(r.text, "out of fuel");
        }
}

/* ---- the switch-dispatch build agrees ---- */

static void test_switch_dispatch_matches(void **state)
{
    (void)state;
    static const char *const runs[] = {
        "examples/loop_sum.adasm",
        "examples/fib.adasm",
        "examples/tasks.adasm",
        "examples/softmax_rows.adasm",
        "examples/mlp.adasm --in x=examples/mlp/x.npy",
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        run_result a = vm("--digest --stats %s", runs[i]), b = vm_switch("--digest --stats %s", runs[i]);
        assert_exit(a, 0);
        assert_exit(b, 0);
        char da[65], db[65];
        digest_of(a.text, da);
        digest_of(b.text, db);
        if (strcmp(da, db)) fail_msg("%s: digests differ: %s, and %s with the switch build", runs[i], da, db);
        assert_int_equal(stats_count(a.text), stats_count(b.text));
    }
    /* the same stop under fuel, and the same trap */
    run_result a = vm("--fuel 1234 examples/fib.adasm"), b = vm_switch("--fuel 1234 examples/fib.adasm");
    assert_exit(a, 4);
    expect_exact(b, 4, a.text);
    path_buf src = temp_file("switch_div.adasm");
    write_text(src.s, div_by_zero_src);
    a = vm("%s", src.s);
    assert_exit(a, 3);
    expect_exact(vm_switch("%s", src.s), 3, a.text);
}

/* ---- adead-asm ---- */

static void test_asm_default_output_name(void **state)
{
    (void)state;
    path_buf src = temp_file("x.adasm"), bib = temp_file("x.bib"), other = temp_file("prog.txt"),
             other_bib = temp_file("prog.txt.bib");
    copy_file("examples/loop_sum.adasm", src.s);
    expect_exact(assembler("%s", src.s), 0, "");
    assert_true(file_exists(bib.s));
    expect_vm(0, "total = i64[1] [499500]", "%s", bib.s);
    /* a name without .adasm gets .bib appended */
    copy_file("examples/loop_sum.adasm", other.s);
    expect_exact(assembler("%s", other.s), 0, "");
    assert_true(file_exists(other_bib.s));
    expect_vm(0, "total = i64[1] [499500]", "%s", other_bib.s);
}

static void test_asm_output_option(void **state)
{
    (void)state;
    path_buf src = temp_file("o.adasm"), named = temp_file("named.bib"), default_bib = temp_file("o.bib");
    copy_file("examples/fib.adasm", src.s);
    expect_exact(assembler("-o %s %s", named.s, src.s), 0, "");
    assert_true(file_exists(named.s));
    assert_false(file_exists(default_bib.s));
    expect_exact(assembler("%s", src.s), 0, "");
    assert_same_file(named.s, default_bib.s);
    expect_vm(0, "result = i64[1] [6765]", "%s", named.s);
    expect_asm(1, "-o needs a file name", "%s -o", src.s);
}

static void test_asm_stdin_and_stdout(void **state)
{
    (void)state;
    path_buf src = temp_file("s.adasm"), from_file = temp_file("s.bib"), from_stdin = temp_file("stdin.bib"),
             to_stdout = temp_file("stdout.bib"), both = temp_file("both.bib");
    copy_file("examples/loop_sum.adasm", src.s);
    expect_exact(assembler("%s", src.s), 0, "");
    /* '-o -' writes the same bytes to stdout */
    expect_exact(assembler("-o - %s > %s", src.s, to_stdout.s), 0, "");
    assert_same_file(from_file.s, to_stdout.s);
    /* '-' reads stdin and, with no -o, writes stdout (the line table names "<stdin>") */
    expect_exact(assembler("- < %s > %s", src.s, from_stdin.s), 0, "");
    expect_exact(assembler("-o %s - < %s", both.s, src.s), 0, "");
    assert_same_file(from_stdin.s, both.s);
    char d1[65], d2[65];
    vm_digest(d1, from_file.s);
    vm_digest(d2, from_stdin.s);
    assert_string_equal(d1, d2);
    expect_phrase(assembler_stdout("-d %s", from_stdin.s), 0, ".file \"<stdin>\"");
    /* errors in stdin are reported against "<stdin>" */
    path_buf bad = temp_file("stdin_errors.adasm");
    write_text(bad.s, two_errors_src);
    expect_asm(2, "<stdin>:2:11: error: register 'r300'", "- < %s", bad.s);
    /* -d from stdin */
    expect_phrase(assembler("-d - < %s", from_file.s), 0, ".output total i64 [1]");
}

static void test_asm_disassemble(void **state)
{
    (void)state;
    static const char *const examples[] = {"loop_sum", "fib", "tasks", "softmax_rows", "mlp"};
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "dis_%s.bib", examples[i]);
        path_buf bib = temp_file(name);
        snprintf(name, sizeof name, "dis_%s.adasm", examples[i]);
        path_buf text = temp_file(name);
        snprintf(name, sizeof name, "dis_%s_again.bib", examples[i]);
        path_buf again = temp_file(name);
        expect_exact(assembler("-o %s examples/%s.adasm", bib.s, examples[i]), 0, "");
        run_result r = assembler_stdout("-d %s", bib.s);
        assert_exit(r, 0);
        const char *banner = "; adead-asm " ADEAD_VERSION_STRING " disassembly";
        assert_true(strncmp(r.text, banner, strlen(banner)) == 0);
        assert_contains(r.text, "HALT");
        /* -d -o writes the text to a file; assembling it gives the same bytes back */
        expect_exact(assembler("-d -o %s %s", text.s, bib.s), 0, "");
        expect_exact(assembler("-o %s %s", again.s, text.s), 0, "");
        assert_same_file(bib.s, again.s);
    }
    run_result r = assembler_stdout("-d %s", temp_file("dis_loop_sum.bib").s);
    assert_exit(r, 0);
    assert_contains(r.text, ".input n i64 [1] = [1000]\n.output total i64 [1]\n");
    assert_contains(r.text, "LOOP r1, r2, loop");
    /* text is not a .bib */
    expect_asm(2, "not a .bib file", "-d examples/loop_sum.adasm");
}

static void test_asm_errors(void **state)
{
    (void)state;
    path_buf two = temp_file("two_errors.adasm"), two_bib = temp_file("two_errors.bib"),
             one = temp_file("one_error.adasm");
    write_text(two.s, two_errors_src);
    write_text(one.s, "main:\n  LDI r1\n  HALT\n");
    char expected[4096];
    snprintf(expected, sizeof expected,
             "%s:2:11: error: register 'r300' is out of range (r0..r255)\n"
             "   ADD r1, r300, r2\n"
             "           ^\n"
             "%s:3:3: error: unknown instruction 'FOO'\n"
             "   FOO r1\n"
             "   ^\n"
             "2 errors\n",
             two.s, two.s);
    expect_exact(assembler("%s", two.s), 2, expected);
    assert_false(file_exists(two_bib.s)); /* nothing is written on failure */
    run_result r = assembler("%s", one.s);
    assert_exit(r, 2);
    assert_contains(r.text, "one_error.adasm:2:");
    assert_contains(r.text, ": error: ");
    size_t n = strlen(r.text);
    assert_true(n >= 9 && !strcmp(r.text + n - 9, "\n1 error\n"));
}

static void test_asm_usage_and_io_errors(void **state)
{
    (void)state;
    expect_asm(1, "unknown option '--bogus'", "--bogus examples/loop_sum.adasm");
    expect_asm(1, "usage: adead-asm", "");
    expect_asm(1, "one input file at a time", "examples/loop_sum.adasm examples/fib.adasm");
    expect_asm(6, "nope.adasm: cannot open: No such file or directory", "%s", temp_file("nope.adasm").s);
    expect_asm(6, "cannot open", "-d %s", temp_file("nope.bib").s);
    /* an output that cannot be created */
    expect_asm(6, "No such file or directory", "-o %s examples/loop_sum.adasm", temp_file("no_dir/x.bib").s);
}

#define TEST(fn) cmocka_unit_test_teardown(fn, free_owned)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_vm_help_and_version),
        TEST(test_asm_help_and_version),
        TEST(test_vm_usage_errors),
        TEST(test_vm_bad_fuel),
        TEST(test_vm_bad_mem),
        TEST(test_vm_mem_trailing_space_is_refused),
        TEST(test_vm_bad_bindings),
        TEST(test_vm_input_dtype_and_shape_are_checked),
        TEST(test_vm_missing_program_is_io_error),
        TEST(test_vm_malformed_bib),
        TEST(test_vm_assembly_errors),
        TEST(test_vm_bad_npy_input_is_io_error),
        TEST(test_vm_unwritable_out_is_io_error),
        TEST(test_vm_failed_write_keeps_device_and_old_file),
        TEST(test_vm_failed_run_writes_no_output),
        TEST(test_vm_out_checked_before_the_run),
        TEST(test_vm_std_streams_are_checked),
        TEST(test_vm_dash_links_and_modes),
        TEST(test_vm_streams_that_are_not_the_format),
        TEST(test_asm_keeps_its_source_and_old_output),
        TEST(test_vm_plugins),
        TEST(test_vm_profile_and_trace_json),
        TEST(test_vm_trap_names_source_and_pc),
        TEST(test_vm_info),
        TEST(test_vm_simd_and_threads),
        TEST(test_vm_out_of_fuel),
        TEST(test_vm_memory_limit),
        TEST(test_vm_examples_run),
        TEST(test_vm_out_files_match_api),
        TEST(test_vm_mlp_in_out_round_trip),
        TEST(test_vm_digest),
        TEST(test_vm_quiet),
        TEST(test_vm_stats),
        TEST(test_vm_trace),
        TEST(test_vm_trace_with_fuel_stops_cleanly),
        TEST(test_switch_dispatch_matches),
        TEST(test_asm_default_output_name),
        TEST(test_asm_output_option),
        TEST(test_asm_stdin_and_stdout),
        TEST(test_asm_disassemble),
        TEST(test_asm_errors),
        TEST(test_asm_usage_and_io_errors),
    };
    return cmocka_run_group_tests(tests, make_temp_dir, remove_temp_dir);
}
