/* The assembler and disassembler: one test per class of diagnostic (location, message, source
 * line and caret), the exact encoding of operands and declarations, byte-identical round trips
 * text -> .bib -> text -> .bib for the examples and for hand-written edge cases, and
 * determinism. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../asm/asm.h"
#include "../isa/bib.h"
#include "testutil.h"

/* ---- helpers ---- */

typedef struct {
    uint8_t *p;
    size_t n;
} image;

/* Failure messages are built here, so a helper can free what it holds before failing. */
static char failure[32768];

static const char *failf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failure, sizeof failure, fmt, ap);
    va_end(ap);
    return failure;
}

static image assemble_named(const char *src, const char *filename)
{
    image img = {NULL, 0};
    char *diag = NULL;
    int rc = asm_assemble(src, strlen(src), filename, &img.p, &img.n, &diag);
    if (rc) {
        failf("assembly of %s failed (%d errors):\n%s\n--- source:\n%s", filename, rc, diag ? diag : "", src);
        free(diag);
        fail_msg("%s", failure);
    }
    free(diag);
    return img;
}

static image assemble_image(const char *src) { return assemble_named(src, "test.adasm"); }

static void decode(const image *img, bib_module *m)
{
    char err[256] = "";
    if (bib_read(img->p, img->n, m, err, sizeof err)) fail_msg("bib_read: %s", err);
}

static void assert_instr(const bib_module *m, uint32_t pc, uint32_t op, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3)
{
    assert_true(pc < m->n_code);
    const bib_instr *ins = &m->code[pc];
    if (ins->op != op || ins->a[0] != a0 || ins->a[1] != a1 || ins->a[2] != a2 || ins->a[3] != a3)
        fail_msg("pc %u: got 0x%08X 0x%X 0x%X 0x%X 0x%X, expected 0x%08X 0x%X 0x%X 0x%X 0x%X", pc, ins->op, ins->a[0], ins->a[1],
                 ins->a[2], ins->a[3], op, a0, a1, a2, a3);
}

/* Line n (1-based) of src, without its '\n' or a trailing '\r', into buf. */
static void source_line(const char *src, unsigned n, char *buf, size_t len)
{
    const char *p = src;
    for (unsigned i = 1; i < n && p; i++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    if (!p) p = "";
    size_t k = strcspn(p, "\n");
    if (k && p[k - 1] == '\r') k--;
    snprintf(buf, len, "%.*s", (int)k, p);
}

/* NULL when diag holds "test.adasm:LINE:COL: error: ...phrase..." at the start of a line,
 * followed by the source line and a caret under column COL (tabs kept so the caret lines up);
 * else what is wrong. */
static const char *diagnostic_problem(const char *diag, const char *src, unsigned line, unsigned col, const char *phrase)
{
    char head[64];
    snprintf(head, sizeof head, "test.adasm:%u:%u: error: ", line, col);
    const char *at = diag;
    while (at && (at = strstr(at, head)) && at != diag && at[-1] != '\n') at++;
    if (!at) return failf("no diagnostic starting with \"%s\" in:\n%s", head, diag ? diag : "(none)");
    size_t msg_len = strcspn(at, "\n");
    char msg[1024];
    snprintf(msg, sizeof msg, "%.*s", (int)msg_len, at);
    if (!strstr(msg, phrase)) return failf("message \"%s\" does not contain \"%s\"", msg, phrase);

    char text[512], want[2200], caret[600];
    source_line(src, line, text, sizeof text);
    size_t n = 0, text_len = strlen(text);
    for (unsigned c = 1; c < col && c - 1 < text_len && n + 2 < sizeof caret; c++) caret[n++] = text[c - 1] == '\t' ? '\t' : ' ';
    caret[n++] = '^';
    caret[n] = 0;
    snprintf(want, sizeof want, "%s\n %s\n %s\n", msg, text, caret);
    if (strncmp(at, want, strlen(want))) return failf("expected:\n%s--- got:\n%s", want, at);
    return NULL;
}

/* src must fail with exactly n_errors errors, one of them at line:col with phrase. */
static void expect_errors(const char *src, int n_errors, unsigned line, unsigned col, const char *phrase)
{
    image img = {NULL, 0};
    char *diag = NULL;
    int rc = asm_assemble(src, strlen(src), "test.adasm", &img.p, &img.n, &diag);
    const char *why = NULL;
    if (rc != n_errors)
        why = failf("expected %d error(s), got %d; diagnostics:\n%s\n--- source:\n%s", n_errors, rc, diag ? diag : "", src);
    else if (img.p)
        why = failf("a failed assembly returned an image");
    else
        why = diagnostic_problem(diag, src, line, col, phrase);
    free(img.p);
    free(diag);
    if (why) fail_msg("%s", why);
}

static void expect_error(const char *src, unsigned line, unsigned col, const char *phrase)
{
    expect_errors(src, 1, line, col, phrase);
}

/* The same check with the assembler in a child process, for inputs that have crashed it: a
 * crash then fails this test only, instead of ending the whole run. */
static void expect_errors_in_child(const char *src, int n_errors, unsigned line, unsigned col, const char *phrase)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's handlers would resume the test run in the child: crash for real instead */
        static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
        close(fds[0]);
        uint8_t *bib = NULL;
        size_t size;
        char *diag = NULL;
        int rc = asm_assemble(src, strlen(src), "test.adasm", &bib, &size, &diag);
        if (diag && write(fds[1], diag, strlen(diag)) < 0) _exit(99);
        _exit(rc >= 0 && rc < 50 ? 10 + rc : 98);
    }
    close(fds[1]);
    static char diag[16384];
    size_t n = 0;
    ssize_t k;
    while ((k = read(fds[0], diag + n, sizeof diag - 1 - n)) > 0) n += (size_t)k;
    diag[n] = 0;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("the assembler crashed (signal %d) on:\n%s\n--- diagnostics so far:\n%s", WTERMSIG(status), src, diag);
    if (!WIFEXITED(status) || WEXITSTATUS(status) < 10 || WEXITSTATUS(status) >= 98)
        fail_msg("the assembler failed (exit %d, a sanitizer report?) on:\n%s", WIFEXITED(status) ? WEXITSTATUS(status) : -1, src);
    int rc = WEXITSTATUS(status) - 10;
    if (rc != n_errors) fail_msg("expected %d error(s), got %d; diagnostics:\n%s", n_errors, rc, diag);
    const char *why = diagnostic_problem(diag, src, line, col, phrase);
    if (why) fail_msg("%s", why);
}

/* Where header appears in diag, or -1. */
static long position_of(const char *diag, const char *header)
{
    const char *p = strstr(diag, header);
    return p ? (long)(p - diag) : -1;
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* NULL when disassembling the image and assembling the text gives the same bytes back. */
static const char *round_trip_problem(const uint8_t *bytes, size_t size)
{
    char *text = NULL, err[512] = "";
    int drc = asm_disassemble(bytes, size, &text, err, sizeof err);
    if (drc) return failf("disassembly failed (%d): %s", drc, err);
    image again = {NULL, 0};
    char *diag = NULL;
    int rc = asm_assemble(text, strlen(text), "roundtrip.adasm", &again.p, &again.n, &diag);
    const char *why = NULL;
    if (rc) {
        why = failf("the disassembly does not assemble (%d errors):\n%s--- disassembly:\n%s", rc, diag ? diag : "", text);
    } else if (again.n != size || memcmp(again.p, bytes, size)) {
        size_t first = 0;
        while (first < size && first < again.n && again.p[first] == bytes[first]) first++;
        why = failf("the bytes differ (%zu bytes, then %zu; first difference at byte %zu)\n--- disassembly:\n%s", size, again.n, first,
                    text);
    }
    free(again.p);
    free(diag);
    free(text);
    return why;
}

static void assert_round_trip(const image *img)
{
    const char *why = round_trip_problem(img->p, img->n);
    if (why) fail_msg("%s", why);
}

static void assert_text_round_trips(const char *src)
{
    image img = assemble_image(src);
    const char *why = round_trip_problem(img.p, img.n);
    free(img.p);
    if (why) fail_msg("%s\n--- source:\n%s", why, src);
}

/* A program assembled, changed as a module, and written back by bib_write (canonical form). */
typedef void (*module_edit)(bib_module *m);

static image rewritten(const char *src, module_edit edit)
{
    image img = assemble_image(src);
    bib_module m;
    decode(&img, &m);
    free(img.p);
    edit(&m);
    image out = {NULL, 0};
    int rc = bib_write(&m, &out.p, &out.n);
    bib_free(&m);
    assert_int_equal(rc, 0);
    return out;
}

static uint32_t symbol_value(const bib_module *m, uint32_t kind, const char *name)
{
    for (uint32_t i = 0; i < m->n_symbols; i++)
        if (m->symbols[i].kind == kind && !strcmp(m->strings + m->symbols[i].name, name)) return m->symbols[i].value;
    fail_msg("no symbol '%s' of kind %u", name, kind);
    return 0;
}

static uint32_t float_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    return bits;
}

static uint32_t f32_bits_of(const bib_module *m, const bib_const *c, size_t i)
{
    uint32_t bits;
    memcpy(&bits, m->data + c->data_off + 4 * i, 4);
    return bits;
}

/* ---- a temporary folder for .npy and .spv files ---- */

typedef struct {
    char dir[64];
} temp_dir;

static int make_temp_dir(void **state)
{
    temp_dir *td = calloc(1, sizeof *td);
    if (!td) return -1;
    snprintf(td->dir, sizeof td->dir, "/tmp/adead-test-asm-XXXXXX");
    if (!mkdtemp(td->dir)) {
        free(td);
        return -1;
    }
    *state = td;
    return 0;
}

static int remove_temp_dir(void **state)
{
    temp_dir *td = *state;
    DIR *d = opendir(td->dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", td->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(td->dir);
    free(td);
    return 0;
}

/* Write a .npy file into the temp folder. */
static void write_npy_in(const temp_dir *td, const char *name, adead_dtype dtype, int rank, const int64_t *dims, const void *data,
                         size_t nbytes)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", td->dir, name);
    write_npy(path, dtype, rank, dims, data, nbytes);
}

/* ==== 1. diagnostics ==== */

static void test_unknown_instruction(void **state)
{
    (void)state;
    expect_error("main:\n    FROB r1, r2\n    HALT\n", 2, 5, "unknown instruction 'FROB'");
    /* CRLF line endings: the '\r' is not part of the quoted line */
    expect_error("    NOP\r\n    FROB\r\n    HALT\r\n", 2, 5, "unknown instruction 'FROB'");
    /* not a statement at all */
    expect_error("    HALT\n  , r1\n", 2, 3, "expected an instruction, a label or a directive");
}

