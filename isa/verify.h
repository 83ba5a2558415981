/* The verifier: every instruction's operands and rules, before anything runs or is printed. */
#ifndef ADEAD_VERIFY_H
#define ADEAD_VERIFY_H

#include "bib.h"

#include <stddef.h>
#include <stdint.h>

/* Verify every instruction of a structurally valid module (isa/verify.c): 0, or -1 with the first
 * bad pc and a reason ("ADD: operand 3: register 300 is out of range (0..255)"). */
int verify_module_at(const bib_module *m, uint32_t *pc, char *reason, size_t len);
/* One instruction's operands and rules, with what its neighbours owe it (a VK_COMPUTE of a 4-tensor
 * kernel and the VK_ARG after it; a jump and its target), but not the module-level rule on the last
 * instruction: 0, or -1 with a reason. */
int verify_instruction(const bib_module *m, uint32_t pc, char *reason, size_t len);
/* The same, with the reason placed at "file:line: pc N: " (or "name: pc N: ") in err. */
int verify_module(const bib_module *m, const char *name, char *err, size_t errlen);
#endif
