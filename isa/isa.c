#include "isa.h"

#include "kernels.h"

#include <ctype.h>
#include <pthread.h>
#include <string.h>

const isa_op isa_ops[OP__COUNT] = {
#define OP(name, value, kinds, flow, meaning) {#name, value, kinds, FLOW_##flow, meaning},
#include "opcodes.def"
#undef OP
};

int isa_find_value(uint32_t value)
{
    /* A switch lets the compiler build the search; it is thread-safe and needs no set-up. */
    switch (value) {
#define OP(name, value, kinds, flow, meaning) case value: return OP_##name;
#include "opcodes.def"
#undef OP
    default: return -1;
    }
}

/* Mnemonic lookup: FNV-1a over the upper-cased name into an open-addressed table, built once. */
#define NAME_SLOTS 512
static short name_slot[NAME_SLOTS];
static pthread_once_t name_once = PTHREAD_ONCE_INIT;

static uint32_t name_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint32_t)toupper((unsigned char)s[i])) * 16777619u;
    return h;
}

static void name_table_build(void)
{
    for (int i = 0; i < NAME_SLOTS; i++) name_slot[i] = -1;
    for (int op = 0; op < OP__COUNT; op++) {
        uint32_t h = name_hash(isa_ops[op].name, strlen(isa_ops[op].name)) % NAME_SLOTS;
        while (name_slot[h] >= 0) h = (h + 1) % NAME_SLOTS;
        name_slot[h] = (short)op;
    }
}

int isa_find_name(const char *name, size_t len)
{
    pthread_once(&name_once, name_table_build);
    uint32_t h = name_hash(name, len) % NAME_SLOTS;
    for (;;) {
        int op = name_slot[h];
        if (op < 0) return -1;
        const char *cand = isa_ops[op].name;
        if (strlen(cand) == len) {
            size_t i = 0;
            while (i < len && toupper((unsigned char)name[i]) == cand[i]) i++;
            if (i == len) return op;
        }
        h = (h + 1) % NAME_SLOTS;
    }
}

const char *isa_class_name(uint32_t value)
{
    switch (value >> 16) {
    case 0x0000: return "control";
    case 0x0001: return "memory";
    case 0x0002: return "arithmetic";
    case 0x0003: return "matrix";
    case 0xC0DA: return "CUDA/GPU";
    case 0x564B: return "Vulkan";
    default: return "unknown";
    }
}

const char *isa_kind_text(char kind)
{
    switch (kind) {
    case '-': return "unused (0)";
    case 'w': return "register (written)";
    case 'r': return "register";
    case 'b': return "register (callee window base)";
    case 't': return "tensor";
    case 'f': return "f32 tensor";
    case 'T': return "tensor (as the kernel needs)";
    case 'k': return "scalar constant";
    case 's': return "string constant";
    case 'c': return "tensor constant";
    case 'i': return "signed 32-bit immediate";
    case 'x': return "f32 immediate";
    case 'Q': return "64-bit immediate";
    case 'q': return "64-bit immediate (high half)";
    case 'l': return "label";
    case 'o': return "kernel (matrix-class opcode)";
    case 'n': return "rank 0..4";
    case 'a': return "axis 0..3";
    default: return "?";
    }
}

int isa_is_kernel(int op) { return isa_kernel_of_op(op) != NULL; }

int isa_is_vk_kernel(int op) { return isa_is_kernel(op) && isa_operand_count(op) <= 4; }

int isa_operand_count(int op)
{
    int n = 0;
    for (int i = 0; i < 4; i++)
        if (isa_ops[op].kinds[i] != '-') n = i + 1;
    return n;
}