static void test_unknown_directive(void **state)
{
    (void)state;
    expect_error("  .bogus 1\n  HALT\n", 1, 3, "unknown directive '.bogus'");
}

static void test_register_out_of_range_keeps_tabs_in_caret_line(void **state)
{
    (void)state;
    static const char src[] = "\tADD\tr1,\tr256, r2\n\tHALT\n";
    expect_error(src, 1, 10, "register 'r256' is out of range (r0..r255)");
    /* and literally: the caret line repeats the three tabs */
    uint8_t *bib;
    size_t size;
    char *diag;
    assert_int_equal(asm_assemble(src, strlen(src), "test.adasm", &bib, &size, &diag), 1);
    int ok = strstr(diag, "\n \tADD\tr1,\tr256, r2\n \t   \t   \t^\n") != NULL;
    free(diag);
    assert_true(ok);
}

static void test_not_a_register(void **state)
{
    (void)state;
    expect_error("    MOV r1, 42\n    HALT\n", 1, 13, "expected a register (r0..r255), found '42'");
    expect_error("    ADD r1, x, r2\n    HALT\n", 1, 13, "expected a register (r0..r255), found 'x'");
    expect_error("    ADD r1x, r2, r3\n    HALT\n", 1, 9, "expected a register");
}

static void test_too_few_operands(void **state)
{
    (void)state;
    /* the caret goes just past the end of the line, where the operand is missing */
    expect_error("    ADD r1, r2\n    HALT\n", 1, 15, "ADD takes 3 operands");
    expect_error("    ADD\n    HALT\n", 1, 8, "ADD needs its operands");
    expect_error("    ADD r1,\n    HALT\n", 1, 12, "operand 2 (register) is missing");
}

static void test_too_many_operands_or_missing_comma(void **state)
{
    (void)state;
    expect_error("    ADD r1, r2, r3, r4\n    HALT\n", 1, 19, "unexpected ',' after the last operand");
    expect_error("    ADD r1 r2, r3\n    HALT\n", 1, 12, "expected ',' before operand 2, found 'r2'");
    expect_error("    HALT 1\n", 1, 10, "unexpected '1' after the last operand");
}

static void test_immediate_out_of_range(void **state)
{
    (void)state;
    expect_error("    ADDI r1, r2, 2147483648\n    HALT\n", 1, 18, "immediate '2147483648' is out of range (-2147483648..2147483647)");
    expect_error("    ADDI r1, r2, -2147483649\n    HALT\n", 1, 18, "immediate '-2147483649' is out of range");
    expect_error("    LDI r1, 18446744073709551616\n    HALT\n", 1, 13, "expected a 64-bit integer, found '18446744073709551616'");
    expect_error("    LDI r1, -9223372036854775809\n    HALT\n", 1, 13, "expected a 64-bit integer");
    expect_error(".tensor t f32\n    TDIM r1, t, 4\n    HALT\n", 2, 17, "axis '4' is out of range (0..3)");
    expect_error(".tensor t f32\n    TNEW t, r1, 5\n    HALT\n", 2, 17, "rank '5' is out of range (0..4)");
}

static void test_bad_number_syntax(void **state)
{
    (void)state;
    expect_error("    ADDI r1, r2, 0x\n    HALT\n", 1, 18, "found '0x'");
    expect_error("    ADDI r1, r2, 12z\n    HALT\n", 1, 18, "found '12z'");
    expect_error("    ADDI r1, r2, 0b102\n    HALT\n", 1, 18, "found '0b102'");
    expect_error("    LDI r1, 1.5\n    HALT\n", 1, 13, "expected a 64-bit integer, found '1.5'");
    expect_error("    LDF r1, 1.5.2\n    HALT\n", 1, 13, "'1.5.2' is not an f32 value");
    expect_error(".tensor a i32 [2] = [1, 2.5]\n    HALT\n", 1, 25, "found '2.5'");
}

static void test_f32_literal_out_of_range_and_bad_nan_bits(void **state)
{
    (void)state;
    expect_error("    LDF r1, 1e39\n    HALT\n", 1, 13, "'1e39' is not an f32 value (or is beyond its range)");
    expect_error("    LDF r1, -1e39\n    HALT\n", 1, 13, "'-1e39' is not an f32 value");
    expect_error(".const c f32 [2] = [1, 1e39]\n    HALT\n", 1, 24, "'1e39' is not an f32 value");
    /* nan(...) takes the bits of a NaN: not infinity, not a number, nothing past 32 bits */
    expect_error("    LDF r1, nan(0x7f800000)\n    HALT\n", 1, 17, "nan(...) takes the 32 bits of a NaN");
    expect_error("    LDF r1, nan(0x3f800000)\n    HALT\n", 1, 17, "nan(...) takes the 32 bits of a NaN");
    expect_error("    LDF r1, nan(0x1ffc00000)\n    HALT\n", 1, 17, "nan(...) takes the 32 bits of a NaN");
    expect_error("    LDF r1, nan(0x7fc00001\n    HALT\n", 1, 27, "expected ')'");
}

static void test_undefined_names(void **state)
{
    (void)state;
    expect_error("    JMP nowhere\n", 1, 9, "unknown label 'nowhere'");
    expect_errors("    RELU y, y\n    HALT\n", 2, 1, 10, "unknown tensor 'y'");
    expect_errors("    RELU y, y\n    HALT\n", 2, 1, 13, "unknown tensor 'y'");
    expect_error("    LDK r1, c\n    HALT\n", 1, 13, "unknown constant 'c'");
    /* index syntax past the last slot */
    expect_error(".const c i64 1\n    LDK r1, k1\n    HALT\n", 2, 13, "unknown constant 'k1'");
    expect_error(".tensor a f32\n    PRINTT t1\n    HALT\n", 2, 12, "unknown tensor 't1'");
    /* a tensor's init constant must come first */
    expect_error(".tensor a f32 = later\n.const later f32 [1] = [1]\n    HALT\n", 1, 17, "no constant named 'later'");
}

static void test_duplicate_names(void **state)
{
    (void)state;
    expect_error("a:\n    NOP\na:  HALT\n", 3, 1, "label 'a' is already defined");
    expect_error(".tensor a f32\n.tensor a i32\n    HALT\n", 2, 9, "tensor 'a' is already defined");
    expect_error(".const c i64 1\n.const c f32 2\n    HALT\n", 2, 8, "constant 'c' is already defined");
    /* separate namespaces: the same name for a tensor, a constant and a label is fine */
    image img = assemble_image(".tensor a f32\n.const a i64 1\na:  HALT\n");
    free(img.p);
}

static void test_type_word_as_a_tensor_name(void **state)
{
    (void)state;
    expect_error(".tensor i64 f32\n    HALT\n", 1, 9, "'i64' is reserved");
    expect_error(".output str f32\n    HALT\n", 1, 9, "'str' is reserved");
}

/* docs/asm.md: "The words f32 i32 i64 str cannot be names." Labels are names too. */
static void test_type_word_as_a_label_name(void **state)
{
    (void)state;
    expect_error("f32:\n    JMP f32\n", 1, 1, "'f32' is reserved");
}

static void test_f32_tensor_required(void **state)
{
    (void)state;
    expect_error(".tensor a i32 [2, 2]\n.tensor b f32\n    MATMUL b, a, b\n    HALT\n", 3, 15,
                 "'a' is an i32 tensor; this operand needs f32");
    expect_error(".tensor c f32\n.tensor i i64\n    VK_COMPUTE RELU, c, i\n    HALT\n", 3, 25,
                 "'i' is an i64 tensor; this operand needs f32");
}

static void test_wrong_constant_kind(void **state)
{
    (void)state;
    expect_error(".const c i64 5\n    PRINTS c\n    HALT\n", 2, 12, "constant 'c' is not a string constant");
    expect_error(".const s str \"x\"\n    LDK r1, s\n    HALT\n", 2, 13, "constant 's' is not a scalar constant");
    expect_error(".tensor t f32\n.const c f32 1\n    TLOADK t, c\n    HALT\n", 3, 15, "constant 'c' is not a tensor constant");
    expect_error(".const c i64 5\n.tensor t i64 = c\n    HALT\n", 2, 17, "constant 'c' is not a i64 tensor constant");
}

static void test_init_count_must_match_shape(void **state)
{
    (void)state;
    expect_error(".tensor a f32 [2, 2] = [1, 2, 3]\n    HALT\n", 1, 24, "3 values for a shape of 4 elements");
    expect_error(".const k i32 [3] = [1, 2]\n    HALT\n", 1, 20, "2 values for a shape of 3 elements");
    expect_error(".const k i32 [2] = [1, 2]\n.tensor a i32 [3] = k\n    HALT\n", 2, 21, "constant 'k' has another shape");
}

static void test_unterminated_string_at_statement_start(void **state)
{
    (void)state;
    expect_error("\"abc\n    HALT\n", 1, 1, "unterminated string");
}

/* The lexer knows the string is unterminated; the message should say so, not "expected a
 * string literal" while pointing at one. */
static void test_unterminated_string_operand(void **state)
{
    (void)state;
    expect_error(".const s str \"abc\n    HALT\n", 1, 14, "unterminated string");
    expect_error(".file \"x.c\n    HALT\n", 1, 7, "unterminated string");
}

static void test_unknown_string_escape(void **state)
{
    (void)state;
    /* the caret is under the backslash */
    expect_error(".const s str \"a\\qb\"\n    HALT\n", 1, 16, "unknown escape '\\q'");
    expect_error(".const s str \"ab\\x4\"\n    HALT\n", 1, 17, "unknown escape '\\x'");
    expect_error(".const s str \"\\xg0\"\n    HALT\n", 1, 15, "unknown escape '\\x'");
}

/* \xHH is exactly two hex digits; sscanf("%2x") alone also takes a space or a sign. */
static void test_hex_escape_needs_two_hex_digits(void **state)
{
    (void)state;
    expect_error(".const s str \"\\x 5\"\n    HALT\n", 1, 15, "unknown escape '\\x'");
    expect_error(".const s str \"\\x-1\"\n    HALT\n", 1, 15, "unknown escape '\\x'");
    expect_error(".const s str \"\\x+a\"\n    HALT\n", 1, 15, "unknown escape '\\x'");
}

