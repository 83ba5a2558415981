/* The assembler and disassembler (internal interface; the public one is in adeadvm.h). */
#ifndef ADEAD_ASM_H
#define ADEAD_ASM_H

#include "../isa/bib.h"

#include <stddef.h>
#include <stdint.h>

/* Assemble .adasm text to a .bib image. On failure *diagnostics holds every message, GCC-style
 * ("file:line:col: error: ...", the source line, a caret); both outputs are malloc'd.
 * filename (may be NULL) names the source and is the base of relative .npy/.spv paths.
 * Returns 0, or the number of errors (-1 when out of memory). */
int asm_assemble(const char *src, size_t len, const char *filename, uint8_t **bib, size_t *size, char **diagnostics);

/* Disassemble a .bib image to text that assembles back to the same bytes (malloc'd). */
int asm_disassemble(const void *bib, size_t size, char **text, char *err, size_t errlen);

/* Names by index, for printing operands: NULL where a tensor, constant or pc has none. */
typedef struct {
    const char **tensor, **konst;
    const char **label_at; /* [n_code + 1]: the first label at each pc */
} asm_names;

int asm_names_build(const bib_module *m, asm_names *n);
void asm_names_free(asm_names *n);
/* One instruction as text ("ADD r1, r2, r3"); ".raw ..." when it does not verify. */
void asm_format_instr(const bib_module *m, const asm_names *n, uint32_t pc, char *buf, size_t len);

#endif
