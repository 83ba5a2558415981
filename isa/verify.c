/* The verifier: every instruction is checked against the opcode table before anything runs,
 * so the interpreter never range-checks a register, tensor, constant or jump target. */
#include "verify.h"

#include "isa.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *source_prefix(const bib_module *m, uint32_t pc, char *buf, size_t len)
{
    const char *file;
    uint32_t line = bib_line_of(m, pc, &file);
    if (!line || !file || !*file) {
        buf[0] = 0;
        return buf;
    }
    snprintf(buf, len, "%s:%u: ", file, line);
    return buf;
}

typedef struct {
    const bib_module *m;
    uint32_t pc;   /* where the first problem is */
    char *reason;  /* "ADD: operand 3: register 300 is out of range (0..255)" */
    size_t len;
} verifier;

static int bad(verifier *v, uint32_t pc, int slot, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const bib_instr *ins = &v->m->code[pc];
    int op = isa_find_value(ins->op);
    char opname[32];
    if (op >= 0)
        snprintf(opname, sizeof opname, "%s", isa_ops[op].name);
    else
        snprintf(opname, sizeof opname, "0x%08X", ins->op);
    v->pc = pc;
    if (slot >= 0)
        snprintf(v->reason, v->len, "%s: operand %d: %s", opname, slot + 1, what);
    else
        snprintf(v->reason, v->len, "%s: %s", opname, what);
    return -1;
}

static int check_tensor(verifier *v, uint32_t pc, int slot, uint32_t x, int want_f32)
{
    if (x >= v->m->n_tensors)
        return bad(v, pc, slot, "tensor %u is out of range (%u tensors)", x, v->m->n_tensors);
    if (want_f32 && v->m->tensors[x].dtype != BIB_DT_F32)
        return bad(v, pc, slot, "tensor %u is %s, this operand needs f32", x, bib_dtype_name(v->m->tensors[x].dtype));
    return 0;
}

static int check_const(verifier *v, uint32_t pc, int slot, uint32_t x, char kind)
{
    if (x >= v->m->n_consts)
        return bad(v, pc, slot, "constant %u is out of range (%u constants)", x, v->m->n_consts);
    uint32_t k = v->m->consts[x].kind;
    int ok = kind == 'k' ? (k == BIB_CONST_I64 || k == BIB_CONST_F32) : kind == 's' ? k == BIB_CONST_STR : k == BIB_CONST_TENSOR;
    if (!ok) return bad(v, pc, slot, "constant %u is not a %s", x, isa_kind_text(kind));
    return 0;
}

static int check_operand(verifier *v, uint32_t pc, int slot, char kind, uint32_t x)
{
    switch (kind) {
    case '-': return x ? bad(v, pc, slot, "unused operand is %u, must be 0", x) : 0;
    case 'w':
    case 'r':
    case 'b': return x >= ISA_NREGS ? bad(v, pc, slot, "register %u is out of range (0..255)", x) : 0;
    case 't': return check_tensor(v, pc, slot, x, 0);
    case 'f': return check_tensor(v, pc, slot, x, 1);
    case 'k':
    case 's':
    case 'c': return check_const(v, pc, slot, x, kind);
    case 'l':
        if (x >= v->m->n_code) return bad(v, pc, slot, "jump target %u is outside the code (%u instructions)", x, v->m->n_code);
        if (v->m->code[x].op == isa_ops[OP_VK_ARG].value)
            return bad(v, pc, slot, "jump target %u is a VK_ARG, which only carries the 4th tensor of a VK_COMPUTE: never an instruction to start at", x);
        return 0;
    case 'n': return x > ISA_MAX_RANK ? bad(v, pc, slot, "rank %u is over %d", x, ISA_MAX_RANK) : 0;
    case 'a': return x >= ISA_MAX_RANK ? bad(v, pc, slot, "axis %u is over %d", x, ISA_MAX_RANK - 1) : 0;
    case 'o': return isa_is_vk_kernel(isa_find_value(x)) ? 0 : bad(v, pc, slot, "0x%08X is not a kernel VK_COMPUTE takes (a matrix-class opcode)", x);
    default: return 0; /* immediates: any value; 'T' is checked with its kernel */
    }
}