static void test_npy_missing_or_wrong_dtype(void **state)
{
    temp_dir *td = *state;
    static const int32_t three[3] = {1, 2, 3};
    static const int64_t dims3[1] = {3};
    write_npy_in(td, "i32.npy", ADEAD_I32, 1, dims3, three, sizeof three);
    char src[512], phrase[256];

    snprintf(src, sizeof src, ".tensor w f32 = \"%s/missing.npy\"\n    HALT\n", td->dir);
    snprintf(phrase, sizeof phrase, "%s/missing.npy: cannot open", td->dir);
    expect_error(src, 1, 17, phrase);

    snprintf(src, sizeof src, ".tensor w f32 [3] = \"%s/i32.npy\"\n    HALT\n", td->dir);
    snprintf(phrase, sizeof phrase, "%s/i32.npy holds i32 data, the declaration says f32", td->dir);
    expect_error(src, 1, 21, phrase);

    snprintf(src, sizeof src, ".tensor w i32 [4] = \"%s/i32.npy\"\n    HALT\n", td->dir);
    expect_error(src, 1, 21, "the .npy file's shape differs from the declared shape");

    /* a relative path is relative to the source file's folder, not to the working directory */
    char filename[256];
    snprintf(filename, sizeof filename, "%s/prog.adasm", td->dir);
    image img = assemble_named(".const w i32 [3] = \"i32.npy\"\n    HALT\n", filename);
    bib_module m;
    decode(&img, &m);
    assert_int_equal(m.n_consts, 1);
    assert_int_equal(m.consts[0].dtype, BIB_DT_I32);
    assert_int_equal(m.consts[0].data_size, sizeof three);
    assert_memory_equal(m.data + m.consts[0].data_off, three, sizeof three);
    bib_free(&m);
    free(img.p);
}

static void test_shape_rank_5(void **state)
{
    (void)state;
    expect_error(".tensor a f32 [1, 2, 3, 4, 5]\n    HALT\n", 1, 28, "a shape has at most 4 dimensions");
    /* recovery: the rest of the bracket is skipped and the next line is read */
    expect_errors(".tensor a f32 [1, 2, 3, 4, 5]\n    FOO\n", 2, 2, 5, "unknown instruction 'FOO'");
}

static void test_flags_unknown_word(void **state)
{
    (void)state;
    expect_error(".flags relaxed fast\n    HALT\n", 1, 16, "unknown flag 'fast' (known: relaxed)");
}

static void test_input_or_output_needs_a_name(void **state)
{
    (void)state;
    expect_error(".input - f32\n    HALT\n", 1, 8, "an input or output needs a name");
    expect_error(".tensor - f32 [1] output\n    HALT\n", 1, 9, "an input or output needs a name");
}

static void test_no_instructions(void **state)
{
    (void)state;
    static const char src[] = ".tensor a f32\n; only declarations\n";
    uint8_t *bib;
    size_t size;
    char *diag;
    assert_int_equal(asm_assemble(src, strlen(src), "test.adasm", &bib, &size, &diag), 1);
    /* at the end of the file, which has no source line to quote */
    int ok = diag && !strcmp(diag, "test.adasm:3:1: error: the program has no instructions\n");
    if (!ok) failf("got:\n%s", diag ? diag : "(none)");
    free(diag);
    if (!ok) fail_msg("%s", failure);
    assert_int_equal(asm_assemble("", 0, "test.adasm", &bib, &size, &diag), 1);
    ok = diag && strstr(diag, "test.adasm:1:1: error: the program has no instructions") == diag;
    free(diag);
    assert_true(ok);
}

static void test_verifier_reason_at_the_instruction(void **state)
{
    (void)state;
    expect_error("    LDI r1, 2\n\n    ADD r1, r1, r1\n", 3, 5, "ADD: the last instruction must be HALT, TRAP, RET or JMP");
    expect_error(".tensor t f32\n    TNEW t, r254, 3\n    HALT\n", 2, 5, "dimensions r254..r256 run past r255");
    expect_error("    JMP @5\n", 1, 5, "jump target 5 is outside the code");
    expect_error(".tensor a i32\n.tensor b f32\n    TCOPY a, b\n    HALT\n", 3, 5, "differ in dtype");
}

static void test_label_at_end_of_code_as_jump_target(void **state)
{
    (void)state;
    expect_error("    JMP end\nend:\n", 1, 9, "label 'end' is at the end of the code");
    /* a label at the end is fine while nothing jumps to it */
    image img = assemble_image("    HALT\nend:\n");
    free(img.p);
}

static void test_vk_compute_operand_errors(void **state)
{
    (void)state;
    static const char decls[] = ".tensor c f32\n.tensor a f32\n";
    char src[256];
    snprintf(src, sizeof src, "%s    VK_COMPUTE ADD, c, a\n    HALT\n", decls);
    expect_error(src, 3, 16, "expected a kernel");
    /* in a child: the tensor names before the error have crashed the assembler */
    snprintf(src, sizeof src, "%s    VK_COMPUTE RELU, c, a, a\n    HALT\n", decls);
    expect_errors_in_child(src, 1, 3, 26, "unexpected ','");
    snprintf(src, sizeof src, "%s    VK_COMPUTE MATMUL, c, a\n    HALT\n", decls);
    expect_errors_in_child(src, 1, 3, 28, "expected ',' before operand 4");
}

/* VK_COMPUTE of a 4-tensor kernel: the 5-operand form's own errors. */
static void test_vk_compute_4_tensor_kernel_errors(void **state)
{
    (void)state;
    static const char decls[] = ".tensor o f32\n.tensor q f32\n.tensor i i32\n";
    char src[512];
    /* an unknown kernel: the message lists them all, ATTENTION and ATTENTION_CAUSAL too */
    snprintf(src, sizeof src, "%s    VK_COMPUTE ATTN, o, q, q, q\n    HALT\n", decls);
    expect_error(src, 4, 16, "expected a kernel (MATMUL, TRANSPOSE, SOFTMAX, RELU, ATTENTION, ATTENTION_CAUSAL, TADD, TSUB, TMUL), found 'ATTN'");
    /* the 4th tensor: missing after its comma, of the wrong dtype, unknown, one too many */
    snprintf(src, sizeof src, "%s    VK_COMPUTE ATTENTION, o, q, q,\n    HALT\n", decls);
    expect_errors_in_child(src, 1, 4, 35, "VK_COMPUTE: operand 5 (f32 tensor, the 4th tensor of ATTENTION) is missing");
    snprintf(src, sizeof src, "%s    VK_COMPUTE ATTENTION_CAUSAL, o, q, q, i\n    HALT\n", decls);
    expect_errors_in_child(src, 1, 4, 43, "'i' is an i32 tensor; this operand needs f32");
    snprintf(src, sizeof src, "%s    VK_COMPUTE ATTENTION, o, q, q, nope\n    HALT\n", decls);
    expect_errors_in_child(src, 1, 4, 36, "unknown tensor 'nope'");
    snprintf(src, sizeof src, "%s    VK_COMPUTE ATTENTION, o, q, q, q, q\n    HALT\n", decls);
    expect_errors_in_child(src, 1, 4, 37, "unexpected ','");
    /* the 3-tensor form without its VK_ARG, and a VK_ARG with no such VK_COMPUTE before it */
    snprintf(src, sizeof src, "%s    VK_COMPUTE ATTENTION, o, q, q\n    HALT\n", decls);
    expect_error(src, 4, 5, "ATTENTION takes 4 tensors: the next instruction must be VK_ARG with the 4th");
    snprintf(src, sizeof src, "%s    VK_COMPUTE MATMUL, o, q, q\n    VK_ARG q\n    HALT\n", decls);
    expect_error(src, 5, 5, "VK_ARG without a VK_COMPUTE of a 4-tensor kernel before it");
    /* a kernel of 3 tensors or fewer takes no 5th operand */
    snprintf(src, sizeof src, "%s    VK_COMPUTE MATMUL, o, q, q, q\n    HALT\n", decls);
    expect_errors_in_child(src, 1, 4, 31, "unexpected ','");
}

static void test_errors_in_source_order(void **state)
{
    (void)state;
    static const char src[] = "    FOO\n"
                              "    MOV r1, 7\n"
                              ".bogus\n"
                              "    ADDI r1, r1, 1e3\n"
                              "    HALT\n";
    uint8_t *bib;
    size_t size;
    char *diag;
    assert_int_equal(asm_assemble(src, strlen(src), "test.adasm", &bib, &size, &diag), 4);
    long p1 = position_of(diag, "test.adasm:1:5: error: unknown instruction");
    long p2 = position_of(diag, "test.adasm:2:13: error: expected a register");
    long p3 = position_of(diag, "test.adasm:3:1: error: unknown directive");
    long p4 = position_of(diag, "test.adasm:4:18: error: expected a number (immediate)");
    int ok = p1 == 0 && p2 > p1 && p3 > p2 && p4 > p3;
    if (!ok) failf("out of order or missing (%ld %ld %ld %ld):\n%s", p1, p2, p3, p4, diag);
    free(diag);
    if (!ok) fail_msg("%s", failure);
}

/* Names are resolved at the end, but their errors should still come in source order. */
static void test_undefined_name_errors_in_source_order(void **state)
{
    (void)state;
    static const char src[] = "    JMP nowhere\n"
                              "    FOO\n"
                              "    HALT\n";
    uint8_t *bib;
    size_t size;
    char *diag;
    assert_int_equal(asm_assemble(src, strlen(src), "test.adasm", &bib, &size, &diag), 2);
    long p1 = position_of(diag, "test.adasm:1:9: error: unknown label 'nowhere'");
    long p2 = position_of(diag, "test.adasm:2:5: error: unknown instruction 'FOO'");
    int ok = p1 >= 0 && p2 > p1;
    if (!ok) failf("line 1's error should come first (%ld %ld):\n%s", p1, p2, diag);
    free(diag);
    if (!ok) fail_msg("%s", failure);
}

/* An error found at the end of a line must not swallow the next line. */
static void test_error_at_end_of_line_keeps_next_line(void **state)
{
    (void)state;
    expect_errors("    ADD r1, r2\n    FOO\n    HALT\n", 2, 2, 5, "unknown instruction 'FOO'");
    expect_errors("    ADD\n    FOO\n    HALT\n", 2, 2, 5, "unknown instruction 'FOO'");
    expect_errors(".const k i32 [2]\n    FOO\n    HALT\n", 2, 2, 5, "unknown instruction 'FOO'");
}

/* An instruction dropped for a bad operand must not leave its names to be resolved: they
 * would be written into an instruction that does not exist (crash or heap overflow). */
