/* The assembler: .adasm text -> a .bib module (docs/asm.md is the language reference).
 *
 * One pass over the tokens builds code, constants and tensors; names used before they are
 * defined are recorded as fixups and resolved at the end. Errors are collected (GCC style,
 * with the source line and a caret) and parsing resumes at the next line. The output is then
 * run through the verifier, so a file adead-asm writes always loads. */
#include "asm.h"

#include "../isa/bib.h"
#include "../isa/isa.h"
#include "../isa/verify.h"
#include "../util/clocale.h"
#include "../util/config.h"
#include "../util/fileio.h"
#include "../util/npy.h"
#include "../util/textbuf.h"
#include "lex.h"
#include "strmap.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ERRORS ASM_MAX_ERRORS /* util/config.h */

typedef struct {
    uint32_t line, col;
    const char *line_start;
} srcpos;

typedef struct {
    uint32_t pc;
    int slot;
    char kind;
    const char *name; /* points into the source text, which outlives the assembly */
    uint32_t len;
    srcpos at;
} fixup;

typedef struct {
    char *name;
    uint32_t pc;
} label_def;

typedef struct {
    uint32_t line, col, seq;
    char *text; /* "file:line:col: error: ...", the source line, the caret line */
} diagnostic;

typedef struct {
    const char *filename;
    char *dir; /* base for relative file paths, with a trailing '/', or "" */
    lexer lx;
    int depth; /* [ ] nesting: newlines inside brackets do not end a statement */

    diagnostic *diags;
    uint32_t n_diags, cap_diags;
    int n_errors, oom;
    int last_was_eol; /* the last token read ended a statement (newline or end of file) */

    bib_module m;  /* arrays grown as the text is read; strings built at the end */
    uint32_t cap_code, cap_consts, cap_tensors, cap_lines, cap_spirv, cap_data, cap_spirv_words;
    uint32_t cap_code_pos, cap_const_names, cap_tensor_names, cap_line_files, cap_spirv_names; /* parallel arrays */
    uint32_t n_spirv_words;
    srcpos *code_pos;
    char **tensor_name, **const_name, **spirv_name;
    label_def *labels;
    uint32_t n_labels, cap_labels;
    fixup *fixups;
    uint32_t n_fixups, cap_fixups;
    strmap tensors, consts, labelmap, files;
    char **file_names; /* line-table files by index; 0 is "" */
    uint32_t n_files, cap_files;
    uint32_t *line_file; /* per line entry: index into file_names */

    int explicit_lines;
    uint32_t cur_line, cur_file;
    uint32_t last_line, last_file;
    int used_raw;
} assembler;

/* ---------------- growth helpers ---------------- */

static int grow(assembler *as, void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap) return 0;
    uint64_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    if (c * elem > (uint64_t)BIB_MAX_FILE * 2) {
        as->oom = 1;
        return -1;
    }
    void *p = realloc(*arr, (size_t)c * elem);
    if (!p) {
        as->oom = 1;
        return -1;
    }
    *arr = p;
    *cap = (uint32_t)c;
    return 0;
}
#define GROW(as, arr, cap, need) grow(as, (void **)&(arr), &(cap), (need), sizeof *(arr))

static char *dup_text(assembler *as, const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) {
        as->oom = 1;
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* ---------------- diagnostics ---------------- */

/* Errors are collected with their position and printed in source order at the end: name
 * lookups are resolved after parsing, but their errors belong where the names are. */
static void error_at(assembler *as, srcpos at, const char *fmt, ...)
{
    as->n_errors++;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    textbuf t = {NULL, 0, 0, 0};
    tb_printf(&t, "%s:%u:%u: error: %s\n", as->filename, at.line, at.col, msg);
    if (at.line_start) { /* the line, and a caret under the column (tabs kept so it lines up) */
        const char *e = at.line_start;
        while (e < as->lx.end && *e != '\n') e++;
        size_t len = (size_t)(e - at.line_start);
        if (len && at.line_start[len - 1] == '\r') len--;
        tb_add(&t, " ", 1);
        tb_add(&t, at.line_start, len);
        tb_add(&t, "\n ", 2);
        for (uint32_t c = 1; c < at.col && c - 1 < len; c++) tb_add(&t, at.line_start[c - 1] == '\t' ? "\t" : " ", 1);
        tb_add(&t, "^\n", 2);
    }
    char *text = tb_take(&t);
    if (!text || GROW(as, as->diags, as->cap_diags, as->n_diags + 1)) {
        free(text);
        as->oom = 1;
        return;
    }
    diagnostic *d = &as->diags[as->n_diags];
    d->line = at.line;
    d->col = at.col;
    d->seq = as->n_diags++;
    d->text = text;
}

static int cmp_diagnostic(const void *a, const void *b)
{
    const diagnostic *x = a, *y = b;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    if (x->col != y->col) return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* All diagnostics in source order, at most MAX_ERRORS of them, as one text. */
static char *diagnostics_text(assembler *as)
{
    if (as->n_diags) qsort(as->diags, as->n_diags, sizeof *as->diags, cmp_diagnostic);
    textbuf all = {NULL, 0, 0, 0};
    for (uint32_t i = 0; i < as->n_diags && i < MAX_ERRORS; i++) tb_add(&all, as->diags[i].text, strlen(as->diags[i].text));
    if (as->n_diags > MAX_ERRORS)
        tb_printf(&all, "%s: too many errors (%u in all); the first %d are shown\n", as->filename, as->n_diags, MAX_ERRORS);
    return tb_take(&all);
}

static srcpos pos_of(const token *t)
{
    srcpos p = {t->line, t->col, t->line_start};
    return p;
}

static void error_tok(assembler *as, const token *t, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    error_at(as, pos_of(t), "%s", msg);
}

/* A short quotation of a token for messages. */
static const char *quote(const token *t, char *buf, size_t len)
{
    if (t->kind == TK_EOF) return "end of file";
    if (t->kind == TK_NEWLINE) return "end of line";
    if (t->kind == TK_BAD && t->text[0] == '"') return "an unterminated string";
    snprintf(buf, len, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->text);
    return buf;
}

/* ---------------- tokens ---------------- */

/* Next token; newlines inside brackets are skipped. */
static token next(assembler *as)
{
    token t = lex_next(&as->lx);
    while (t.kind == TK_NEWLINE && as->depth > 0) t = lex_next(&as->lx);
    if (tk_is(&t, '[')) as->depth++;
    if (tk_is(&t, ']') && as->depth > 0) as->depth--;
    as->last_was_eol = t.kind == TK_NEWLINE || t.kind == TK_EOF;
    return t;
}

static token peek(assembler *as)
{
    token t = lex_peek(&as->lx);
    while (t.kind == TK_NEWLINE && as->depth > 0) {
        lex_next(&as->lx);
        t = lex_peek(&as->lx);
    }
    return t;
}

static int at_end_of_statement(const token *t) { return t->kind == TK_NEWLINE || t->kind == TK_EOF; }

/* Skip to the start of the next statement after an error (unless the error was reported on the
 * newline that already ended this one). */
static void sync_line(assembler *as)
{
    if (as->last_was_eol) {
        as->depth = 0;
        return;
    }
    for (;;) {
        token t = peek(as);
        if (t.kind == TK_EOF) break;
        next(as);
        if (t.kind == TK_NEWLINE && as->depth == 0) break;
    }
    as->depth = 0;
}

static int expect_punct(assembler *as, char c, const char *what)
{
    token t = next(as);
    if (tk_is(&t, c)) return 0;
    char q[64];
    error_tok(as, &t, "expected '%c' %s, found %s", c, what, quote(&t, q, sizeof q));
    return -1;
}

static int expect_end(assembler *as, const char *what)
{
    token t = peek(as);
    if (at_end_of_statement(&t)) return 0;
    char q[64];
    error_tok(as, &t, "unexpected %s after %s", quote(&t, q, sizeof q), what);
    return -1;
}

/* ---------------- numbers ---------------- */

/* Integers: decimal, 0x hex, 0b binary, optional sign; range [-2^63, 2^64 - 1].
 * *neg tells a negative value apart from a large unsigned one. */
static int parse_integer(const token *t, uint64_t *mag, int *neg)
{
    if (t->kind != TK_NUMBER || t->len >= 80) return -1;
    char buf[80];
    memcpy(buf, t->text, t->len);
    buf[t->len] = 0;
    const char *p = buf;
    *neg = 0;
    if (*p == '-' || *p == '+') *neg = *p++ == '-';
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    } else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
        base = 2;
        p += 2;
    }
    if (!*p || *p == '-' || *p == '+') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, base);
    if (*end || errno == ERANGE) return -1;
    if (*neg && v > 9223372036854775808ull) return -1;
    *mag = v;
    if (*neg && !v) *neg = 0;
    return 0;
}