/* Checks that need more than one operand. */
static int check_instruction_rules(verifier *v, uint32_t pc, int op, const bib_instr *ins)
{
    const bib_module *m = v->m;
    switch (op) {
    case OP_TNEW:
    case OP_TRESHAPE:
        if (ins->a[1] + ins->a[2] > ISA_NREGS)
            return bad(v, pc, 1, "dimensions r%u..r%u run past r255", ins->a[1], ins->a[1] + ins->a[2] - 1);
        return 0;
    case OP_TRANSPOSE:
    case OP_TCOPY:
        if (m->tensors[ins->a[0]].dtype != m->tensors[ins->a[1]].dtype)
            return bad(v, pc, -1, "tensors %u (%s) and %u (%s) differ in dtype", ins->a[0],
                       bib_dtype_name(m->tensors[ins->a[0]].dtype), ins->a[1], bib_dtype_name(m->tensors[ins->a[1]].dtype));
        return 0;
    case OP_TLOADK:
        if (m->consts[ins->a[1]].dtype != m->tensors[ins->a[0]].dtype)
            return bad(v, pc, -1, "constant %u is %s but tensor %u is %s", ins->a[1], bib_dtype_name(m->consts[ins->a[1]].dtype),
                       ins->a[0], bib_dtype_name(m->tensors[ins->a[0]].dtype));
        return 0;
    case OP_VK_COMPUTE: {
        int kernel = isa_find_value(ins->a[0]);
        const char *kk = isa_ops[kernel].kinds;
        for (int s = 0; s < 3; s++) {
            char want = kk[s];
            if (want == '-' && ins->a[s + 1])
                return bad(v, pc, s + 1, "%s takes %d tensors; this operand must be 0", isa_ops[kernel].name, isa_operand_count(kernel));
            if (want != '-' && check_operand(v, pc, s + 1, want, ins->a[s + 1])) return -1;
        }
        bib_instr inner = {isa_ops[kernel].value, {ins->a[1], ins->a[2], ins->a[3], 0}};
        if (isa_operand_count(kernel) == 4) { /* the 4th tensor is the operand of the VK_ARG after it */
            if (pc + 1 >= m->n_code || m->code[pc + 1].op != isa_ops[OP_VK_ARG].value)
                return bad(v, pc, -1, "%s takes 4 tensors: the next instruction must be VK_ARG with the 4th", isa_ops[kernel].name);
            inner.a[3] = m->code[pc + 1].a[0];
            /* A 4th tensor that does not fit is the VK_ARG's error, reported at its pc; the rules
             * over all four tensors need it in range. */
            char quiet[8];
            verifier w = {m, pc + 1, quiet, sizeof quiet};
            if (check_operand(&w, pc + 1, 0, kk[3], inner.a[3])) return 0;
        }
        return check_instruction_rules(v, pc, kernel, &inner);
    }
    case OP_VK_ARG: {
        /* Only as the 4th tensor of a VK_COMPUTE of a 4-tensor kernel, which must pass it what
         * that kernel wants there (f32 for ATTENTION). The VK_COMPUTE checks the rest. */
        const bib_instr *prev = pc ? &m->code[pc - 1] : NULL;
        int kernel = prev && prev->op == isa_ops[OP_VK_COMPUTE].value ? isa_find_value(prev->a[0]) : -1;
        if (!isa_is_vk_kernel(kernel) || isa_operand_count(kernel) != 4)
            return bad(v, pc, -1, "a VK_ARG without a VK_COMPUTE of a 4-tensor kernel before it (it only carries that kernel's 4th tensor)");
        return check_operand(v, pc, 0, isa_ops[kernel].kinds[3], ins->a[0]);
    }
    default: return 0;
    }
}

int verify_instruction(const bib_module *m, uint32_t pc, char *reason, size_t len)
{
    verifier v = {m, pc, reason, len};
    const bib_instr *ins = &m->code[pc];
    int op = isa_find_value(ins->op);
    if (op < 0) {
        snprintf(reason, len, "unknown opcode 0x%08X", ins->op);
        return -1;
    }
    const char *kinds = isa_ops[op].kinds;
    for (int s = 0; s < 4; s++)
        if (check_operand(&v, pc, s, kinds[s], ins->a[s])) return -1;
    return check_instruction_rules(&v, pc, op, ins);
}

int verify_module_at(const bib_module *m, uint32_t *pc, char *reason, size_t len)
{
    for (uint32_t i = 0; i < m->n_code; i++)
        if (verify_instruction(m, i, reason, len)) {
            *pc = i;
            return -1;
        }
    int last = isa_find_value(m->code[m->n_code - 1].op);
    isa_flow f = isa_ops[last].flow;
    if (f != FLOW_GOTO && f != FLOW_RET && f != FLOW_STOP) {
        *pc = m->n_code - 1;
        snprintf(reason, len, "%s: the last instruction must be HALT, TRAP, RET or JMP: execution would run off the end of the code",
                 isa_ops[last].name);
        return -1;
    }
    return 0;
}

int verify_module(const bib_module *m, const char *name, char *err, size_t errlen)
{
    uint32_t pc;
    char reason[600], where[300];
    if (!verify_module_at(m, &pc, reason, sizeof reason)) return 0;
    source_prefix(m, pc, where, sizeof where);
    if (!where[0] && name) snprintf(where, sizeof where, "%s: ", name);
    if (err && errlen) snprintf(err, errlen, "%spc %u: %s", where, pc, reason);
    return -1;
}