static void test_instruction_dropped_after_a_name_operand(void **state)
{
    (void)state;
    expect_errors_in_child(".tensor a f32\n    RELU a, a, a\n    HALT\n", 1, 2, 14, "unexpected ','");
    /* no instruction at all yet: the code array is still NULL */
    expect_errors_in_child(".tensor a f32\n    TDIM r1, a, 4\n", 1, 2, 17, "axis '4' is out of range");
    /* a missing comma after a name operand: its lookup must go with the instruction */
    expect_errors_in_child(".tensor t f32\n    RELU t\n", 1, 2, 11, "expected ',' before operand 2");
}

/* The same with the code array exactly full (16 instructions): a write just past its end,
 * which only the sanitizer build sees. */
static void test_instruction_dropped_when_code_array_is_full(void **state)
{
    (void)state;
    char src[1024] = ".tensor a f32\n";
    for (int i = 0; i < 16; i++) strcat(src, "    NOP\n");
    strcat(src, "    TDIM r1, a, 4\n"); /* last: nothing grows the array after it */
    expect_errors_in_child(src, 1, 18, 17, "axis '4' is out of range");
}

static void test_at_most_50_errors_printed(void **state)
{
    (void)state;
    char src[4096] = "";
    for (int i = 0; i < 60; i++) strcat(src, "    FOO\n");
    strcat(src, "    HALT\n");
    uint8_t *bib;
    size_t size;
    char *diag;
    int rc = asm_assemble(src, strlen(src), "test.adasm", &bib, &size, &diag);
    int shown = count_of(diag, ": error: ");
    long last = position_of(diag, "test.adasm:50:5: error:");
    long stop = position_of(diag, "too many errors");
    long past = position_of(diag, "test.adasm:51:");
    int ok = rc == 60 && shown == 50 && last >= 0 && stop > last && past < 0;
    if (!ok) failf("rc %d, %d shown, 50th at %ld, 'too many errors' at %ld, 51st at %ld:\n%s", rc, shown, last, stop, past, diag);
    free(diag);
    if (!ok) fail_msg("%s", failure);
}

static void test_diagnostics_name_the_source(void **state)
{
    (void)state;
    uint8_t *bib;
    size_t size;
    char *diag;
    assert_int_equal(asm_assemble("    FOO\n", 8, NULL, &bib, &size, &diag), 1);
    int ok = strstr(diag, "<memory>:1:5: error: unknown instruction") == diag;
    free(diag);
    assert_true(ok);

    /* the public entry point: status ADEAD_E_LOAD and the same text in errbuf */
    void *out = NULL;
    size_t out_size = 0;
    char err[1024];
    assert_int_equal(adead_assemble("    FOO\n", 8, "test.adasm", &out, &out_size, err, sizeof err), ADEAD_E_LOAD);
    assert_null(out);
    assert_non_null(strstr(err, "test.adasm:1:5: error: unknown instruction 'FOO'\n     FOO\n     ^\n"));
}

/* ==== 2. what successful assembly writes ==== */

static void test_ldi_64_bit_extremes(void **state)
{
    (void)state;
    image img = assemble_image("    LDI r1, -9223372036854775808\n"
                               "    LDI r2, 18446744073709551615\n"
                               "    LDI r3, -1\n"
                               "    LDI r4, 0x123456789abcdef0\n"
                               "    LDI r5, 0b101\n"
                               "    LDI r6, 9223372036854775807\n"
                               "    HALT\n");
    bib_module m;
    decode(&img, &m);
    const uint32_t LDI = 0x00010021;
    assert_instr(&m, 0, LDI, 1, 0x00000000, 0x80000000, 0);
    assert_instr(&m, 1, LDI, 2, 0xFFFFFFFF, 0xFFFFFFFF, 0);
    assert_instr(&m, 2, LDI, 3, 0xFFFFFFFF, 0xFFFFFFFF, 0);
    assert_instr(&m, 3, LDI, 4, 0x9ABCDEF0, 0x12345678, 0);
    assert_instr(&m, 4, LDI, 5, 5, 0, 0);
    assert_instr(&m, 5, LDI, 6, 0xFFFFFFFF, 0x7FFFFFFF, 0);
    bib_free(&m);
    free(img.p);
}

static void test_i32_immediates(void **state)
{
    (void)state;
    image img = assemble_image("    ADDI r1, r2, -2147483648\n"
                               "    MULI r1, r2, 0x7fffffff\n"
                               "    LOAD r1, r2, -8\n"
                               "    TRAP -1\n");
    bib_module m;
    decode(&img, &m);
    assert_instr(&m, 0, 0x00020010, 1, 2, 0x80000000, 0);
    assert_instr(&m, 1, 0x00020011, 1, 2, 0x7FFFFFFF, 0);
    assert_instr(&m, 2, 0x00010010, 1, 2, 0xFFFFFFF8, 0);
    assert_instr(&m, 3, 0x000000F0, 0xFFFFFFFF, 0, 0, 0);
    bib_free(&m);
    free(img.p);
}

static void test_ldf_bits(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint32_t bits;
    } cases[] = {
        {"-0.0", 0x80000000},
        {"0", 0x00000000},
        {"1e-45", 0x00000001}, /* the smallest subnormal */
        {"-1e-45", 0x80000001},
        {"0x1p-149", 0x00000001},
        {"0x1.8p-1", 0x3F400000},
        {"0x1.fffffep+127", 0x7F7FFFFF},
        {"3", 0x40400000},
        {"16777217", 0x4B800000}, /* rounds to nearest even */
        {"-2e-3", 0xBB03126F},
        {"inf", 0x7F800000},
        {"-inf", 0xFF800000},
        {"nan", 0x7FC00000},
        {"nan(0x7fc00001)", 0x7FC00001},
        {"nan(0xffc00000)", 0xFFC00000},
        {"nan(0x7f800001)", 0x7F800001}, /* a signalling NaN keeps its bits */
    };
    size_t n = sizeof cases / sizeof cases[0];
    char src[2048] = "";
    for (size_t i = 0; i < n; i++) {
        char line[64];
        snprintf(line, sizeof line, "    LDF r%zu, %s\n", i, cases[i].text);
        strcat(src, line);
    }
    strcat(src, "    HALT\n");
    image img = assemble_image(src);
    bib_module m;
    decode(&img, &m);
    for (size_t i = 0; i < n; i++) {
        if (m.code[i].a[1] != cases[i].bits)
            fail_msg("LDF %s: bits 0x%08X, expected 0x%08X", cases[i].text, m.code[i].a[1], cases[i].bits);
        assert_instr(&m, (uint32_t)i, 0x00010022, (uint32_t)i, cases[i].bits, 0, 0);
    }
    bib_free(&m);
    free(img.p);
}

static void test_absolute_jump_targets(void **state)
{
    (void)state;
    image img = assemble_image("    JZ r1, @2\n"
                               "    JMP @0\n"
                               "    JLTI r1, -5, @1\n"
                               "    HALT\n");
    bib_module m;
    decode(&img, &m);
    assert_instr(&m, 0, 0x00000002, 1, 2, 0, 0);
    assert_instr(&m, 1, 0x00000001, 0, 0, 0, 0);
    assert_instr(&m, 2, 0x0000000C, 1, 0xFFFFFFFB, 1, 0);
    bib_free(&m);
    free(img.p);
}

static void test_index_syntax_for_tensors_and_constants(void **state)
{
    (void)state;
    image img = assemble_image(".tensor - f32 [2]\n"
                               ".tensor - f32 [2]\n"
                               ".const i64 7\n"
                               ".const str \"hi\"\n"
                               ".const f32 [2] = [1, 2]\n"
                               ".tensor - f32 [2] = k2\n"
                               "    RELU t1, t0\n"
                               "    LDK r1, k0\n"
                               "    PRINTS k1\n"
                               "    TLOADK t0, k2\n"
                               "    HALT\n");
    bib_module m;
    decode(&img, &m);
    assert_int_equal(m.n_tensors, 3);
    assert_int_equal(m.n_symbols, 0);
    assert_int_equal(m.tensors[2].init, 2);
    assert_instr(&m, 0, 0x00030003, 1, 0, 0, 0);
    assert_instr(&m, 1, 0x00010023, 1, 0, 0, 0);
    assert_instr(&m, 2, 0x00000082, 1, 0, 0, 0);
    assert_instr(&m, 3, 0x00010031, 0, 2, 0, 0);
    bib_free(&m);
    free(img.p);
}

static void test_forward_references(void **state)
{
    (void)state;
    image img = assemble_image("    JMP skip\n"
                               "    PRINTS msg\n"
                               "skip:\n"
                               "    PRINTT late\n"
                               "    CALL sub, r4\n"
                               "    HALT\n"
                               "sub: RET\n"
                               ".const msg str \"declared after its use\"\n"
                               ".tensor late i32 [1]\n");
    bib_module m;
    decode(&img, &m);
    assert_instr(&m, 0, 0x00000001, 2, 0, 0, 0);
    assert_instr(&m, 1, 0x00000082, 0, 0, 0, 0);
    assert_instr(&m, 2, 0x00000083, 0, 0, 0, 0);
    assert_instr(&m, 3, 0x00000030, 5, 4, 0, 0);
    assert_int_equal(symbol_value(&m, BIB_SYM_LABEL, "skip"), 2);
    assert_int_equal(symbol_value(&m, BIB_SYM_LABEL, "sub"), 5);
    bib_free(&m);
    free(img.p);
}

static void test_mnemonics_and_registers_case_insensitive(void **state)
{
    (void)state;
    image lower = assemble_image(".tensor a f32\n    ldi r1, 1\n    Add R2, r1, R1\n    vk_compute relu, a, a\n    hAlT\n");
    image upper = assemble_image(".tensor a f32\n    LDI r1, 1\n    ADD r2, r1, r1\n    VK_COMPUTE RELU, a, a\n    HALT\n");
    assert_int_equal(lower.n, upper.n);
    assert_memory_equal(lower.p, upper.p, lower.n);
    bib_module m;
    decode(&lower, &m);
    assert_instr(&m, 1, 0x00020000, 2, 1, 1, 0);
    assert_instr(&m, 2, 0x564B0010, 0x00030003, 0, 0, 0);
    bib_free(&m);
    free(lower.p);
    free(upper.p);
    /* names are case-sensitive */
    expect_error(".tensor a f32\n    RELU A, a\n    HALT\n", 2, 10, "unknown tensor 'A'");
}