/* An integer within [lo, hi] (as signed), reported at t when it is not. */
static int int_in_range(assembler *as, const token *t, int64_t lo, int64_t hi, int64_t *out, const char *what)
{
    uint64_t mag;
    int neg;
    char q[64];
    if (parse_integer(t, &mag, &neg)) {
        error_tok(as, t, "expected a number (%s), found %s", what, quote(t, q, sizeof q));
        return -1;
    }
    int ok = neg ? (mag <= (uint64_t)INT64_MAX + 1 && -(int64_t)(mag - 1) - 1 >= lo) : (mag <= (uint64_t)INT64_MAX && (int64_t)mag <= hi);
    if (!ok) {
        error_tok(as, t, "%s %s is out of range (%lld..%lld)", what, quote(t, q, sizeof q), (long long)lo, (long long)hi);
        return -1;
    }
    *out = neg ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
    return 0;
}

/* f32 literals: decimal or hex-float numbers, integers, inf, -inf, nan (the canonical NaN) and
 * nan(0xXXXXXXXX) for a NaN with other bits. The first token has already been read. */
static int parse_f32(assembler *as, token t, uint32_t *bits)
{
    int neg = 0;
    char q[64];
    if (tk_is(&t, '-')) {
        neg = 1;
        t = next(as);
    }
    if (tk_word(&t, "inf")) {
        *bits = neg ? 0xFF800000u : 0x7F800000u;
        return 0;
    }
    if (tk_word(&t, "nan") && !neg) {
        token p = peek(as);
        if (!tk_is(&p, '(')) {
            *bits = 0x7FC00000u;
            return 0;
        }
        next(as);
        token v = next(as);
        uint64_t mag;
        int vneg;
        if (parse_integer(&v, &mag, &vneg) || vneg || mag > 0xFFFFFFFFu || (mag & 0x7FFFFFFFu) <= 0x7F800000u) {
            error_tok(as, &v, "nan(...) takes the 32 bits of a NaN, like nan(0x7fc00001)");
            return -1;
        }
        *bits = (uint32_t)mag;
        return expect_punct(as, ')', "after the bits of a NaN");
    }
    if (t.kind != TK_NUMBER || t.len >= 80 || (neg && (t.text[0] == '-' || t.text[0] == '+'))) {
        error_tok(as, &t, "expected an f32 value, found %s", quote(&t, q, sizeof q));
        return -1;
    }
    char buf[80];
    memcpy(buf, t.text, t.len);
    buf[t.len] = 0;
    char *end;
    errno = 0;
    float f = strtof(buf, &end);
    if (*end || (errno == ERANGE && (f == HUGE_VALF || f == -HUGE_VALF))) {
        error_tok(as, &t, "%s is not an f32 value (or is beyond its range)", quote(&t, q, sizeof q));
        return -1;
    }
    if (neg) f = -f;
    memcpy(bits, &f, 4);
    return 0;
}

/* ---------------- output: code, lines, constants, tensors ---------------- */

static uint32_t file_index(assembler *as, const char *name, size_t len)
{
    int64_t i = strmap_get(&as->files, name, len);
    if (i >= 0) return (uint32_t)i;
    if (GROW(as, as->file_names, as->cap_files, as->n_files + 1)) return 0;
    char *d = dup_text(as, name, len);
    if (!d || strmap_put(&as->files, name, len, as->n_files)) {
        free(d);
        as->oom = 1;
        return 0;
    }
    as->file_names[as->n_files] = d;
    return as->n_files++;
}

static void emit(assembler *as, const bib_instr *ins, const token *at)
{
    bib_module *m = &as->m;
    if (GROW(as, m->code, as->cap_code, m->n_code + 1) || GROW(as, as->code_pos, as->cap_code_pos, m->n_code + 1)) return;
    uint32_t line = as->explicit_lines ? as->cur_line : at->line;
    if (line != as->last_line || as->cur_file != as->last_file) {
        if (GROW(as, m->lines, as->cap_lines, m->n_lines + 1) || GROW(as, as->line_file, as->cap_line_files, m->n_lines + 1)) return;
        m->lines[m->n_lines].pc = m->n_code;
        m->lines[m->n_lines].line = line;
        as->line_file[m->n_lines] = as->cur_file;
        m->n_lines++;
        as->last_line = line;
        as->last_file = as->cur_file;
    }
    as->code_pos[m->n_code] = pos_of(at);
    m->code[m->n_code++] = *ins;
}

/* Append data for a new constant (8-byte aligned); returns its index, or -1. */
static int64_t add_const(assembler *as, uint32_t kind, uint32_t dtype, uint32_t rank, const uint32_t *dims, const void *data,
                         uint64_t size)
{
    bib_module *m = &as->m;
    uint64_t off = ((uint64_t)m->data_size + 7) & ~7ull;
    if (off + size > BIB_MAX_FILE) {
        as->oom = 1;
        return -1;
    }
    if (GROW(as, m->data, as->cap_data, (uint32_t)(off + size)) || GROW(as, m->consts, as->cap_consts, m->n_consts + 1) ||
        GROW(as, as->const_name, as->cap_const_names, m->n_consts + 1))
        return -1;
    if (off > m->data_size) memset(m->data + m->data_size, 0, (size_t)(off - m->data_size)); /* data may be NULL */
    if (size) memcpy(m->data + off, data, (size_t)size);
    m->data_size = (uint32_t)(off + size);
    bib_const *c = &m->consts[m->n_consts];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->dtype = dtype;
    c->rank = rank;
    for (uint32_t i = 0; i < rank; i++) c->dims[i] = dims[i];
    c->data_off = (uint32_t)off;
    c->data_size = (uint32_t)size;
    as->const_name[m->n_consts] = NULL;
    return m->n_consts++;
}

