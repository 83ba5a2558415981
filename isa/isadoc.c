/* Writes docs/isa.md from the opcode table (make docs); a test fails when the file is stale. */
#include "isa.h"
#include "kernels.h"

#include <stdio.h>
#include <string.h>

static const char *flow_text(isa_flow f)
{
    switch (f) {
    case FLOW_NEXT: return "";
    case FLOW_BRANCH: return "branch";
    case FLOW_GOTO: return "jump";
    case FLOW_CALL: return "call";
    case FLOW_RET: return "return";
    case FLOW_SWITCH: return "task switch";
    default: return "stop";
    }
}

/* "ADD rd, ra, rb"-style operand list from the kinds. */
static void syntax(int op, char *buf, size_t len)
{
    /* The register written is rd; the ones read are ra, rb, rc in order (the meanings' names). */
    static const char *const read_names[] = {"ra", "rb", "rc", "r?"};
    const char *k = isa_ops[op].kinds;
    size_t n = (size_t)snprintf(buf, len, "%s", isa_ops[op].name);
    int first = 1, reads = 0;
    for (int s = 0; s < 4 && n < len; s++) {
        const char *word;
        char tmp[16];
        switch (k[s]) {
        case '-':
        case 'q': continue;
        case 'w':
        case 'r':
        case 'b':
            snprintf(tmp, sizeof tmp, "%s", k[s] == 'w' ? "rd" : read_names[reads++]);
            word = tmp;
            break;
        case 't':
        case 'f': word = op == OP_VK_ARG ? "t" : s == 0 ? "td" : s == 1 ? "ta" : s == 2 ? "tb" : "tc"; break;
        case 'T': word = "t"; break;
        case 'k': word = "const"; break;
        case 's': word = "string"; break;
        case 'c': word = "tensor-const"; break;
        case 'i': word = "imm"; break;
        case 'x': word = "f32"; break;
        case 'Q': word = "imm64"; break;
        case 'l': word = "label"; break;
        case 'o': word = "KERNEL"; break;
        case 'n': word = "rank"; break;
        case 'a': word = "axis"; break;
        default: word = "?";
        }
        n += (size_t)snprintf(buf + n, len - n, "%s%s", first ? " " : ", ", word);
        first = 0;
    }
}