static void test_comments(void **state)
{
    (void)state;
    image img = assemble_image("; leading comment\n"
                               "    LDI r1, 5 ; after an instruction\n"
                               "# a whole line with '#'\n"
                               "    HALT# right after a mnemonic\n"
                               ".const s str \"a;b#c\" ; ';' and '#' inside a string are text\n");
    bib_module m;
    decode(&img, &m);
    assert_int_equal(m.n_code, 2);
    assert_int_equal(m.n_lines, 2);
    assert_int_equal(m.lines[0].line, 2);
    assert_int_equal(m.lines[1].line, 4);
    assert_int_equal(m.consts[0].data_size, 5);
    assert_memory_equal(m.data + m.consts[0].data_off, "a;b#c", 5);
    bib_free(&m);
    free(img.p);
}

static void test_multi_line_value_lists(void **state)
{
    (void)state;
    image img = assemble_image(".tensor m f32 [2, 3] = [\n"
                               "    1, 2, 3,     ; first row\n"
                               "    4, 5, 6      # second row\n"
                               "]\n"
                               ".const big i64 [\n"
                               "    2] = [ -1,\n"
                               "    9223372036854775807 ]\n"
                               "    HALT\n");
    bib_module m;
    decode(&img, &m);
    assert_int_equal(m.n_consts, 2);
    const bib_const *c = &m.consts[0];
    assert_int_equal(c->rank, 2);
    assert_int_equal(c->dims[0], 2);
    assert_int_equal(c->dims[1], 3);
    for (size_t i = 0; i < 6; i++) assert_int_equal(f32_bits_of(&m, c, i), float_bits((float)(i + 1)));
    int64_t v[2];
    memcpy(v, m.data + m.consts[1].data_off, 16);
    assert_true(v[0] == -1 && v[1] == INT64_MAX);
    /* the line table still counts the lines inside the brackets */
    assert_int_equal(m.n_lines, 1);
    assert_int_equal(m.lines[0].line, 8);
    bib_free(&m);
    free(img.p);
}

static void assert_const_shape(const bib_const *c, uint32_t kind, uint32_t dtype, uint32_t rank, uint32_t d0, uint32_t d1, uint32_t size)
{
    assert_int_equal(c->kind, kind);
    assert_int_equal(c->dtype, dtype);
    assert_int_equal(c->rank, rank);
    assert_int_equal(c->dims[0], d0);
    assert_int_equal(c->dims[1], d1);
    assert_int_equal(c->dims[2], 0);
    assert_int_equal(c->data_size, size);
    assert_int_equal(c->data_off % 8, 0);
}

/* A zero-element constant before any constant data: nothing to pad or copy (clang's UBSan saw a
 * memset on a NULL data pointer here). */
static void test_empty_const_first(void **state)
{
    (void)state;
    image img = assemble_image(".const c f32 [0] = []\n.const d i64 [2] = [1, 2]\n    HALT\n");
    bib_module m;
    decode(&img, &m);
    assert_int_equal(m.n_consts, 2);
    assert_round_trip(&img);
    bib_free(&m);
    free(img.p);
}

static void test_const_of_every_kind(void **state)
{
    (void)state;
    image img = assemble_image(".const a i64 -5\n"
                               ".const b i64 0xffffffffffffffff\n"
                               ".const c f32 -0.0\n"
                               ".const d f32 nan(0x7fc00001)\n"
                               ".const e str \"hi\\n\"\n"
                               ".const f str \"\"\n"
                               ".const g f32 [2, 2] = [1, 2, 3, 4]\n"
                               ".const h i32 [3] = [-1, 0, 2147483647]\n"
                               ".const i i64 [] = [42]\n"
                               ".const j i32 = [7, 8]\n"
                               ".const i64 9\n"
                               ".const z f32 [0, 3] = []\n"
                               "    HALT\n");
    bib_module m;
    decode(&img, &m);
    assert_int_equal(m.n_consts, 12);
    int64_t i64v;
    assert_const_shape(&m.consts[0], BIB_CONST_I64, BIB_DT_I64, 0, 0, 0, 8);
    memcpy(&i64v, m.data + m.consts[0].data_off, 8);
    assert_true(i64v == -5);
    assert_const_shape(&m.consts[1], BIB_CONST_I64, BIB_DT_I64, 0, 0, 0, 8);
    memcpy(&i64v, m.data + m.consts[1].data_off, 8);
    assert_true(i64v == -1);
    assert_const_shape(&m.consts[2], BIB_CONST_F32, BIB_DT_F32, 0, 0, 0, 4);
    assert_int_equal(f32_bits_of(&m, &m.consts[2], 0), 0x80000000);
    assert_int_equal(f32_bits_of(&m, &m.consts[3], 0), 0x7FC00001);
    assert_const_shape(&m.consts[4], BIB_CONST_STR, 0, 0, 0, 0, 3);
    assert_memory_equal(m.data + m.consts[4].data_off, "hi\n", 3);
    assert_const_shape(&m.consts[5], BIB_CONST_STR, 0, 0, 0, 0, 0);
    assert_const_shape(&m.consts[6], BIB_CONST_TENSOR, BIB_DT_F32, 2, 2, 2, 16);
    assert_const_shape(&m.consts[7], BIB_CONST_TENSOR, BIB_DT_I32, 1, 3, 0, 12);
    int32_t h[3];
    memcpy(h, m.data + m.consts[7].data_off, 12);
    assert_true(h[0] == -1 && h[1] == 0 && h[2] == INT32_MAX);
    assert_const_shape(&m.consts[8], BIB_CONST_TENSOR, BIB_DT_I64, 0, 0, 0, 8);
    assert_const_shape(&m.consts[9], BIB_CONST_TENSOR, BIB_DT_I32, 1, 2, 0, 8); /* no shape: 1-D */
    assert_const_shape(&m.consts[10], BIB_CONST_I64, BIB_DT_I64, 0, 0, 0, 8);
    assert_const_shape(&m.consts[11], BIB_CONST_TENSOR, BIB_DT_F32, 2, 0, 3, 0);
    /* every constant but the anonymous one has its name */
    static const char *const names[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
    for (uint32_t k = 0; k < 10; k++) assert_int_equal(symbol_value(&m, BIB_SYM_CONST, names[k]), k);
    isa_names by_index;
    assert_int_equal(isa_names_build(&m, &by_index), 0);
    assert_null(by_index.konst[10]);
    isa_names_free(&by_index);
    bib_free(&m);
    free(img.p);
}

static void test_string_escapes_decode(void **state)
{
    (void)state;
    image img = assemble_image(".const s str \"\\n\\t\\r\\0\\\\\\\"\\x41\\xff\\x7F.\"\n    HALT\n");
    bib_module m;
    decode(&img, &m);
    static const char want[] = "\n\t\r\0\\\"A\xff\x7f.";
    assert_int_equal(m.consts[0].data_size, sizeof want - 1);
    assert_memory_equal(m.data + m.consts[0].data_off, want, sizeof want - 1);
    bib_free(&m);
    free(img.p);
}

static void test_vk_compute_kernels(void **state)
{
    (void)state;
    image img = assemble_image(".tensor a f32 [2, 2]\n"
                               ".tensor b f32 [2, 2]\n"
                               ".tensor c f32\n"
                               ".tensor i i32 [2, 2]\n"
                               "    VK_COMPUTE MATMUL, c, a, b\n"
                               "    VK_COMPUTE RELU, c, a\n"
                               "    VK_COMPUTE TRANSPOSE, i, i\n"
                               "    VK_COMPUTE TMUL, a, b, c\n"
                               "    HALT\n");
    bib_module m;
    decode(&img, &m);
    assert_instr(&m, 0, 0x564B0010, 0x00030000, 2, 0, 1);
    assert_instr(&m, 1, 0x564B0010, 0x00030003, 2, 0, 0);
    assert_instr(&m, 2, 0x564B0010, 0x00030001, 3, 3, 0);
    assert_instr(&m, 3, 0x564B0010, 0x00030012, 0, 1, 2);
    bib_free(&m);
    free(img.p);
}

/* VK_COMPUTE ATTENTION, o, q, k, v is two instructions, VK_COMPUTE ATTENTION, o, q, k and VK_ARG v,
 * both on its line; labels after it count both. */
static void test_vk_compute_4_tensor_kernels(void **state)
{
    (void)state;
    image img = assemble_image(".tensor o f32\n"          /* t0 */
                               ".tensor q f32\n"          /* t1 */
                               ".tensor k f32\n"          /* t2 */
                               ".tensor v f32\n"          /* t3 */
                               "    JMP second\n"         /* pc 0, line 5 */
                               "first:\n"
                               "    VK_COMPUTE ATTENTION, o, q, k, v\n"        /* pc 1, 2: line 7 */
                               "second: VK_COMPUTE ATTENTION_CAUSAL, v, o, q, k\n" /* pc 3, 4: line 8 */
                               "    VK_COMPUTE ATTENTION, o, q, k\n"           /* pc 5: line 9 */
                               "    VK_ARG v\n"                                /* pc 6: line 10 */
                               "after:\n"
                               "    JNZ r1, first\n"      /* pc 7 */
                               "    CALL after, r2\n"     /* pc 8 */
                               "    HALT\n");             /* pc 9 */
    bib_module m;
    decode(&img, &m);
    assert_int_equal(m.n_code, 10);
    assert_instr(&m, 0, 0x00000001, 3, 0, 0, 0);
    assert_instr(&m, 1, 0x564B0010, 0x00030004, 0, 1, 2);
    assert_instr(&m, 2, 0x564B0011, 3, 0, 0, 0);
    assert_instr(&m, 3, 0x564B0010, 0x00030005, 3, 0, 1);
    assert_instr(&m, 4, 0x564B0011, 2, 0, 0, 0);
    assert_instr(&m, 5, 0x564B0010, 0x00030004, 0, 1, 2);
    assert_instr(&m, 6, 0x564B0011, 3, 0, 0, 0);
    assert_instr(&m, 7, 0x00000003, 1, 1, 0, 0);
    assert_instr(&m, 8, 0x00000030, 7, 2, 0, 0);
    assert_int_equal(symbol_value(&m, BIB_SYM_LABEL, "first"), 1);
    assert_int_equal(symbol_value(&m, BIB_SYM_LABEL, "second"), 3);
    assert_int_equal(symbol_value(&m, BIB_SYM_LABEL, "after"), 7);
    static const uint32_t lines[10] = {5, 7, 7, 8, 8, 9, 10, 12, 13, 14};
    for (uint32_t pc = 0; pc < 10; pc++) assert_int_equal(bib_line_of(&m, pc, NULL), lines[pc]);
    bib_free(&m);
    free(img.p);

    /* the one-line form and the two-line form give the same code */
    image one = assemble_image(".tensor o f32\n.tensor q f32\n    VK_COMPUTE ATTENTION_CAUSAL, o, q, q, o\n    HALT\n");
    image two = assemble_image(".tensor o f32\n.tensor q f32\n    VK_COMPUTE ATTENTION_CAUSAL, o, q, q\n    vk_arg o\n    HALT\n");
    bib_module a, b;
    decode(&one, &a);
    decode(&two, &b);
    assert_int_equal(a.n_code, 3);
    assert_int_equal(b.n_code, 3);
    assert_memory_equal(a.code, b.code, 3 * sizeof *a.code);
    bib_free(&a);
    bib_free(&b);
    free(one.p);
    free(two.p);
}

static void assert_line(const bib_module *m, uint32_t i, uint32_t pc, uint32_t line, const char *file)
{
    assert_true(i < m->n_lines);
    assert_int_equal(m->lines[i].pc, pc);
    assert_int_equal(m->lines[i].line, line);
    assert_string_equal(m->strings + m->lines[i].file, file);
}

static void test_line_table(void **state)
{
    (void)state;
    image img = assemble_image("; a small program\n"
                               "\n"
                               "main:\n"
                               "    LDI r0, 1\n"
                               "    LDI r1, 2\n"
                               "\n"
                               "again: ADD r0, r0, r1\n"
                               "    JLTI r0, 10, again\n"
                               "\n"
                               "done:\n"
                               "    HALT\n");
    bib_module m;
    decode(&img, &m);
    assert_int_equal(m.n_lines, 5);
    assert_line(&m, 0, 0, 4, "test.adasm");
    assert_line(&m, 1, 1, 5, "test.adasm");
    assert_line(&m, 2, 2, 7, "test.adasm");
    assert_line(&m, 3, 3, 8, "test.adasm");
    assert_line(&m, 4, 4, 11, "test.adasm");
    assert_int_equal(symbol_value(&m, BIB_SYM_LABEL, "main"), 0);
    assert_int_equal(symbol_value(&m, BIB_SYM_LABEL, "again"), 2);
    assert_int_equal(symbol_value(&m, BIB_SYM_LABEL, "done"), 4);
    assert_instr(&m, 3, 0x0000000C, 0, 10, 2, 0);
    bib_free(&m);
    free(img.p);
}

static void test_line_and_file_directives(void **state)
{
    (void)state;
    image img = assemble_image(".file \"gen.c\"\n"
                               ".line 10\n"
                               "    NOP\n"
                               "    NOP\n"
                               ".line 12\n"
                               "    NOP\n"
                               ".file \"other.c\"\n"
                               "    NOP\n"
                               ".line 0\n"
                               "    HALT\n");
    bib_module m;
    decode(&img, &m);
    /* one entry per change: the second NOP shares line 10; the file change alone makes one */
    assert_int_equal(m.n_lines, 4);
    assert_line(&m, 0, 0, 10, "gen.c");
    assert_line(&m, 1, 2, 12, "gen.c");
    assert_line(&m, 2, 3, 12, "other.c");
    assert_line(&m, 3, 4, 0, "other.c");
    bib_free(&m);
    free(img.p);

    /* .file alone keeps the real line numbers */
    img = assemble_image("    NOP\n.file \"x.c\"\n    HALT\n");
    decode(&img, &m);
    assert_int_equal(m.n_lines, 2);
    assert_line(&m, 0, 0, 1, "test.adasm");
    assert_line(&m, 1, 1, 3, "x.c");
    bib_free(&m);
    free(img.p);
}

static void test_tensor_declarations(void **state)
{
    (void)state;
    image img = assemble_image(".input  x i64 [1] = [1000]\n"
                               ".output y f32 [2, 3]\n"
                               ".tensor z f32\n"
                               ".tensor both i32 [] input output\n"
                               ".input  free f32\n"
                               "    HALT\n");
    bib_module m;
    decode(&img, &m);
    assert_int_equal(m.n_tensors, 5);
    assert_int_equal(m.tensors[0].flags, BIB_T_INPUT | BIB_T_SHAPED);
    assert_int_equal(m.tensors[0].init, 0);
    assert_int_equal(m.tensors[1].flags, BIB_T_OUTPUT | BIB_T_SHAPED);
    assert_int_equal(m.tensors[1].rank, 2);
    assert_int_equal(m.tensors[1].init, BIB_NONE);
    assert_int_equal(m.tensors[2].flags, 0);
    assert_int_equal(m.tensors[2].rank, 0);
    assert_int_equal(m.tensors[3].flags, BIB_T_INPUT | BIB_T_OUTPUT | BIB_T_SHAPED);
    assert_int_equal(m.tensors[3].dtype, BIB_DT_I32);
    assert_int_equal(m.tensors[4].flags, BIB_T_INPUT);
    bib_free(&m);
    free(img.p);
}

/* ==== 3. round trips ==== */

static void test_examples_round_trip(void **state)
{
    (void)state;
    DIR *d = opendir("examples");
    assert_non_null(d);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 7 || strcmp(e->d_name + len - 6, ".adasm")) continue;
        char path[512];
        snprintf(path, sizeof path, "examples/%s", e->d_name);
        char *src = slurp(path, NULL);
        assert_non_null(src);
        image img = assemble_named(src, path);
        free(src);
        const char *why = round_trip_problem(img.p, img.n);
        free(img.p);
        if (why) {
            closedir(d);
            fail_msg("%s: %s", path, why);
        }
        found++;
    }
    closedir(d);
    assert_true(found >= 5);
}

