/* The disassembler: a .bib module back to .adasm text that assembles to the same bytes.
 *
 * What makes that hold: declarations come out in an order that gives every constant and tensor
 * its old index; names, labels and the line table (.file/.line) are reproduced; f32 values are
 * printed so that they parse back to the same bits (NaN payloads as nan(0x...)); and an
 * instruction that does not verify is printed word for word as .raw. */
#include "../include/adeadvm.h"
#include "../isa/format.h"
#include "../isa/verify.h"
#include "../util/clocale.h"
#include "../util/tensor_text.h"
#include "asm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- declarations ---------------- */

static void put_values(textbuf *o, const bib_module *m, const bib_const *c)
{
    size_t es = bib_dtype_size(c->dtype), count = c->data_size / es;
    const uint8_t *d = m->data + c->data_off;
    tb_printf(o, "[");
    for (size_t i = 0; i < count; i++) {
        if (i) tb_printf(o, i % 8 ? ", " : ",\n    ");
        tb_element(o, c->dtype, d, (int64_t)i);
    }
    tb_printf(o, "]");
}

static void put_shape(textbuf *o, uint32_t rank, const uint32_t *dims)
{
    tb_printf(o, " [");
    for (uint32_t i = 0; i < rank; i++) tb_printf(o, i ? ", %u" : "%u", dims[i]);
    tb_printf(o, "]");
}

static void put_const(textbuf *o, const bib_module *m, const isa_names *n, uint32_t k)
{
    const bib_const *c = &m->consts[k];
    tb_printf(o, ".const ");
    if (n->konst[k]) tb_printf(o, "%s ", n->konst[k]);
    switch (c->kind) {
    case BIB_CONST_I64: {
        int64_t v;
        memcpy(&v, m->data + c->data_off, 8);
        tb_printf(o, "i64 %" PRId64 "\n", v);
        break;
    }
    case BIB_CONST_F32: {
        uint32_t bits;
        memcpy(&bits, m->data + c->data_off, 4);
        tb_printf(o, "f32 ");
        tb_f32(o, bits);
        tb_printf(o, "\n");
        break;
    }
    case BIB_CONST_STR: {
        tb_printf(o, "str \"");
        for (uint32_t i = 0; i < c->data_size; i++) {
            unsigned char ch = m->data[c->data_off + i];
            if (ch == '\n') tb_printf(o, "\\n");
            else if (ch == '\t') tb_printf(o, "\\t");
            else if (ch == '\r') tb_printf(o, "\\r");
            else if (ch == '"' || ch == '\\') tb_printf(o, "\\%c", ch);
            else if (ch < 32 || ch >= 127) tb_printf(o, "\\x%02x", ch);
            else tb_printf(o, "%c", ch);
        }
        tb_printf(o, "\"\n");
        break;
    }
    default:
        tb_printf(o, "%s", bib_dtype_name(c->dtype));
        put_shape(o, c->rank, c->dims);
        tb_printf(o, " = ");
        put_values(o, m, c);
        tb_printf(o, "\n");
    }
}

/* A tensor constant that only this tensor uses and that has no name can be written inline, when
 * the text gives it back its shape: the tensor declares it, or the list is read as 1-D. */
static int inline_init(const bib_module *m, const isa_names *n, const uint32_t *users, uint32_t t)
{
    uint32_t k = m->tensors[t].init;
    if (k == BIB_NONE || n->konst[k] || users[k] != 1) return 0;
    return (m->tensors[t].flags & BIB_T_SHAPED) || m->consts[k].rank == 1;
}

static void put_tensor(textbuf *o, const bib_module *m, const isa_names *n, uint32_t t, int inline_data)
{
    const bib_tensor *bt = &m->tensors[t];
    uint32_t io = bt->flags & (BIB_T_INPUT | BIB_T_OUTPUT);
    tb_printf(o, io == BIB_T_INPUT ? ".input " : io == BIB_T_OUTPUT ? ".output " : ".tensor ");
    tb_printf(o, "%s %s", n->tensor[t] ? n->tensor[t] : "-", bib_dtype_name(bt->dtype));
    if (bt->flags & BIB_T_SHAPED) put_shape(o, bt->rank, bt->dims);
    if (bt->init != BIB_NONE) {
        tb_printf(o, " = ");
        if (inline_data)
            put_values(o, m, &m->consts[bt->init]);
        else
            isa_put_const_name(o, n, bt->init);
    }
    if (io == (BIB_T_INPUT | BIB_T_OUTPUT)) tb_printf(o, " input output");
    tb_printf(o, "\n");
}

/* Tensors in slot order, constants in index order, merged so that the assembler numbers them
 * as they were: a constant written inline with its tensor is created at that point. */