/* ---------------- operands ---------------- */

static int parse_register(assembler *as, const token *t, uint32_t *out)
{
    char q[64];
    if (t->kind == TK_IDENT && t->len >= 2 && (t->text[0] == 'r' || t->text[0] == 'R')) {
        uint32_t v = 0;
        size_t i = 1;
        for (; i < t->len && t->text[i] >= '0' && t->text[i] <= '9' && v < 100000; i++) v = v * 10 + (uint32_t)(t->text[i] - '0');
        if (i == t->len) {
            if (v >= ISA_NREGS) {
                error_tok(as, t, "register %s is out of range (r0..r255)", quote(t, q, sizeof q));
                return -1;
            }
            *out = v;
            return 0;
        }
    }
    error_tok(as, t, "expected a register (r0..r255), found %s", quote(t, q, sizeof q));
    return -1;
}

static int add_fixup(assembler *as, uint32_t pc, int slot, char kind, const token *t)
{
    if (GROW(as, as->fixups, as->cap_fixups, as->n_fixups + 1)) return -1;
    fixup *f = &as->fixups[as->n_fixups];
    f->pc = pc;
    f->slot = slot;
    f->kind = kind;
    f->at = pos_of(t);
    f->name = t->text;
    f->len = (uint32_t)t->len;
    as->n_fixups++;
    return 0;
}

static int parse_operand(assembler *as, uint32_t pc, int slot, char kind, token t, bib_instr *ins)
{
    char q[64];
    int64_t v;
    switch (kind) {
    case 'w':
    case 'r':
    case 'b': return parse_register(as, &t, &ins->a[slot]);
    case 't':
    case 'f':
    case 'T':
    case 'k':
    case 's':
    case 'c':
        if (t.kind != TK_IDENT) {
            error_tok(as, &t, "expected a %s name, found %s", isa_kind_text(kind), quote(&t, q, sizeof q));
            return -1;
        }
        return add_fixup(as, pc, slot, kind, &t);
    case 'l':
        if (tk_is(&t, '@')) { /* an absolute pc, for code without labels */
            token n = next(as);
            if (int_in_range(as, &n, 0, UINT32_MAX, &v, "pc")) return -1;
            ins->a[slot] = (uint32_t)v;
            return 0;
        }
        if (t.kind != TK_IDENT) {
            error_tok(as, &t, "expected a label, found %s", quote(&t, q, sizeof q));
            return -1;
        }
        return add_fixup(as, pc, slot, kind, &t);
    case 'i':
        if (int_in_range(as, &t, INT32_MIN, INT32_MAX, &v, "immediate")) return -1;
        ins->a[slot] = (uint32_t)(int32_t)v;
        return 0;
    case 'n':
    case 'a':
        if (int_in_range(as, &t, 0, kind == 'n' ? ISA_MAX_RANK : ISA_MAX_RANK - 1, &v, kind == 'n' ? "rank" : "axis")) return -1;
        ins->a[slot] = (uint32_t)v;
        return 0;
    case 'x': return parse_f32(as, t, &ins->a[slot]);
    case 'Q': {
        uint64_t mag;
        int neg;
        if (parse_integer(&t, &mag, &neg)) {
            error_tok(as, &t, "expected a 64-bit integer, found %s", quote(&t, q, sizeof q));
            return -1;
        }
        uint64_t bits = neg ? 0 - mag : mag;
        ins->a[slot] = (uint32_t)bits;
        ins->a[slot + 1] = (uint32_t)(bits >> 32);
        return 0;
    }
    case 'o': {
        int op = t.kind == TK_IDENT ? isa_find_name(t.text, t.len) : -1;
        if (!isa_is_vk_kernel(op)) {
            char names[256];
            size_t n = 0;
            names[0] = 0;
            for (int k = 0; k < OP__COUNT; k++)
                if (isa_is_vk_kernel(k) && n < sizeof names)
                    n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", n ? ", " : "", isa_ops[k].name);
            error_tok(as, &t, "expected a kernel (%s), found %s", names, quote(&t, q, sizeof q));
            return -1;
        }
        ins->a[slot] = isa_ops[op].value;
        return 0;
    }
    default: return 0;
    }
}

/* The operand kinds a line of text supplies, in order ('Q' covers two slots). */
static int text_operands(const char *kinds, char *out)
{
    int n = 0;
    for (int s = 0; s < 4; s++)
        if (kinds[s] != '-' && kinds[s] != 'q') out[n++] = kinds[s];
    return n;
}

static void parse_instruction(assembler *as, token mn)
{
    char q[64];
    int op = isa_find_name(mn.text, mn.len);
    if (op < 0) {
        error_tok(as, &mn, "unknown instruction %s", quote(&mn, q, sizeof q));
        sync_line(as);
        return;
    }
    const isa_op *info = &isa_ops[op];
    bib_instr ins = {info->value, {0, 0, 0, 0}};
    uint32_t pc = as->m.n_code, fixups_before = as->n_fixups;
    int wanted = 0;
    for (int s = 0; s < 4; s++) {
        char kind = info->kinds[s];
        if (kind == '-' || kind == 'q') continue;
        if (kind == 'T') { /* VK_COMPUTE: as many tensors as its kernel takes */
            int kernel = isa_find_value(ins.a[0]);
            if (s > isa_operand_count(kernel)) break;
            kind = isa_ops[kernel].kinds[s - 1];
        }
        token t = next(as);
        if (wanted) {
            if (!tk_is(&t, ',')) {
                char kinds[5];
                int n = text_operands(info->kinds, kinds);
                error_tok(as, &t, "%s takes %d operand%s; expected ',' before operand %d, found %s", info->name, n, n == 1 ? "" : "s",
                          wanted + 1, quote(&t, q, sizeof q));
                goto fail;
            }
            t = next(as);
        } else if (at_end_of_statement(&t)) {
            error_tok(as, &t, "%s needs its operands (%s first)", info->name, isa_kind_text(kind));
            goto fail;
        }
        if (at_end_of_statement(&t)) {
            error_tok(as, &t, "%s: operand %d (%s) is missing", info->name, wanted + 1, isa_kind_text(kind));
            goto fail;
        }
        if (parse_operand(as, pc, s, kind, t, &ins)) goto fail;
        wanted++;
    }
    /* VK_COMPUTE of a 4-tensor kernel: its 4th tensor, when the line gives it, goes into a VK_ARG
     * after it (VK_COMPUTE ATTENTION, o, q, k, v is VK_COMPUTE ATTENTION, o, q, k + VK_ARG v, on one
     * line); without it the next line must be that VK_ARG. */
    int kernel = op == OP_VK_COMPUTE ? isa_find_value(ins.a[0]) : -1;
    bib_instr arg = {isa_ops[OP_VK_ARG].value, {0, 0, 0, 0}};
    int with_arg = 0;
    if (kernel >= 0 && isa_operand_count(kernel) == 4) {
        token t = peek(as);
        if (tk_is(&t, ',')) {
            next(as);
            t = next(as);
            if (at_end_of_statement(&t)) {
                error_tok(as, &t, "%s: operand 5 (%s, the 4th tensor of %s) is missing", info->name, isa_kind_text(isa_ops[kernel].kinds[3]),
                          isa_ops[kernel].name);
                goto fail;
            }
            if (parse_operand(as, pc + 1, 0, isa_ops[kernel].kinds[3], t, &arg)) goto fail;
            with_arg = 1;
        }
    }
    if (expect_end(as, "the last operand")) goto fail;
    emit(as, &ins, &mn);
    if (with_arg) emit(as, &arg, &mn);
    return;
fail:
    as->n_fixups = fixups_before; /* the instruction is not emitted: its name lookups go too */
    sync_line(as);
}

