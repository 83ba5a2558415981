/* Tensor elements as text, shared by adead_tensor_text, PRINTT and the disassembler. */
#ifndef ADEAD_TENSOR_TEXT_H
#define ADEAD_TENSOR_TEXT_H

#include "../util/textbuf.h"

#include <stdint.h>

/* An f32 that reads back to the same bits: %.9g, inf, -inf, nan (0x7fc00000), nan(0x...). */
void tb_f32(textbuf *b, uint32_t bits);
/* Element i of data (dtype BIB_DT_* / ADEAD_*). */
void tb_element(textbuf *b, uint32_t dtype, const void *data, int64_t i);

#endif
