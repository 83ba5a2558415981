/* adead-vm and adead-asm as programs: usage and argument errors, the exit status of every failure
 * class, output printing, .npy files in and out, --digest, --quiet, --stats, --trace, the portable
 * switch-dispatch build, and the assembler's file handling. Every run is a real process. */
#include "testutil.h"

#include <dirent.h>
#include <sys/stat.h>
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

/* ---- running the tools ---- */

/* Which streams of the command come back: both (as run_cmd gives them), or only one. The
 * redirection sits inside a subshell so that run_cmd's own "2>&1" cannot undo it. */
typedef enum { BOTH_STREAMS, STDOUT_ONLY, STDERR_ONLY } streams;

typedef struct {
    int status;
    char *text; /* malloc'd */
} run_result;

static run_result run_tool(const char *tool, streams which, const char *args_fmt, va_list ap)
{
    char args[3000], cmd[4000];
    vsnprintf(args, sizeof args, args_fmt, ap);
    const char *redirect = which == STDOUT_ONLY ? " 2>/dev/null" : which == STDERR_ONLY ? " 2>&1 >/dev/null" : "";
    snprintf(cmd, sizeof cmd, "(%s/bin/%s %s%s)", build_dir(), tool, args, redirect);
    run_result r;
    r.text = NULL;
    r.status = run_cmd(cmd, &r.text);
    assert_non_null(r.text);
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

/* The run exits with `status` and prints exactly `text`; frees the result. */
static void expect_exact(run_result r, int status, const char *text)
{
    assert_exit(r, status);
    if (strcmp(r.text, text)) fail_msg("output\n----\n%s----\nexpected\n----\n%s----", r.text, text);
    free(r.text);
}

/* The run exits with `status` and says `phrase` somewhere; frees the result. */
static void expect_phrase(run_result r, int status, const char *phrase)
{
    assert_exit(r, status);
    assert_contains(r.text, phrase);
    free(r.text);
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
    free(r.text);
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

static void write_npy(const char *path, adead_dtype dtype, int rank, const int64_t *dims, const void *data,
                      size_t nbytes)
{
    adead_tensor_view t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.rank = rank;
    for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
    t.data = data;
    t.nbytes = nbytes;
    char err[512];
    if (adead_npy_write(path, &t, err, sizeof err)) fail_msg("adead_npy_write: %s", err);
}

static void write_i64_npy(const char *path, int rank, const int64_t *dims, const int64_t *values, size_t count)
{
    write_npy(path, ADEAD_I64, rank, dims, values, count * sizeof *values);
}

/* A tensor read back from a .npy file; data is free()d by free_npy. */
typedef struct {
    adead_tensor_view view;
    void *data;
} npy_file;

static npy_file read_npy(const char *path)
{
    npy_file f;
    char err[512];
    if (adead_npy_read(path, &f.view, &f.data, err, sizeof err)) fail_msg("adead_npy_read: %s", err);
    return f;
}

static void assert_same_tensor(const adead_tensor_view *a, const adead_tensor_view *b)
{
    assert_int_equal(a->dtype, b->dtype);
    assert_int_equal(a->rank, b->rank);
    for (int i = 0; i < a->rank; i++) assert_int_equal(a->dims[i], b->dims[i]);
    assert_int_equal(a->nbytes, b->nbytes);
    if (a->nbytes) assert_memory_equal(a->data, b->data, a->nbytes);
}