static void test_round_trip_anonymous_and_shared_declarations(void **state)
{
    (void)state;
    /* anonymous tensors and constants (referred to by index) */
    assert_text_round_trips(".tensor - f32 [2]\n"
                            ".tensor - i32\n"
                            ".const i64 -7\n"
                            ".const f32 0.5\n"
                            ".const str \"anon\"\n"
                            ".const i32 [2] = [1, 2]\n"
                            "    RELU t0, t0\n"
                            "    LDK r1, k0\n"
                            "    LDK r2, k1\n"
                            "    PRINTS k2\n"
                            "    TLOADK t1, k3\n"
                            "    HALT\n");
    /* a named constant as a tensor's init; two tensors sharing one anonymous constant */
    assert_text_round_trips(".const w f32 [2] = [1, 2]\n"
                            ".tensor a f32 [2] = w\n"
                            ".const f32 [2] = [3, 4]\n"
                            ".tensor b f32 [2] = k1\n"
                            ".tensor c f32 [2] = k1\n"
                            ".tensor d f32 = k1\n"
                            "    HALT\n");
    /* tensor constants declared in between tensors, and inline inits after them */
    assert_text_round_trips(".tensor a f32 [1] = [1]\n"
                            ".const f32 [1] = [2]\n"
                            ".tensor b f32 [1] = [3]\n"
                            ".const i32 [2] = [4, 5]\n"
                            ".const named i64 [1] = [6]\n"
                            ".tensor c i32 = k3\n"
                            ".tensor d i64 [1] = named\n"
                            ".tensor - f32 [2] = [7, 8]\n"
                            ".const f32 [] = [9]\n"
                            ".tensor e f32 [] = k6\n"
                            "    TLOADK a, k5\n"
                            "    HALT\n");
    /* an anonymous constant that a later tensor uses, declared before an earlier tensor's */
    assert_text_round_trips(".const f32 [1] = [1]\n"
                            ".const f32 [1] = [2]\n"
                            ".tensor a f32 [1] = k1\n"
                            ".tensor b f32 [1] = k0\n"
                            "    HALT\n");
}

/* An unshaped tensor whose anonymous init has rank 0 or 2 is written as "= [values]", which
 * reads back as a 1-D constant. */
static void test_round_trip_unshaped_tensor_with_non_vector_init(void **state)
{
    (void)state;
    assert_text_round_trips(".const f32 [2, 2] = [1, 2, 3, 4]\n"
                            ".tensor grid f32 = k0\n"
                            "    HALT\n");
    assert_text_round_trips(".const i64 [] = [5]\n"
                            ".tensor one i64 = k0\n"
                            "    HALT\n");
}

static void test_round_trip_unshaped_tensor_from_npy(void **state)
{
    temp_dir *td = *state;
    static const float six[6] = {1, 2, 3, 4, 5, 6};
    static const int64_t dims[2] = {2, 3};
    write_npy_in(td, "w.npy", ADEAD_F32, 2, dims, six, sizeof six);
    char filename[256];
    snprintf(filename, sizeof filename, "%s/prog.adasm", td->dir);
    image shaped = assemble_named(".tensor w f32 [2, 3] = \"w.npy\"\n    HALT\n", filename);
    assert_round_trip(&shaped);
    free(shaped.p);
    image unshaped = assemble_named(".tensor w f32 = \"w.npy\"\n    HALT\n", filename);
    const char *why = round_trip_problem(unshaped.p, unshaped.n);
    free(unshaped.p);
    if (why) fail_msg("%s", why);
}

static void test_round_trip_special_values(void **state)
{
    (void)state;
    assert_text_round_trips(".const f f32 [16] = [nan, nan(0x7fc00001), nan(0xffffffff), nan(0x7f800001),\n"
                            "    -0.0, 0, 1e-45, -1e-45, 0x1p-127, 1.17549435e-38, 3.40282347e38, -3.40282347e38,\n"
                            "    inf, -inf, 0.1, -16777217]\n"
                            ".const i i32 [4] = [-2147483648, 2147483647, 0, -1]\n"
                            ".const l i64 [4] = [-9223372036854775808, 9223372036854775807, 0, -1]\n"
                            ".const s str \"a\\0b\\x7f\\\"q\\\"\\\\\\n\\t\\r\\xff\\x01 ;#\"\n"
                            ".const e str \"\"\n"
                            ".const nz f32 nan(0xffc00000)\n"
                            ".const mz f32 -0.0\n"
                            ".const big i64 18446744073709551615\n"
                            ".tensor t f32 [2] = [nan(0x7fa00000), -0.0]\n"
                            "    LDF r1, nan(0x7fc00001)\n"
                            "    LDF r2, -0.0\n"
                            "    LDF r3, 1e-45\n"
                            "    LDF r4, -inf\n"
                            "    LDI r5, -9223372036854775808\n"
                            "    LDI r6, 18446744073709551615\n"
                            "    ADDI r7, r7, -2147483648\n"
                            "    HALT\n");
}

