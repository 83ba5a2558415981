/* Names by index and one instruction as text, for the disassembler, traces and messages. */
#include "format.h"

#include "../util/tensor_text.h"
#include "../util/textbuf.h"
#include "isa.h"
#include "verify.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- names ---------------- */

int isa_names_build(const bib_module *m, isa_names *n)
{
    n->tensor = calloc(m->n_tensors + 1, sizeof *n->tensor);
    n->konst = calloc(m->n_consts + 1, sizeof *n->konst);
    n->label_at = calloc(m->n_code + 1, sizeof *n->label_at);
    if (!n->tensor || !n->konst || !n->label_at) {
        isa_names_free(n);
        return -1;
    }
    for (uint32_t i = 0; i < m->n_symbols; i++) {
        const bib_symbol *s = &m->symbols[i];
        const char *name = m->strings + s->name;
        if (s->kind == BIB_SYM_TENSOR) n->tensor[s->value] = name;
        if (s->kind == BIB_SYM_CONST) n->konst[s->value] = name;
        if (s->kind == BIB_SYM_LABEL && !n->label_at[s->value]) n->label_at[s->value] = name;
    }
    return 0;
}

void isa_names_free(isa_names *n)
{
    free((void *)n->tensor);
    free((void *)n->konst);
    free((void *)n->label_at);
    memset(n, 0, sizeof *n);
}

/* ---------------- text output ---------------- */

void isa_put_tensor_name(textbuf *o, const isa_names *n, uint32_t t)
{
    if (n->tensor[t])
        tb_printf(o, "%s", n->tensor[t]);
    else
        tb_printf(o, "t%u", t);
}

void isa_put_const_name(textbuf *o, const isa_names *n, uint32_t k)
{
    if (n->konst[k])
        tb_printf(o, "%s", n->konst[k]);
    else
        tb_printf(o, "k%u", k);
}

static void put_operand(textbuf *o, const bib_module *m, const isa_names *n, char kind, const bib_instr *ins, int s)
{
    uint32_t x = ins->a[s];
    switch (kind) {
    case 'w':
    case 'r':
    case 'b': tb_printf(o, "r%u", x); break;
    case 't':
    case 'f':
    case 'T': isa_put_tensor_name(o, n, x); break;
    case 'k':
    case 's':
    case 'c': isa_put_const_name(o, n, x); break;
    case 'i': tb_printf(o, "%" PRId32, (int32_t)x); break;
    case 'x': tb_f32(o, x); break;
    case 'Q': tb_printf(o, "%" PRId64, (int64_t)((uint64_t)x | (uint64_t)ins->a[s + 1] << 32)); break;
    case 'l':
        if (x < m->n_code && n->label_at[x])
            tb_printf(o, "%s", n->label_at[x]);
        else
            tb_printf(o, "@%u", x);
        break;
    case 'o': tb_printf(o, "%s", isa_ops[isa_find_value(x)].name); break;
    default: tb_printf(o, "%u", x); break;
    }
}

/* force_raw: the instruction verifies on its own but the module does not (a .raw in the source
 * turned off the assembler's verification, and writing it as .raw keeps it off). */
void isa_format_instr_to(textbuf *o, const bib_module *m, const isa_names *n, uint32_t pc, int force_raw)
{
    const bib_instr *ins = &m->code[pc];
    char why[256];
    if (force_raw || verify_instruction(m, pc, why, sizeof why)) {
        tb_printf(o, ".raw 0x%08" PRIX32 ", %u, %u, %u, %u", ins->op, ins->a[0], ins->a[1], ins->a[2], ins->a[3]);
        return;
    }
    int op = isa_find_value(ins->op);
    const char *kinds = isa_ops[op].kinds;
    int kernel = op == OP_VK_COMPUTE ? isa_find_value(ins->a[0]) : -1;
    tb_printf(o, "%s", isa_ops[op].name);
    int first = 1;
    for (int s = 0; s < 4; s++) {
        char kind = kinds[s];
        if (kind == 'T') {
            if (s > isa_operand_count(kernel)) break;
            kind = isa_ops[kernel].kinds[s - 1];
        }
        if (kind == '-' || kind == 'q') continue;
        tb_printf(o, first ? " " : ", ");
        first = 0;
        put_operand(o, m, n, kind, ins, s);
    }
}

void isa_format_instr(const bib_module *m, const isa_names *n, uint32_t pc, char *buf, size_t len)
{
    textbuf o = {NULL, 0, 0, 0};
    isa_format_instr_to(&o, m, n, pc, 0);
    /* A VK_COMPUTE and its VK_ARG run as one instruction: written as the assembler's one line. */
    const bib_instr *ins = &m->code[pc];
    if (ins->op == isa_ops[OP_VK_COMPUTE].value && pc + 1 < m->n_code && m->code[pc + 1].op == isa_ops[OP_VK_ARG].value &&
        !verify_instruction(m, pc, buf, len) && !verify_instruction(m, pc + 1, buf, len)) {
        tb_printf(&o, ", ");
        isa_put_tensor_name(&o, n, m->code[pc + 1].a[0]);
    }
    char *text = tb_take(&o);
    snprintf(buf, len, "%s", text ? text : "?");
    free(text);
}