/* ---------------- directives ---------------- */

static int parse_dtype(assembler *as, const token *t, uint32_t *dtype)
{
    char q[64];
    if (tk_word(t, "f32")) *dtype = BIB_DT_F32;
    else if (tk_word(t, "i32")) *dtype = BIB_DT_I32;
    else if (tk_word(t, "i64")) *dtype = BIB_DT_I64;
    else {
        error_tok(as, t, "expected a dtype (f32, i32, i64), found %s", quote(t, q, sizeof q));
        return -1;
    }
    return 0;
}

/* [d0, d1, ...]: rank <= 4, each dim in 0..2^32-1. The '[' has been read. */
static int parse_shape(assembler *as, uint32_t *rank, uint32_t *dims)
{
    *rank = 0;
    token t = next(as);
    if (tk_is(&t, ']')) return 0;
    for (;;) {
        int64_t v;
        if (*rank == ISA_MAX_RANK) {
            error_tok(as, &t, "a shape has at most %d dimensions", ISA_MAX_RANK);
            return -1;
        }
        if (int_in_range(as, &t, 0, UINT32_MAX, &v, "dimension")) return -1;
        dims[(*rank)++] = (uint32_t)v;
        t = next(as);
        if (tk_is(&t, ']')) return 0;
        if (!tk_is(&t, ',')) {
            char q[64];
            error_tok(as, &t, "expected ',' or ']' in a shape, found %s", quote(&t, q, sizeof q));
            return -1;
        }
        t = next(as);
    }
}