static void test_round_trip_labels(void **state)
{
    (void)state;
    /* several labels at one pc, labels at the end, jumps by label and by @N */
    assert_text_round_trips("first: second:\n"
                            "third:\n"
                            "    JZ r1, middle\n"
                            "    JMP @3\n"
                            "middle: mid2:\n"
                            "    CALL sub, r2\n"
                            "    HALT\n"
                            "sub: RET\n"
                            "end:\n"
                            "end2:\n");
}

static void test_round_trip_raw_and_flags(void **state)
{
    (void)state;
    /* words that do not verify stay .raw (the program is not verified) */
    assert_text_round_trips(".flags relaxed\n"
                            "    .raw 0x12345678, 1, 2, 3, 4\n"
                            "    .raw 0x00020000, 300, 0, 0, 0\n"
                            "    .raw 0x000000FF, 0, 0, 0, 1\n"
                            "    LDI r1, 1\n"
                            "    HALT\n");
    assert_text_round_trips(".flags relaxed\n    HALT\n");
}

/* A .raw program whose instructions verify one by one but not as a program (the last one
 * falls off the end): the disassembly prints plain instructions, which the assembler then
 * verifies and refuses. */
static void test_round_trip_raw_program_that_does_not_verify_as_a_whole(void **state)
{
    (void)state;
    assert_text_round_trips("    .raw 0x00020000, 1, 2, 3, 0\n");
}

/* The disassembler writes the pair as two lines (VK_COMPUTE with 3 tensors, then VK_ARG), which
 * keeps a label or a .line between them; every form assembles back to the same bytes. */
static void test_round_trip_vk_arg(void **state)
{
    (void)state;
    static const char decls[] = ".tensor o f32\n.tensor q f32\n.tensor k f32\n.tensor v f32\n.tensor i i32\n";
    static const char *const bodies[] = {
        "top: VK_COMPUTE ATTENTION, o, q, k, v\n    VK_COMPUTE ATTENTION_CAUSAL, v, q, k, o\n    JZ r0, top\n    HALT\n",
        "    VK_COMPUTE ATTENTION, o, q, k\nmid:\n    VK_ARG v\nend: HALT\n",     /* a label no jump uses, at the VK_ARG */
        "    VK_COMPUTE ATTENTION, o, q, k\n.line 40\n    VK_ARG v\n    HALT\n", /* a line entry at the VK_ARG */
        /* .raw: pairs that do not verify stay as they are */
        "    .raw 0x564B0010, 0x00030004, 0, 1, 2\n    HALT\n",                  /* no VK_ARG */
        "    .raw 0x564B0011, 3, 0, 0, 0\n    HALT\n",                          /* a stray VK_ARG */
        "    VK_COMPUTE ATTENTION, o, q, k\n    .raw 0x564B0011, 4, 0, 0, 0\n    HALT\n", /* VK_ARG i */
        "    VK_COMPUTE ATTENTION, o, q, k\n    .raw 0x564B0011, 99, 0, 0, 0\n    HALT\n",
        "    .raw 0x564B0010, 0x00030004, 0, 4, 2\n    VK_ARG v\n    HALT\n",   /* the VK_COMPUTE is the bad one */
        "    .raw 0x00000001, 2, 0, 0, 0\n    VK_COMPUTE ATTENTION, o, q, k, v\n    HALT\n", /* a jump onto the VK_ARG */
        "    VK_COMPUTE ATTENTION, o, q, k\n    .raw 0x564B0011, 3, 0, 0, 0\n",  /* the VK_ARG falls off the end */
        "    VK_COMPUTE RELU, o, q\n    .raw 0x564B0011, 3, 0, 0, 0\n    HALT\n",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char src[1024];
        snprintf(src, sizeof src, "%s%s", decls, bodies[i]);
        assert_text_round_trips(src);
    }
    /* the text it writes */
    char src[512];
    snprintf(src, sizeof src, "%s    VK_COMPUTE ATTENTION, o, q, k, v\n    HALT\n", decls);
    image img = assemble_image(src);
    char *text = NULL, err[256] = "";
    assert_int_equal(asm_disassemble(img.p, img.n, &text, err, sizeof err), 0);
    if (!strstr(text, "\n.line 6\n    VK_COMPUTE ATTENTION, o, q, k\n    VK_ARG v\n.line 7\n    HALT\n")) fail_msg("%s", text);
    free(text);
    free(img.p);
}

static void test_round_trip_spirv(void **state)
{
    (void)state;
    assert_text_round_trips(".spirv kern = [0x07230203, 0x00010000, 0, 5, 0, 0xFFFFFFFF,\n"
                            "    1, 2, 3]\n"
                            ".spirv other = [0x07230203, 0x00010300, 7, 1, 0]\n"
                            "    HALT\n");
}

static void test_spirv_module_from_file(void **state)
{
    temp_dir *td = *state;
    static const uint8_t words[24] = {0x03, 0x02, 0x23, 0x07, 0, 0, 1, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0xEF, 0xBE, 0xAD, 0xDE};
    char path[256], filename[256];
    snprintf(path, sizeof path, "%s/k.spv", td->dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(words, 1, sizeof words, f), sizeof words);
    fclose(f);
    snprintf(filename, sizeof filename, "%s/prog.adasm", td->dir);
    image img = assemble_named(".spirv k \"k.spv\"\n    HALT\n", filename);
    bib_module m;
    decode(&img, &m);
    assert_int_equal(m.n_spirv, 1);
    assert_string_equal(m.strings + m.spirv[0].name, "k");
    assert_int_equal(m.spirv[0].n_words, 6);
    assert_int_equal(m.spirv[0].words[0], 0x07230203);
    assert_int_equal(m.spirv[0].words[5], 0xDEADBEEF);
    bib_free(&m);
    assert_round_trip(&img);
    free(img.p);
}

/* Without a line table, the file name is the program's only string: it goes too. */
static void clear_lines(bib_module *m)
{
    assert_int_equal(m->n_symbols, 0);
    m->n_lines = 0;
    m->strings_size = 0;
}

static void drop_first_line_entry(bib_module *m)
{
    memmove(m->lines, m->lines + 1, (m->n_lines - 1) * sizeof *m->lines);
    m->n_lines--;
}

static const char three_lines[] = "    NOP\n    LDI r1, 1\n    HALT\n";

static void test_round_trip_without_line_table(void **state)
{
    (void)state;
    image img = rewritten(three_lines, clear_lines);
    bib_module m;
    decode(&img, &m);
    assert_int_equal(m.n_lines, 0);
    bib_free(&m);
    assert_round_trip(&img);
    free(img.p);
}

/* The empty file name alone: the image once had no string table for its line entry to name, and
 * its own reader refused it (found by fuzz_asm). */
static void test_empty_file_name_alone(void **state)
{
    (void)state;
    assert_text_round_trips(".file \"\"\n.line 0\n    HALT\n");
    assert_text_round_trips(".file \"\"\n    NOP\n    HALT\n");
    image img = assemble_image(".file \"\"\n    HALT\n");
    adead_program *p = NULL;
    char err[512];
    if (adead_program_load_memory(img.p, img.n, "empty.bib", &p, err, sizeof err)) fail_msg("%s", err);
    adead_program_free(p);
    free(img.p);
}

static void test_round_trip_line_table_starting_after_pc_0(void **state)
{
    (void)state;
    image img = rewritten(three_lines, drop_first_line_entry);
    bib_module m;
    decode(&img, &m);
    assert_int_equal(m.lines[0].pc, 1);
    bib_free(&m);
    assert_round_trip(&img);
    free(img.p);
    /* and a line table that mixes files, with line 0 in the middle */
    assert_text_round_trips(".file \"a.c\"\n.line 3\n    NOP\n.file \"\"\n.line 0\n    NOP\n.file \"b\\\"q.c\"\n.line 9\n    HALT\n");
}

/* Canonical files the assembler would not write itself; the disassembler's promise covers them
 * too (or the reader must refuse them). */
static void repeat_line(bib_module *m) { m->lines[1].line = m->lines[0].line; }

static void first_entry_without_line(bib_module *m)
{
    m->lines[0].line = 0;
    m->lines[0].file = 0;
}

/* docs/asm.md: a file in canonical form (what bib_write produces) disassembles to text that
 * assembles to the same bytes; a file the reader refuses is outside that promise. */
static void assert_edited_file_refused_or_round_trips(const char *src, module_edit edit)
{
    image img = rewritten(src, edit);
    bib_module m;
    char err[256];
    const char *why = NULL;
    if (!bib_read(img.p, img.n, &m, err, sizeof err)) {
        bib_free(&m);
        why = round_trip_problem(img.p, img.n);
    }
    free(img.p);
    if (why) fail_msg("%s", why);
}

/* Two entries in a row with the same file and line. */
static void test_canonical_file_with_repeated_line_entry(void **state)
{
    (void)state;
    assert_edited_file_refused_or_round_trips(three_lines, repeat_line);
}

/* A first entry (pc 0, line 0, file ""): what "no line" means anyway. */
static void test_canonical_file_with_empty_first_line_entry(void **state)
{
    (void)state;
    assert_edited_file_refused_or_round_trips(three_lines, first_entry_without_line);
}

/* Renames the symbol called "ab" (same length keeps the strings table's layout). */
static void rename_ab(bib_module *m, const char *to)
{
    for (uint32_t i = 0; i < m->n_symbols; i++) {
        char *name = m->strings + m->symbols[i].name;
        if (!strcmp(name, "ab")) memcpy(name, to, 2);
    }
}
static void rename_ab_to_t1(bib_module *m) { rename_ab(m, "t1"); }
static void rename_abc_to_str(bib_module *m)
{
    for (uint32_t i = 0; i < m->n_symbols; i++) {
        char *name = m->strings + m->symbols[i].name;
        if (!strcmp(name, "abc")) memcpy(name, "str", 3);
    }
}
static void unname_spirv(bib_module *m) { m->spirv[0].name = 0; }

/* Tensor 0 is named "t1" while the code uses the anonymous tensor 1, printed as "t1". */
static void test_canonical_file_with_name_like_an_index(void **state)
{
    (void)state;
    assert_edited_file_refused_or_round_trips(".tensor ab f32 [1]\n.tensor - f32 [1]\n    RELU t1, t1\n    HALT\n", rename_ab_to_t1);
}

