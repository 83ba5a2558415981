/* The assembler and disassembler (internal interface; the public one is in adeadvm.h). */
#ifndef ADEAD_ASM_H
#define ADEAD_ASM_H

#include "../isa/bib.h"
#include "../isa/format.h"

#include <stddef.h>
#include <stdint.h>

/* Assemble .adasm text to a .bib image. On failure *diagnostics holds every message, GCC-style
 * ("file:line:col: error: ...", the source line, a caret); both outputs are malloc'd.
 * filename (may be NULL) names the source and is the base of relative .npy/.spv paths.
 * Returns 0, or the number of errors (-1 when out of memory). */
int asm_assemble(const char *src, size_t len, const char *filename, uint8_t **bib, size_t *size, char **diagnostics);

/* Disassemble a .bib image to text that assembles back to the same bytes (malloc'd). */
int asm_disassemble(const void *bib, size_t size, char **text, char *err, size_t errlen);

#endif
