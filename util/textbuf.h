/* A growable NUL-terminated text buffer (disassembly, diagnostics, tensor text). A failed
 * allocation is remembered, later appends do nothing, and tb_take reports it once. */
#ifndef ADEAD_TEXTBUF_H
#define ADEAD_TEXTBUF_H

#include <stddef.h>

typedef struct {
    char *p;
    size_t n, cap;
    int failed;
} textbuf;

void tb_add(textbuf *b, const char *text, size_t n);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void tb_printf(textbuf *b, const char *fmt, ...);
/* The text (malloc'd, "" when nothing was added), or NULL if memory ran out; b is emptied. */
char *tb_take(textbuf *b);
void tb_free(textbuf *b);

#endif
