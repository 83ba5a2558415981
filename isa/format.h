/* Names by index and instruction text (isa/format.c), shared by the disassembler and the VM. */
#ifndef ADEAD_FORMAT_H
#define ADEAD_FORMAT_H

#include "../util/textbuf.h"
#include "bib.h"

#include <stddef.h>
#include <stdint.h>

/* Names by index, for printing operands: NULL where a tensor, constant or pc has none. */
typedef struct {
    const char **tensor, **konst;
    const char **label_at; /* [n_code + 1]: the first label at each pc */
} isa_names;

int isa_names_build(const bib_module *m, isa_names *n);
void isa_names_free(isa_names *n);
/* One instruction as text ("ADD r1, r2, r3"); ".raw ..." when it does not verify. A VK_COMPUTE of
 * a 4-tensor kernel comes with its VK_ARG's tensor, as one line ("VK_COMPUTE ATTENTION, o, q, k, v"):
 * they run as one instruction (traces). */
void isa_format_instr(const bib_module *m, const isa_names *n, uint32_t pc, char *buf, size_t len);

/* The same into a text buffer; force_raw prints the instruction word for word (.raw). A VK_COMPUTE
 * and its VK_ARG are two instructions here (the disassembler writes two lines). */
void isa_format_instr_to(textbuf *o, const bib_module *m, const isa_names *n, uint32_t pc, int force_raw);
/* A tensor or constant operand: its name, or t<N> / k<N> where it has none. */
void isa_put_tensor_name(textbuf *o, const isa_names *n, uint32_t t);
void isa_put_const_name(textbuf *o, const isa_names *n, uint32_t k);

#endif
