/* The instruction set, as data: everything is generated from isa/opcodes.def. */
#ifndef ADEAD_ISA_H
#define ADEAD_ISA_H

#include <stddef.h>
#include <stdint.h>

/* Dense opcode numbers, in table order: what the VM dispatches on. */
enum {
#define OP(name, value, kinds, flow, meaning) OP_##name,
#include "opcodes.def"
#undef OP
    OP__COUNT
};

/* How control leaves an instruction. Everything but NEXT ends a basic block. */
typedef enum {
    FLOW_NEXT,   /* falls through to pc + 1 */
    FLOW_BRANCH, /* falls through or jumps to its label */
    FLOW_GOTO,   /* always jumps to its label */
    FLOW_CALL,   /* pushes a frame and jumps to its label */
    FLOW_RET,    /* pops a frame (or ends the task) */
    FLOW_SWITCH, /* may hand the machine to another task */
    FLOW_STOP    /* ends the program */
} isa_flow;

/* Operand kinds, one letter per operand slot:
 *   -  unused, must be 0          w  register written       r  register read
 *   b  register: callee window    t  tensor slot            f  tensor slot of dtype f32
 *   T  tensor operand of the kernel named by the 'o' operand (checked per kernel)
 *   k  scalar constant (i64/f32)  s  string constant        c  tensor constant
 *   i  signed 32-bit immediate    x  f32 immediate (bits)   l  label (code index)
 *   Q  64-bit immediate, low half; q  its high half (the next slot)
 *   o  kernel: the value of a matrix-class opcode
 *   n  rank immediate, 0..4       a  axis immediate, 0..3
 */
#define ISA_KIND_LETTERS "-wrbtfTkscixlQqona"
#define ISA_NREGS 256
#define ISA_MAX_RANK 4

typedef struct {
    const char *name;
    uint32_t value;
    const char *kinds; /* 4 letters */
    isa_flow flow;
    const char *meaning;
} isa_op;

extern const isa_op isa_ops[OP__COUNT];

/* Dense index of an opcode value, or -1 if the value is not an opcode. */
int isa_find_value(uint32_t value);
/* Dense index of a mnemonic (case-insensitive, len bytes), or -1. */
int isa_find_name(const char *name, size_t len);
/* Name of an opcode's class ("control", "memory", ...), from the value's high half. */
const char *isa_class_name(uint32_t value);
/* What an operand kind letter means, in a few words (for diagnostics and docs). */
const char *isa_kind_text(char kind);
/* True for the matrix-class opcodes (the tensor kernels executors run). */
int isa_is_kernel(int op);
/* True for the kernels VK_COMPUTE can name: every kernel (1 to 4 tensors). The tensors of one with
 * 4 do not fit in VK_COMPUTE's 3 slots: the 4th is the operand of a VK_ARG right after it. */
int isa_is_vk_kernel(int op);
/* Number of operand slots an opcode uses (a Q/q pair counts as two). */
int isa_operand_count(int op);

#endif