/* A constant named "str": ".const str str ..." does not assemble. */
static void test_canonical_file_with_type_word_name(void **state)
{
    (void)state;
    assert_edited_file_refused_or_round_trips(".const abc str \"x\"\n    PRINTS abc\n    HALT\n", rename_abc_to_str);
}

/* A SPIR-V module whose name is the empty string (offset 0). */
static void test_canonical_file_with_unnamed_spirv_module(void **state)
{
    (void)state;
    assert_edited_file_refused_or_round_trips(".spirv m = [0x07230203, 0x00010000, 0, 1, 0]\n    HALT\n", unname_spirv);
}

static void test_disassembling_bad_files(void **state)
{
    (void)state;
    char *text = (char *)"untouched";
    char err[256] = "";
    static const char junk[] = "this is not a .bib file at all, just some text";
    assert_int_not_equal(asm_disassemble(junk, sizeof junk, &text, err, sizeof err), 0);
    assert_null(text);
    assert_true(err[0] != 0);
    assert_int_not_equal(adead_disassemble(NULL, 0, &text, err, sizeof err), 0);
    assert_int_equal(adead_disassemble(junk, sizeof junk, NULL, err, sizeof err), ADEAD_E_ARG);

    image img = assemble_image(".tensor a f32 [2] = [1, 2]\n.const s str \"x\"\nl:  PRINTS s\n    JNZ r1, l\n    HALT\n");
    /* every proper prefix is refused (the header's file size catches truncation) */
    for (size_t n = 0; n < img.n; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, img.p, n);
        text = NULL;
        int rc = asm_disassemble(copy, n, &text, err, sizeof err);
        free(copy);
        if (!rc) {
            free(text);
            free(img.p);
            fail_msg("a %zu-byte prefix disassembled", n);
        }
        assert_null(text);
    }
    /* any single corrupted byte: refused, or disassembled without a crash */
    for (size_t i = 0; i < img.n; i++) {
        uint8_t *copy = malloc(img.n);
        assert_non_null(copy);
        memcpy(copy, img.p, img.n);
        copy[i] ^= 0xA5;
        text = NULL;
        if (!asm_disassemble(copy, img.n, &text, err, sizeof err)) {
            assert_non_null(text);
            free(text);
        }
        free(copy);
    }
    free(img.p);
}

/* ==== 4. determinism and canonical tables ==== */

static void test_assembly_is_deterministic(void **state)
{
    (void)state;
    char *src = slurp("examples/mlp.adasm", NULL);
    assert_non_null(src);
    image a = assemble_named(src, "examples/mlp.adasm");
    image b = assemble_named(src, "examples/mlp.adasm");
    free(src);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.p, b.p, a.n);
    free(a.p);
    free(b.p);
}

static void test_output_ignores_spelling_and_declaration_placement(void **state)
{
    (void)state;
    /* the instructions sit on the same lines in both, so the line tables agree */
    static const char declared_first[] = ".tensor x f32 [2]\n"
                                         ".const c i64 3\n"
                                         "main:\n"
                                         "    LDK r1, c\n"
                                         "    RELU x, x\n"
                                         "    JMP done\n"
                                         "done:\n"
                                         "    HALT\n";
    static const char declared_last[] = "; the same program, declarations last\n"
                                        "main:\n"
                                        "\n"
                                        "    ldk R1, k0          # index syntax\n"
                                        "    Relu t0, t0\n"
                                        "    jmp @3\n"
                                        "done:\n"
                                        "    halt\n"
                                        ".tensor x f32 [0x2]\n"
                                        ".const c i64 0b11\n";
    image a = assemble_image(declared_first);
    image b = assemble_image(declared_last);
    int same = a.n == b.n && !memcmp(a.p, b.p, a.n);
    bib_module m;
    decode(&a, &m);
    /* strings in canonical order: tensors, constants, labels, then line-table files */
    static const char want[] = "\0x\0c\0main\0done\0test.adasm\0";
    assert_int_equal(m.strings_size, sizeof want - 1);
    assert_memory_equal(m.strings, want, sizeof want - 1);
    assert_int_equal(m.n_symbols, 4);
    assert_int_equal(m.symbols[0].kind, BIB_SYM_TENSOR);
    assert_int_equal(m.symbols[1].kind, BIB_SYM_CONST);
    assert_int_equal(m.symbols[2].kind, BIB_SYM_LABEL);
    assert_int_equal(m.symbols[3].kind, BIB_SYM_LABEL);
    bib_free(&m);
    free(a.p);
    free(b.p);
    assert_true(same);
}

static void test_strings_are_shared_and_ordered_by_symbol(void **state)
{
    (void)state;
    /* code mentions b before a; the strings still follow the slot order */
    image img = assemble_image(".file \"a\"\n"
                               "a:  TCOPY b, a\n"
                               "    LDK r1, a\n"
                               "    HALT\n"
                               ".tensor a f32\n"
                               ".tensor b f32\n"
                               ".const a i64 1\n");
    bib_module m;
    decode(&img, &m);
    static const char want[] = "\0a\0b\0";
    assert_int_equal(m.strings_size, sizeof want - 1);
    assert_memory_equal(m.strings, want, sizeof want - 1);
    assert_int_equal(m.n_symbols, 4);
    assert_int_equal(m.symbols[0].name, m.symbols[2].name); /* tensor a and constant a */
    assert_int_equal(m.symbols[0].name, m.symbols[3].name); /* and label a */
    assert_int_equal(m.lines[0].file, m.symbols[0].name);   /* and file "a" */
    bib_free(&m);
    free(img.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* 1. diagnostics */
        cmocka_unit_test(test_unknown_instruction),
        cmocka_unit_test(test_unknown_directive),
        cmocka_unit_test(test_register_out_of_range_keeps_tabs_in_caret_line),
        cmocka_unit_test(test_not_a_register),
        cmocka_unit_test(test_too_few_operands),
        cmocka_unit_test(test_too_many_operands_or_missing_comma),
        cmocka_unit_test(test_immediate_out_of_range),
        cmocka_unit_test(test_bad_number_syntax),
        cmocka_unit_test(test_f32_literal_out_of_range_and_bad_nan_bits),
        cmocka_unit_test(test_undefined_names),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_type_word_as_a_tensor_name),
        cmocka_unit_test(test_type_word_as_a_label_name),
        cmocka_unit_test(test_f32_tensor_required),
        cmocka_unit_test(test_wrong_constant_kind),
        cmocka_unit_test(test_init_count_must_match_shape),
        cmocka_unit_test(test_unterminated_string_at_statement_start),
        cmocka_unit_test(test_unterminated_string_operand),
        cmocka_unit_test(test_unknown_string_escape),
        cmocka_unit_test(test_hex_escape_needs_two_hex_digits),
        cmocka_unit_test_setup_teardown(test_npy_missing_or_wrong_dtype, make_temp_dir, remove_temp_dir),
        cmocka_unit_test(test_shape_rank_5),
        cmocka_unit_test(test_flags_unknown_word),
        cmocka_unit_test(test_input_or_output_needs_a_name),
        cmocka_unit_test(test_no_instructions),
        cmocka_unit_test(test_verifier_reason_at_the_instruction),
        cmocka_unit_test(test_label_at_end_of_code_as_jump_target),
        cmocka_unit_test(test_vk_compute_operand_errors),
        cmocka_unit_test(test_vk_compute_4_tensor_kernel_errors),
        cmocka_unit_test(test_errors_in_source_order),
        cmocka_unit_test(test_undefined_name_errors_in_source_order),
        cmocka_unit_test(test_error_at_end_of_line_keeps_next_line),
        cmocka_unit_test(test_instruction_dropped_after_a_name_operand),
        cmocka_unit_test(test_instruction_dropped_when_code_array_is_full),
        cmocka_unit_test(test_at_most_50_errors_printed),
        cmocka_unit_test(test_diagnostics_name_the_source),
        /* 2. encoding */
        cmocka_unit_test(test_ldi_64_bit_extremes),
        cmocka_unit_test(test_i32_immediates),
        cmocka_unit_test(test_ldf_bits),
        cmocka_unit_test(test_absolute_jump_targets),
        cmocka_unit_test(test_index_syntax_for_tensors_and_constants),
        cmocka_unit_test(test_forward_references),
        cmocka_unit_test(test_mnemonics_and_registers_case_insensitive),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_multi_line_value_lists),
        cmocka_unit_test(test_const_of_every_kind),
        cmocka_unit_test(test_empty_const_first),
        cmocka_unit_test(test_string_escapes_decode),
        cmocka_unit_test(test_vk_compute_kernels),
        cmocka_unit_test(test_vk_compute_4_tensor_kernels),
        cmocka_unit_test(test_line_table),
        cmocka_unit_test(test_line_and_file_directives),
        cmocka_unit_test(test_tensor_declarations),
        /* 3. round trips */
        cmocka_unit_test(test_examples_round_trip),
        cmocka_unit_test(test_round_trip_anonymous_and_shared_declarations),
        cmocka_unit_test(test_round_trip_unshaped_tensor_with_non_vector_init),
        cmocka_unit_test_setup_teardown(test_round_trip_unshaped_tensor_from_npy, make_temp_dir, remove_temp_dir),
        cmocka_unit_test(test_round_trip_special_values),
        cmocka_unit_test(test_round_trip_labels),
        cmocka_unit_test(test_round_trip_raw_and_flags),
        cmocka_unit_test(test_round_trip_raw_program_that_does_not_verify_as_a_whole),
        cmocka_unit_test(test_round_trip_vk_arg),
        cmocka_unit_test(test_round_trip_spirv),
        cmocka_unit_test_setup_teardown(test_spirv_module_from_file, make_temp_dir, remove_temp_dir),
        cmocka_unit_test(test_round_trip_without_line_table),
        cmocka_unit_test(test_round_trip_line_table_starting_after_pc_0),
        cmocka_unit_test(test_empty_file_name_alone),
        cmocka_unit_test(test_canonical_file_with_repeated_line_entry),
        cmocka_unit_test(test_canonical_file_with_empty_first_line_entry),
        cmocka_unit_test(test_canonical_file_with_name_like_an_index),
        cmocka_unit_test(test_canonical_file_with_type_word_name),
        cmocka_unit_test(test_canonical_file_with_unnamed_spirv_module),
        cmocka_unit_test(test_disassembling_bad_files),
        /* 4. determinism */
        cmocka_unit_test(test_assembly_is_deterministic),
        cmocka_unit_test(test_output_ignores_spelling_and_declaration_placement),
        cmocka_unit_test(test_strings_are_shared_and_ordered_by_symbol),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