/* [v, v, ...] of dtype, into a malloc'd buffer. The '[' has been read. */
static int parse_values(assembler *as, uint32_t dtype, uint8_t **data, uint64_t *count)
{
    size_t es = bib_dtype_size(dtype), cap = 0;
    *data = NULL;
    *count = 0;
    token t = next(as);
    if (tk_is(&t, ']')) return 0;
    for (;;) {
        if ((*count + 1) * es > cap) {
            cap = cap ? 2 * cap : 64;
            uint8_t *d = realloc(*data, cap);
            if (!d) {
                as->oom = 1;
                return -1;
            }
            *data = d;
        }
        uint8_t *slot = *data + *count * es;
        if (dtype == BIB_DT_F32) {
            uint32_t bits;
            if (parse_f32(as, t, &bits)) return -1;
            memcpy(slot, &bits, 4);
        } else {
            int64_t v;
            int64_t lo = dtype == BIB_DT_I32 ? INT32_MIN : INT64_MIN, hi = dtype == BIB_DT_I32 ? INT32_MAX : INT64_MAX;
            if (int_in_range(as, &t, lo, hi, &v, dtype == BIB_DT_I32 ? "i32 value" : "i64 value")) return -1;
            if (dtype == BIB_DT_I32) {
                int32_t w = (int32_t)v;
                memcpy(slot, &w, 4);
            } else {
                memcpy(slot, &v, 8);
            }
        }
        ++*count;
        t = next(as);
        if (tk_is(&t, ']')) return 0;
        if (!tk_is(&t, ',')) {
            char q[64];
            error_tok(as, &t, "expected ',' or ']' in a list of values, found %s", quote(&t, q, sizeof q));
            return -1;
        }
        t = next(as);
    }
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Exactly two hex digits, or -1. */
static int hex_pair(const char *p)
{
    int hi = hex_digit(p[0]), lo = hex_digit(p[1]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* A string literal's contents, decoded (\n \t \\ \" \0 \xHH), malloc'd and NUL-terminated
 * (the length tells where it ends when it holds \0). */
static char *decode_string(assembler *as, const token *t, size_t *len)
{
    char *out = malloc(t->len);
    if (!out) {
        as->oom = 1;
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 1; i + 1 < t->len; i++) {
        char c = t->text[i];
        if (c != '\\') {
            out[n++] = c;
            continue;
        }
        char e = t->text[++i];
        int hex;
        switch (e) {
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'r': out[n++] = '\r'; break;
        case '0': out[n++] = 0; break;
        case '\\': out[n++] = '\\'; break;
        case '"': out[n++] = '"'; break;
        case 'x':
            if (i + 2 < t->len - 1 && (hex = hex_pair(t->text + i + 1)) >= 0) {
                out[n++] = (char)hex;
                i += 2;
                break;
            }
            /* fall through */
        default: {
            token at = *t;
            at.col += (uint32_t)i - 1;
            error_tok(as, &at, "unknown escape '\\%c' in a string (use \\n \\t \\r \\0 \\\\ \\\" \\xHH)", e);
            free(out);
            return NULL;
        }
        }
    }
    out[n] = 0; /* n <= t->len - 2: the quotes are not copied */
    *len = n;
    return out;
}

static void path_join(assembler *as, const char *rel, char *buf, size_t len)
{
    if (rel[0] == '/')
        snprintf(buf, len, "%s", rel);
    else
        snprintf(buf, len, "%s%s", as->dir, rel);
}

/* The fileio_head_check for SPIR-V modules: the first word is the magic 0x07230203. */
static int spirv_head_check(const unsigned char *head, size_t n, int at_end, uint64_t *max_total, char *why,
                            size_t whylen)
{
    static const unsigned char magic[4] = {0x03, 0x02, 0x23, 0x07};
    (void)at_end;
    (void)max_total;
    if (memcmp(head, magic, n < 4 ? n : 4) != 0) {
        snprintf(why, whylen, "not a SPIR-V module: it does not start with the magic word 0x07230203");
        return -1;
    }
    return 0;
}

/* Tensor data from a .npy file (path relative to the source file). */
static int npy_init(assembler *as, const token *t, uint32_t dtype, uint32_t *rank, uint32_t *dims, uint8_t **data, uint64_t *count)
{
    size_t plen;
    char *rel = decode_string(as, t, &plen);
    if (!rel) return -1;
    char path[4096], why[600];
    path_join(as, rel, path, sizeof path);
    free(rel);
    unsigned char *bytes;
    size_t size;
    adead_tensor_view v;
    if (npy_read_file(path, &bytes, &size, why, sizeof why)) {
        error_tok(as, t, "%s", why);
        return -1;
    }
    if (npy_parse(bytes, size, &v, why, sizeof why)) {
        error_tok(as, t, "%s: %s", path, why);
        free(bytes);
        return -1;
    }
    if ((uint32_t)v.dtype != dtype) {
        error_tok(as, t, "%s holds %s data, the declaration says %s", path, bib_dtype_name((uint32_t)v.dtype), bib_dtype_name(dtype));
        free(bytes);
        return -1;
    }
    *rank = (uint32_t)v.rank;
    for (int i = 0; i < v.rank; i++) {
        if (v.dims[i] > UINT32_MAX) {
            error_tok(as, t, "%s: dimension %d is over 2^32-1", path, i);
            free(bytes);
            return -1;
        }
        dims[i] = (uint32_t)v.dims[i];
    }
    *count = v.nbytes / bib_dtype_size(dtype);
    *data = malloc(v.nbytes ? v.nbytes : 1);
    if (!*data) {
        as->oom = 1;
        free(bytes);
        return -1;
    }
    memcpy(*data, v.data, v.nbytes);
    free(bytes);
    return 0;
}

static int check_new_name(assembler *as, strmap *map, const token *t, const char *what)
{
    if (strmap_get(map, t->text, t->len) >= 0) {
        char q[64];
        error_tok(as, t, "%s %s is already defined", what, quote(t, q, sizeof q));
        return -1;
    }
    if (bib_reserved_name(t->text, t->len)) {
        char q[64];
        error_tok(as, t, "%s is reserved (type words and r<N>, t<N>, k<N> cannot be names)", quote(t, q, sizeof q));
        return -1;
    }
    return 0;
}

/* "= [values]", "= \"file.npy\"" or "= const-name": a tensor constant of dtype. The shape, when
 * declared (has_shape), must agree. Returns the constant's index, or -1. */
static int64_t parse_tensor_init(assembler *as, uint32_t dtype, int has_shape, uint32_t rank, const uint32_t *dims)
{
    token t = next(as);
    uint8_t *data = NULL;
    uint64_t count;
    uint32_t crank = rank, cdims[4] = {0, 0, 0, 0};
    char q[64];
    for (uint32_t i = 0; i < rank; i++) cdims[i] = dims[i];
    if (tk_is(&t, '[')) {
        if (parse_values(as, dtype, &data, &count)) {
            free(data);
            return -1;
        }
        if (!has_shape) {
            crank = 1;
            if (count > UINT32_MAX) {
                error_tok(as, &t, "a list of values without a shape has at most 2^32-1 of them");
                free(data);
                return -1;
            }
            cdims[0] = (uint32_t)count;
        } else if ((int64_t)count != bib_shape_count(rank, dims)) {
            error_tok(as, &t, "%llu values for a shape of %lld elements", (unsigned long long)count, (long long)bib_shape_count(rank, dims));
            free(data);
            return -1;
        }
    } else if (t.kind == TK_STRING) {
        uint32_t frank, fdims[4] = {0, 0, 0, 0};
        if (npy_init(as, &t, dtype, &frank, fdims, &data, &count)) return -1;
        if (has_shape && (frank != rank || memcmp(fdims, cdims, sizeof fdims))) {
            error_tok(as, &t, "the .npy file's shape differs from the declared shape");
            free(data);
            return -1;
        }
        crank = frank;
        memcpy(cdims, fdims, sizeof cdims);
    } else if (t.kind == TK_IDENT) {
        int64_t k = strmap_get(&as->consts, t.text, t.len);
        if (k < 0 && t.len > 1 && t.text[0] == 'k') {
            char *end, buf[32];
            snprintf(buf, sizeof buf, "%.*s", (int)(t.len - 1 > 30 ? 30 : t.len - 1), t.text + 1);
            unsigned long v = strtoul(buf, &end, 10);
            if (!*end && buf[0] >= '0' && buf[0] <= '9' && v < as->m.n_consts) k = (int64_t)v;
        }
        if (k < 0) {
            error_tok(as, &t, "no constant named %s (constants must be declared before a tensor uses them)", quote(&t, q, sizeof q));
            return -1;
        }
        const bib_const *c = &as->m.consts[k];
        if (c->kind != BIB_CONST_TENSOR || c->dtype != dtype) {
            error_tok(as, &t, "constant %s is not a %s tensor constant", quote(&t, q, sizeof q), bib_dtype_name(dtype));
            return -1;
        }
        if (has_shape && (c->rank != rank || memcmp(c->dims, cdims, sizeof cdims))) {
            error_tok(as, &t, "constant %s has another shape than the one declared", quote(&t, q, sizeof q));
            return -1;
        }
        return k;
    } else {
        error_tok(as, &t, "expected [values], \"file.npy\" or a constant after '=', found %s", quote(&t, q, sizeof q));
        return -1;
    }
    int64_t k = add_const(as, BIB_CONST_TENSOR, dtype, crank, cdims, data, count * bib_dtype_size(dtype));
    free(data);
    return k;
}

/* .tensor NAME|- DTYPE [SHAPE] [= INIT] [input] [output]; .input/.output add their flag. */
static void parse_tensor(assembler *as, uint32_t flags)
{
    token name = next(as);
    char q[64];
    int anonymous = tk_is(&name, '-');
    if (!anonymous && name.kind != TK_IDENT) {
        error_tok(as, &name, "expected a tensor name, found %s", quote(&name, q, sizeof q));
        goto fail;
    }
    if (!anonymous && check_new_name(as, &as->tensors, &name, "tensor")) goto fail;
    bib_tensor t;
    memset(&t, 0, sizeof t);
    t.init = BIB_NONE;
    token dt = next(as);
    if (parse_dtype(as, &dt, &t.dtype)) goto fail;
    token p = peek(as);
    if (tk_is(&p, '[')) {
        next(as);
        if (parse_shape(as, &t.rank, t.dims)) goto fail;
        t.flags |= BIB_T_SHAPED;
        if (bib_shape_count(t.rank, t.dims) < 0) {
            error_tok(as, &p, "shape has more than 2^40 elements");
            goto fail;
        }
        p = peek(as);
    }
    if (tk_is(&p, '=')) {
        next(as);
        int64_t k = parse_tensor_init(as, t.dtype, (t.flags & BIB_T_SHAPED) != 0, t.rank, t.dims);
        if (k < 0) goto fail;
        t.init = (uint32_t)k;
    }
    for (p = peek(as); !at_end_of_statement(&p); p = peek(as)) {
        next(as);
        if (tk_word(&p, "input"))
            flags |= BIB_T_INPUT;
        else if (tk_word(&p, "output"))
            flags |= BIB_T_OUTPUT;
        else {
            error_tok(as, &p, "expected 'input', 'output' or the end of the line, found %s", quote(&p, q, sizeof q));
            goto fail;
        }
    }
    t.flags |= flags;
    if (anonymous && (t.flags & (BIB_T_INPUT | BIB_T_OUTPUT))) {
        error_tok(as, &name, "an input or output needs a name");
        goto fail;
    }
    bib_module *m = &as->m;
    if (GROW(as, m->tensors, as->cap_tensors, m->n_tensors + 1) || GROW(as, as->tensor_name, as->cap_tensor_names, m->n_tensors + 1)) goto fail;
    as->tensor_name[m->n_tensors] = anonymous ? NULL : dup_text(as, name.text, name.len);
    if (!anonymous && strmap_put(&as->tensors, name.text, name.len, m->n_tensors)) as->oom = 1;
    m->tensors[m->n_tensors++] = t;
    return;
fail:
    sync_line(as);
}

/* .const [NAME] i64 V | f32 V | str "..." | DTYPE [SHAPE] = INIT */
static void parse_const(assembler *as)
{
    token t = next(as);
    token name = {TK_EOF, NULL, 0, 0, 0, NULL};
    char q[64];
    int64_t k = -1;
    if (t.kind == TK_IDENT && !tk_word(&t, "f32") && !tk_word(&t, "i32") && !tk_word(&t, "i64") && !tk_word(&t, "str")) {
        if (check_new_name(as, &as->consts, &t, "constant")) goto fail;
        name = t;
        t = next(as);
    }
    if (tk_word(&t, "str")) {
        token s = next(as);
        if (s.kind != TK_STRING) {
            error_tok(as, &s, "expected a string literal, found %s", quote(&s, q, sizeof q));
            goto fail;
        }
        size_t len;
        char *text = decode_string(as, &s, &len);
        if (!text) goto fail;
        k = add_const(as, BIB_CONST_STR, 0, 0, NULL, text, len);
        free(text);
    } else {
        uint32_t dtype;
        if (parse_dtype(as, &t, &dtype)) goto fail;
        token p = peek(as);
        if (dtype != BIB_DT_I32 && !tk_is(&p, '[') && !tk_is(&p, '=')) { /* a scalar */
            token v = next(as);
            if (dtype == BIB_DT_F32) {
                uint32_t bits;
                if (parse_f32(as, v, &bits)) goto fail;
                k = add_const(as, BIB_CONST_F32, BIB_DT_F32, 0, NULL, &bits, 4);
            } else {
                uint64_t mag;
                int neg;
                if (parse_integer(&v, &mag, &neg)) {
                    error_tok(as, &v, "expected an i64 value, found %s", quote(&v, q, sizeof q));
                    goto fail;
                }
                uint64_t bits = neg ? 0 - mag : mag;
                k = add_const(as, BIB_CONST_I64, BIB_DT_I64, 0, NULL, &bits, 8);
            }
        } else {
            uint32_t rank = 0, dims[4] = {0, 0, 0, 0};
            int has_shape = tk_is(&p, '[');
            if (has_shape) {
                next(as);
                if (parse_shape(as, &rank, dims)) goto fail;
                if (bib_shape_count(rank, dims) < 0) {
                    error_tok(as, &p, "shape has more than 2^40 elements");
                    goto fail;
                }
            }
            if (expect_punct(as, '=', "and the values of a tensor constant")) goto fail;
            int64_t before = as->m.n_consts;
            k = parse_tensor_init(as, dtype, has_shape, rank, dims);
            if (k >= 0 && k < before) { /* "= other_const": a constant is not an alias */
                error_tok(as, &t, "a constant cannot be initialised from another constant");
                goto fail;
            }
        }
    }
    if (k < 0 || expect_end(as, "a constant")) goto fail;
    if (name.kind == TK_IDENT) {
        as->const_name[k] = dup_text(as, name.text, name.len);
        if (strmap_put(&as->consts, name.text, name.len, (uint32_t)k)) as->oom = 1;
    }
    return;
fail:
    sync_line(as);
}

static void add_spirv(assembler *as, const token *name, const uint32_t *words, uint32_t n)
{
    bib_module *m = &as->m;
    if (n < 5 || words[0] != 0x07230203u) {
        error_tok(as, name, "not a SPIR-V module (it must start with the magic 0x07230203 and a 5-word header)");
        return;
    }
    if (GROW(as, m->spirv, as->cap_spirv, m->n_spirv + 1) || GROW(as, as->spirv_name, as->cap_spirv_names, m->n_spirv + 1) ||
        GROW(as, m->spirv_words, as->cap_spirv_words, as->n_spirv_words + n))
        return;
    memcpy(m->spirv_words + as->n_spirv_words, words, n * sizeof *words);
    m->spirv[m->n_spirv].name = 0;
    m->spirv[m->n_spirv].n_words = n;
    m->spirv[m->n_spirv].words = NULL; /* set at the end, when the word array stops moving */
    as->spirv_name[m->n_spirv++] = dup_text(as, name->text, name->len);
    as->n_spirv_words += n;
}

/* .spirv NAME "file.spv" | .spirv NAME = [words] */
static void parse_spirv(assembler *as)
{
    token name = next(as);
    char q[64];
    if (name.kind != TK_IDENT) {
        error_tok(as, &name, "expected a module name, found %s", quote(&name, q, sizeof q));
        goto fail;
    }
    token t = next(as);
    if (t.kind == TK_STRING) {
        size_t plen;
        char *rel = decode_string(as, &t, &plen), path[4096], why[600];
        if (!rel) goto fail;
        path_join(as, rel, path, sizeof path);
        free(rel);
        unsigned char *bytes;
        size_t size;
        if (fileio_read(path, BIB_MAX_FILE, spirv_head_check, &bytes, &size, why, sizeof why)) {
            error_tok(as, &t, "%s", why);
            goto fail;
        }
        if (size % 4) {
            error_tok(as, &t, "%s: %zu bytes is not a whole number of SPIR-V words", path, size);
            free(bytes);
            goto fail;
        }
        uint32_t *words = malloc(size ? size : 1);
        if (!words) {
            free(bytes);
            as->oom = 1;
            goto fail;
        }
        for (size_t i = 0; i < size / 4; i++)
            words[i] = (uint32_t)bytes[4 * i] | (uint32_t)bytes[4 * i + 1] << 8 | (uint32_t)bytes[4 * i + 2] << 16 | (uint32_t)bytes[4 * i + 3] << 24;
        add_spirv(as, &name, words, (uint32_t)(size / 4));
        free(words);
        free(bytes);
    } else if (tk_is(&t, '=')) {
        if (expect_punct(as, '[', "to start the words of a SPIR-V module")) goto fail;
        uint8_t *data;
        uint64_t count;
        if (parse_values(as, BIB_DT_I64, &data, &count)) {
            free(data);
            goto fail;
        }
        uint32_t *words = malloc(count ? count * 4 : 1);
        int ok = words != NULL;
        for (uint64_t i = 0; ok && i < count; i++) {
            int64_t v;
            memcpy(&v, data + 8 * i, 8);
            if (v < 0 || v > UINT32_MAX) ok = 0;
            else words[i] = (uint32_t)v;
        }
        if (ok) add_spirv(as, &name, words, (uint32_t)count);
        else error_tok(as, &t, "SPIR-V words are 32-bit unsigned values");
        free(words);
        free(data);
    } else {
        error_tok(as, &t, "expected \"file.spv\" or '= [words]', found %s", quote(&t, q, sizeof q));
        goto fail;
    }
    if (expect_end(as, "a SPIR-V module")) goto fail;
    return;
fail:
    sync_line(as);
}

/* .raw OPCODE, A, B, C, D: one instruction word for word (the program is then not verified here). */
static void parse_raw(assembler *as, const token *dir)
{
    bib_instr ins;
    uint32_t *w[5] = {&ins.op, &ins.a[0], &ins.a[1], &ins.a[2], &ins.a[3]};
    for (int i = 0; i < 5; i++) {
        if (i && expect_punct(as, ',', "between the five words of .raw")) goto fail;
        token t = next(as);
        int64_t v;
        if (int_in_range(as, &t, 0, UINT32_MAX, &v, ".raw word")) goto fail;
        *w[i] = (uint32_t)v;
    }
    if (expect_end(as, ".raw")) goto fail;
    as->used_raw = 1;
    emit(as, &ins, dir);
    return;
fail:
    sync_line(as);
}

static void parse_directive(assembler *as, token dir)
{
    char q[64];
    if (tk_word(&dir, ".tensor") || (dir.kind == TK_DIRECTIVE && dir.len == 7 && !memcmp(dir.text, ".tensor", 7))) {
        parse_tensor(as, 0);
    } else if (dir.len == 6 && !memcmp(dir.text, ".input", 6)) {
        parse_tensor(as, BIB_T_INPUT);
    } else if (dir.len == 7 && !memcmp(dir.text, ".output", 7)) {
        parse_tensor(as, BIB_T_OUTPUT);
    } else if (dir.len == 6 && !memcmp(dir.text, ".const", 6)) {
        parse_const(as);
    } else if (dir.len == 6 && !memcmp(dir.text, ".spirv", 6)) {
        parse_spirv(as);
    } else if (dir.len == 4 && !memcmp(dir.text, ".raw", 4)) {
        parse_raw(as, &dir);
    } else if (dir.len == 6 && !memcmp(dir.text, ".flags", 6)) {
        for (token t = next(as); !at_end_of_statement(&t); t = next(as)) {
            if (tk_word(&t, "relaxed")) {
                as->m.flags |= BIB_FLAG_RELAXED;
            } else {
                error_tok(as, &t, "unknown flag %s (known: relaxed)", quote(&t, q, sizeof q));
                sync_line(as);
                return;
            }
        }
    } else if (dir.len == 5 && !memcmp(dir.text, ".line", 5)) {
        token t = next(as);
        int64_t v;
        if (int_in_range(as, &t, 0, UINT32_MAX, &v, "line number") || expect_end(as, ".line")) {
            sync_line(as);
            return;
        }
        as->explicit_lines = 1;
        as->cur_line = (uint32_t)v;
    } else if (dir.len == 5 && !memcmp(dir.text, ".file", 5)) {
        token t = next(as);
        size_t len;
        char *name = t.kind == TK_STRING ? decode_string(as, &t, &len) : NULL;
        if (!name) {
            if (t.kind != TK_STRING) error_tok(as, &t, "expected a file name in quotes, found %s", quote(&t, q, sizeof q));
            sync_line(as);
            return;
        }
        if (memchr(name, 0, len)) error_tok(as, &t, "a file name cannot hold a NUL byte");
        else as->cur_file = file_index(as, name, len);
        free(name);
        if (expect_end(as, ".file")) sync_line(as);
    } else {
        error_tok(as, &dir, "unknown directive %s (known: .tensor .input .output .const .spirv .flags .line .file .raw)",
                  quote(&dir, q, sizeof q));
        sync_line(as);
    }
}

static void parse_all(assembler *as)
{
    for (;;) {
        if (as->oom) return;
        token t = next(as);
        if (t.kind == TK_EOF) return;
        if (t.kind == TK_NEWLINE) continue;
        if (t.kind == TK_IDENT) {
            token p = peek(as);
            if (tk_is(&p, ':')) { /* a label, maybe followed by an instruction */
                next(as);
                if (strmap_get(&as->labelmap, t.text, t.len) >= 0) {
                    char q[64];
                    error_tok(as, &t, "label %s is already defined", quote(&t, q, sizeof q));
                    continue;
                }
                /* A reserved name is an error, but the label is still defined, so that its uses
                 * do not each add an error of their own. */
                check_new_name(as, &as->labelmap, &t, "label");
                if (GROW(as, as->labels, as->cap_labels, as->n_labels + 1)) return;
                as->labels[as->n_labels].name = dup_text(as, t.text, t.len);
                as->labels[as->n_labels].pc = as->m.n_code;
                if (strmap_put(&as->labelmap, t.text, t.len, as->n_labels++)) as->oom = 1;
                continue;
            }
            parse_instruction(as, t);
        } else if (t.kind == TK_DIRECTIVE) {
            parse_directive(as, t);
        } else {
            char q[64];
            if (t.kind == TK_BAD && t.text[0] == '"')
                error_tok(as, &t, "unterminated string");
            else
                error_tok(as, &t, "expected an instruction, a label or a directive, found %s", quote(&t, q, sizeof q));
            sync_line(as);
        }
    }
}

/* ---------------- the end: names, strings, module ---------------- */

/* "t12" / "k3": an index written directly, when no name matches. */
static int64_t index_syntax(const char *name, size_t len, char prefix, uint32_t limit)
{
    if (len < 2 || name[0] != prefix) return -1;
    uint64_t v = 0;
    for (const char *p = name + 1; p < name + len; p++) {
        if (*p < '0' || *p > '9' || v > UINT32_MAX) return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return v < limit ? (int64_t)v : -1;
}

static void resolve_fixups(assembler *as)
{
    bib_module *m = &as->m;
    for (uint32_t i = 0; i < as->n_fixups; i++) {
        fixup *f = &as->fixups[i];
        if (f->pc >= m->n_code) continue; /* out of memory: its instruction was never emitted */
        size_t len = f->len;
        int64_t v;
        const char *what;
        if (f->kind == 'l') {
            v = strmap_get(&as->labelmap, f->name, len);
            if (v >= 0) v = as->labels[v].pc;
            what = "label";
        } else if (f->kind == 't' || f->kind == 'f' || f->kind == 'T') {
            v = strmap_get(&as->tensors, f->name, len);
            if (v < 0) v = index_syntax(f->name, len, 't', m->n_tensors);
            what = "tensor";
        } else {
            v = strmap_get(&as->consts, f->name, len);
            if (v < 0) v = index_syntax(f->name, len, 'k', m->n_consts);
            what = "constant";
        }
        if (v < 0) {
            error_at(as, f->at, "unknown %s '%.*s'", what, (int)f->len, f->name);
            continue;
        }
        if (f->kind == 'l' && v >= m->n_code) {
            error_at(as, f->at, "label '%.*s' is at the end of the code: there is no instruction to jump to", (int)f->len, f->name);
            continue;
        }
        if (f->kind == 'f' && m->tensors[v].dtype != BIB_DT_F32) {
            error_at(as, f->at, "'%.*s' is an %s tensor; this operand needs f32", (int)f->len, f->name, bib_dtype_name(m->tensors[v].dtype));
            continue;
        }
        if (f->kind == 'k' || f->kind == 's' || f->kind == 'c') {
            uint32_t ck = m->consts[v].kind;
            int ok = f->kind == 'k' ? (ck == BIB_CONST_I64 || ck == BIB_CONST_F32) : f->kind == 's' ? ck == BIB_CONST_STR : ck == BIB_CONST_TENSOR;
            if (!ok) {
                error_at(as, f->at, "constant '%.*s' is not a %s", (int)f->len, f->name, isa_kind_text(f->kind));
                continue;
            }
        }
        m->code[f->pc].a[f->slot] = (uint32_t)v;
    }
}

typedef struct {
    char *bytes;
    uint32_t size, cap;
    strmap seen;
} string_table;

static uint32_t intern(assembler *as, string_table *st, const char *s)
{
    size_t len = strlen(s);
    if (!len) return 0;
    int64_t at = strmap_get(&st->seen, s, len);
    if (at >= 0) return (uint32_t)at;
    if (GROW(as, st->bytes, st->cap, st->size + (uint32_t)len + 1)) return 0;
    uint32_t off = st->size;
    memcpy(st->bytes + off, s, len + 1);
    st->size += (uint32_t)len + 1;
    if (strmap_put(&st->seen, s, len, off)) as->oom = 1;
    return off;
}

static void add_symbol(assembler *as, uint32_t *cap, string_table *st, uint32_t kind, uint32_t value, const char *name)
{
    bib_module *m = &as->m;
    if (!name || GROW(as, m->symbols, *cap, m->n_symbols + 1)) return;
    m->symbols[m->n_symbols].kind = kind;
    m->symbols[m->n_symbols].value = value;
    m->symbols[m->n_symbols].name = intern(as, st, name);
    m->n_symbols++;
}

/* Symbols in canonical order (tensors, constants, labels), then the strings they and the line
 * table name, in that order of first use. */
static void finish_tables(assembler *as)
{
    bib_module *m = &as->m;
    string_table st = {NULL, 0, 0, {NULL, 0, 0}};
    uint32_t cap_symbols = 0;
    if (GROW(as, st.bytes, st.cap, 1)) return;
    st.bytes[0] = 0;
    st.size = 1;
    for (uint32_t i = 0; i < m->n_tensors; i++) add_symbol(as, &cap_symbols, &st, BIB_SYM_TENSOR, i, as->tensor_name[i]);
    for (uint32_t i = 0; i < m->n_consts; i++) add_symbol(as, &cap_symbols, &st, BIB_SYM_CONST, i, as->const_name[i]);
    for (uint32_t i = 0; i < as->n_labels; i++) add_symbol(as, &cap_symbols, &st, BIB_SYM_LABEL, as->labels[i].pc, as->labels[i].name);
    for (uint32_t i = 0; i < m->n_lines; i++) m->lines[i].file = intern(as, &st, as->file_names[as->line_file[i]]);
    uint32_t at = 0;
    for (uint32_t i = 0; i < m->n_spirv; i++) {
        m->spirv[i].name = intern(as, &st, as->spirv_name[i] ? as->spirv_name[i] : "");
        m->spirv[i].words = m->spirv_words + at;
        at += m->spirv[i].n_words;
    }
    m->strings = st.bytes;
    /* The leading NUL is the empty name: kept when a line entry or module may name it (offset 0),
     * even when no other string is there (`.file ""` alone: the reader wants the offset inside). */
    m->strings_size = st.size > 1 || m->n_lines || m->n_spirv ? st.size : 0;
    strmap_free(&st.seen);
}

static void free_assembler(assembler *as)
{
    bib_module *m = &as->m;
    for (uint32_t i = 0; i < m->n_tensors; i++) free(as->tensor_name[i]);
    for (uint32_t i = 0; i < m->n_consts; i++) free(as->const_name[i]);
    for (uint32_t i = 0; i < m->n_spirv; i++) free(as->spirv_name[i]);
    for (uint32_t i = 0; i < as->n_labels; i++) free(as->labels[i].name);
    for (uint32_t i = 0; i < as->n_files; i++) free(as->file_names[i]);
    free(as->tensor_name);
    free(as->const_name);
    free(as->spirv_name);
    free(as->labels);
    free(as->fixups);
    free(as->file_names);
    free(as->line_file);
    free(as->code_pos);
    free(as->dir);
    for (uint32_t i = 0; i < as->n_diags; i++) free(as->diags[i].text);
    free(as->diags);
    strmap_free(&as->tensors);
    strmap_free(&as->consts);
    strmap_free(&as->labelmap);
    strmap_free(&as->files);
    bib_free(m);
}

static int is_stream_name(const char *f) { return !strcmp(f, "-") || !strcmp(f, "<stdin>") || !strcmp(f, "<memory>"); }

int asm_assemble(const char *src, size_t len, const char *filename, uint8_t **bib, size_t *size, char **diagnostics)
{
    assembler as;
    memset(&as, 0, sizeof as);
    *bib = NULL;
    *size = 0;
    *diagnostics = NULL;
    as.filename = filename ? filename : "<memory>";
    const char *slash = strrchr(as.filename, '/');
    size_t dlen = slash && !is_stream_name(as.filename) ? (size_t)(slash - as.filename) + 1 : 0;
    as.dir = dup_text(&as, as.filename, dlen);
    c_numeric_scope loc;
    c_numeric_enter(&loc);
    lex_init(&as.lx, src, len);
    file_index(&as, "", 0);                                        /* index 0: no file */
    as.cur_file = file_index(&as, as.filename, strlen(as.filename)); /* the default */

    parse_all(&as);
    resolve_fixups(&as);
    if (!as.n_errors && !as.oom && !as.m.n_code) {
        srcpos end = {as.lx.line, 1, NULL};
        error_at(&as, end, "the program has no instructions");
    }
    int rc = 0;
    if (!as.n_errors && !as.oom) {
        finish_tables(&as);
        uint32_t pc;
        char reason[700];
        if (!as.oom && !as.used_raw && verify_module_at(&as.m, &pc, reason, sizeof reason))
            error_at(&as, as.code_pos[pc], "%s", reason);
        if (!as.n_errors && !as.oom && bib_write(&as.m, bib, size)) {
            srcpos end = {as.lx.line, 1, NULL};
            error_at(&as, end, "the program is larger than the .bib format allows (1 GiB)");
        }
    }
    if (as.oom) {
        free(*bib);
        *bib = NULL;
        rc = -1;
    } else {
        rc = as.n_errors;
    }
    c_numeric_leave(&loc);
    *diagnostics = diagnostics_text(&as);
    free_assembler(&as);
    return rc;
}

int adead_assemble(const char *source, size_t len, const char *filename, void **bib, size_t *bib_size, char *err, size_t errlen)
{
    if (!bib || !bib_size || (!source && len)) {
        if (err && errlen) snprintf(err, errlen, "adead_assemble: NULL argument");
        return ADEAD_E_ARG;
    }
    uint8_t *out;
    char *diag;
    int rc = asm_assemble(source ? source : "", len, filename, &out, bib_size, &diag);
    if (err && errlen) snprintf(err, errlen, "%s", rc < 0 ? "out of memory" : diag ? diag : "");
    free(diag);
    *bib = out;
    return rc < 0 ? ADEAD_E_NOMEM : rc ? ADEAD_E_LOAD : ADEAD_OK;
}