/* `isadoc --vim`: editors/vim/syntax/adasm.vim, its opcode keywords from the same table. */
static int vim_syntax(void)
{
    printf("\" Vim syntax for ADead-BIB assembly (.adasm). Generated from isa/opcodes.def by `make docs`;\n"
           "\" do not edit (a test fails when it is stale). Install: copy editors/vim/ into ~/.vim/.\n"
           "if exists(\"b:current_syntax\")\n  finish\nendif\nsyntax case match\n");
    for (int op = 0; op < OP__COUNT; op++) {
        if (op % 8 == 0) printf("%ssyntax keyword adasmOpcode", op ? "\n" : "");
        printf(" %s", isa_ops[op].name);
    }
    printf("\nsyntax match adasmDirective /^\\s*\\.\\(tensor\\|input\\|output\\|const\\|flags\\|spirv\\|line\\|file\\|raw\\)\\>/\n"
           "syntax keyword adasmType f32 i32 i64 str relaxed\n"
           "syntax match adasmRegister /\\<r\\d\\+\\>/\n"
           "syntax match adasmLabel /^\\s*[A-Za-z_.][A-Za-z0-9_.]*:/\n"
           "syntax match adasmNumber /\\<-\\?\\(0x\\x\\+\\|\\d\\+\\(\\.\\d*\\)\\?\\([eE][-+]\\?\\d\\+\\)\\?\\)\\>/\n"
           "syntax keyword adasmNumber inf nan\n"
           "syntax region adasmString start=/\"/ skip=/\\\\./ end=/\"/\n"
           "syntax match adasmComment /;.*$/\n"
           "highlight default link adasmOpcode Statement\nhighlight default link adasmDirective PreProc\n"
           "highlight default link adasmType Type\nhighlight default link adasmRegister Identifier\n"
           "highlight default link adasmLabel Label\nhighlight default link adasmNumber Number\n"
           "highlight default link adasmString String\nhighlight default link adasmComment Comment\n"
           "let b:current_syntax = \"adasm\"\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--vim")) return vim_syntax();
    printf("# ADead-BIB ISA reference\n\n"
           "Generated from `isa/opcodes.def` by `make docs`; do not edit (a test fails when it is stale).\n"
           "Semantics in detail: `docs/machine.md` (registers, memory, tasks, traps) and `docs/ops.md`\n"
           "(the f32 model and the tensor ops).\n\n"
           "Every instruction is 20 bytes: `u32 opcode`, `u32 operands[4]`, little-endian. The opcode's high\n"
           "half is its class, the low half the operation; the values are those of the original ADead-BIB HEX\n"
           "tables and never change. Operands not listed are 0 (the verifier checks).\n\n"
           "Operand kinds (one letter per slot in the table):\n\n"
           "| letter | kind |\n|---|---|\n");
    for (const char *k = ISA_KIND_LETTERS; *k; k++) printf("| `%c` | %s |\n", *k, isa_kind_text(*k));
    uint32_t cls = 0xFFFFFFFFu;
    for (int op = 0; op < OP__COUNT; op++) {
        const isa_op *o = &isa_ops[op];
        if (o->value >> 16 != cls) {
            cls = o->value >> 16;
            printf("\n## %s (0x%04X)\n\n| opcode | syntax | kinds | flow | meaning |\n|---|---|---|---|---|\n", isa_class_name(o->value),
                   cls);
        }
        char syn[128];
        syntax(op, syn, sizeof syn);
        printf("| `0x%08X` | `%s` | `%s` | %s | %s |\n", o->value, syn, o->kinds, flow_text(o->flow), o->meaning);
    }
    printf("\n%d opcodes.\n", OP__COUNT);
    printf("\n## VK_COMPUTE of a 4-tensor kernel: VK_ARG\n\n"
           "`VK_COMPUTE KERNEL, t, t, t` has room for 3 tensors. A kernel of 4 (`ATTENTION`, `ATTENTION_CAUSAL`:\n"
           "out, q, k, v) takes its 4th from the `VK_ARG t` right after it, and the pair is one instruction: the op\n"
           "runs at the `VK_COMPUTE`'s pc, with the plain kernel's bits, on a device executor whatever its size;\n"
           "traps, `--trace` (one line, `VK_COMPUTE ATTENTION, o, q, k, v`) and `--profile` name that pc; the pair\n"
           "costs one unit of fuel (the `VK_ARG` none), and fuel never runs out between the two.\n\n"
           "The assembler writes the pair for `VK_COMPUTE ATTENTION, o, q, k, v` (both on that line); the two\n"
           "lines `VK_COMPUTE ATTENTION, o, q, k` and `VK_ARG v` may also be written out, as the disassembler does.\n"
           "The verifier refuses a `VK_COMPUTE` of such a kernel without a `VK_ARG` next (\"ATTENTION takes 4 tensors:\n"
           "the next instruction must be VK_ARG with the 4th\"), a `VK_ARG` anywhere else, any jump, branch, call,\n"
           "`LOOP` or `SPAWN` target on a `VK_ARG`, and a 4th tensor the kernel does not take there (`ATTENTION`'s\n"
           "are f32: the `VK_ARG`'s error); the kernel's other rules apply to all 4 tensors.\n");
    printf("\n## Kernels (include/adeadvm_kernels.def)\n\n"
           "The tensor kernels and their stable ids, which executors see (include/adeadvm_exec.h) and which never\n"
           "change when opcodes are added. Flags: elementwise (out[i] from in[i]), row-wise (a row from its row),\n"
           "reads across (writing onto an input needs scratch), any dtype (not f32 only), flops (work grows faster than\n"
           "its bytes: auto-dispatch sends it to a GPU from a smaller size, vm/dispatch.h).\n\n"
           "| id | kernel | opcode | inputs | shape rule | flags |\n|---|---|---|---|---|---|\n");
    static const char *const shapes[] = {"[M,K] x [K,N] -> [M,N]", "2-D, axes swapped", "the input's", "the input's (rank >= 1)",
                                         "[...,Sq,D], [...,Sk,D], [...,Sk,Dv] -> [...,Sq,Dv]", "numpy broadcasting"};
    for (uint32_t id = 0; id < ADEAD_K__END; id++) {
        const isa_kernel *k = isa_kernel_of_id(id);
        if (!k) continue;
        printf("| %u | %s | `%s` | %d | %s | %s%s%s%s%s |\n", id, k->name, isa_ops[k->op].name, k->inputs, shapes[k->shape],
               k->flags & K_ELEMENTWISE ? "elementwise " : "", k->flags & K_ROWWISE ? "row-wise " : "",
               k->flags & K_READS_ACROSS ? "reads across " : "", k->flags & K_ANY_DTYPE ? "any dtype " : "",
               k->flags & K_FLOPS ? "flops" : "");
    }
    return 0;
}