static int put_declarations(textbuf *o, const bib_module *m, const isa_names *n)
{
    uint32_t *users = calloc(m->n_consts + 1, sizeof *users);
    if (!users) return -1;
    for (uint32_t t = 0; t < m->n_tensors; t++)
        if (m->tensors[t].init != BIB_NONE) users[m->tensors[t].init]++;
    uint32_t next_const = 0;
    for (uint32_t t = 0; t < m->n_tensors; t++) {
        uint32_t k = m->tensors[t].init;
        int inl = inline_init(m, n, users, t) && k >= next_const;
        uint32_t upto = k == BIB_NONE ? 0 : inl ? k : k + 1; /* constants that must exist first */
        for (; next_const < upto; next_const++) put_const(o, m, n, next_const);
        put_tensor(o, m, n, t, inl);
        if (inl) next_const = k + 1;
    }
    for (; next_const < m->n_consts; next_const++) put_const(o, m, n, next_const);
    free(users);
    return 0;
}

static void put_spirv(textbuf *o, const bib_module *m)
{
    for (uint32_t i = 0; i < m->n_spirv; i++) {
        tb_printf(o, ".spirv %s = [", m->strings + m->spirv[i].name);
        for (uint32_t w = 0; w < m->spirv[i].n_words; w++)
            tb_printf(o, w ? (w % 8 ? ", 0x%08" PRIX32 : ",\n    0x%08" PRIX32) : "0x%08" PRIX32, m->spirv[i].words[w]);
        tb_printf(o, "]\n");
    }
}

static void put_string_literal(textbuf *o, const char *s)
{
    tb_printf(o, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') tb_printf(o, "\\%c", *s);
        else if ((unsigned char)*s < 32) tb_printf(o, "\\x%02x", (unsigned char)*s);
        else tb_printf(o, "%c", *s);
    }
    tb_printf(o, "\"");
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int put_code(textbuf *o, const bib_module *m, const isa_names *n)
{
    /* Labels by (pc, symbol order), packed in one integer to sort. */
    uint64_t *labels = malloc(sizeof *labels * (m->n_symbols + 1));
    if (!labels) return -1;
    uint32_t nl = 0;
    for (uint32_t i = 0; i < m->n_symbols; i++)
        if (m->symbols[i].kind == BIB_SYM_LABEL) labels[nl++] = (uint64_t)m->symbols[i].value << 32 | i;
    qsort(labels, nl, sizeof *labels, cmp_u64);

    /* A module that fails verification as a whole came from text with .raw in it. */
    uint32_t bad_pc;
    char why[600];
    int64_t raw_pc = verify_module_at(m, &bad_pc, why, sizeof why) ? (int64_t)bad_pc : -1;

    /* The line table: instructions before its first entry have none (file "", line 0). */
    if (!m->n_lines || m->lines[0].pc > 0) tb_printf(o, ".file \"\"\n.line 0\n");
    uint32_t li = 0, cur_file = 0, l = 0;
    for (uint32_t pc = 0; pc <= m->n_code; pc++) {
        for (; l < nl && labels[l] >> 32 == pc; l++) tb_printf(o, "%s:\n", m->strings + m->symbols[(uint32_t)labels[l]].name);
        if (pc == m->n_code) break;
        if (li < m->n_lines && m->lines[li].pc == pc) {
            if (li == 0 || m->lines[li].file != cur_file) {
                cur_file = m->lines[li].file;
                tb_printf(o, ".file ");
                put_string_literal(o, m->strings + cur_file);
                tb_printf(o, "\n");
            }
            tb_printf(o, ".line %u\n", m->lines[li].line);
            li++;
        }
        tb_printf(o, "    ");
        isa_format_instr_to(o, m, n, pc, (int64_t)pc == raw_pc);
        tb_printf(o, "\n");
    }
    free(labels);
    return 0;
}

int asm_disassemble(const void *bib, size_t size, char **text, char *err, size_t errlen)
{
    bib_module m;
    *text = NULL;
    if (bib_read(bib, size, &m, err, errlen)) return ADEAD_E_LOAD;
    isa_names n;
    if (isa_names_build(&m, &n)) {
        bib_free(&m);
        return ADEAD_E_NOMEM;
    }
    c_numeric_scope loc;
    c_numeric_enter(&loc);
    textbuf o = {NULL, 0, 0, 0};
    tb_printf(&o, "; adead-asm %s disassembly (.bib %u.%u)\n", ADEAD_VERSION_STRING, m.ver_major, m.ver_minor);
    if (m.flags & BIB_FLAG_RELAXED) tb_printf(&o, ".flags relaxed\n");
    int rc = put_declarations(&o, &m, &n);
    put_spirv(&o, &m);
    if (!rc) rc = put_code(&o, &m, &n);
    c_numeric_leave(&loc);
    isa_names_free(&n);
    bib_free(&m);
    *text = tb_take(&o);
    if (rc || !*text) {
        free(*text);
        *text = NULL;
        return ADEAD_E_NOMEM;
    }
    return ADEAD_OK;
}

int adead_disassemble(const void *bib, size_t size, char **text, char *err, size_t errlen)
{
    if (!text || (!bib && size)) return ADEAD_E_ARG;
    return asm_disassemble(bib, size, text, err, errlen);
}
