#include "textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(textbuf *b, size_t more)
{
    if (b->failed) return -1;
    if (b->n + more + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void tb_add(textbuf *b, const char *text, size_t n)
{
    if (reserve(b, n)) return;
    memcpy(b->p + b->n, text, n);
    b->n += n;
    b->p[b->n] = 0;
}

void tb_printf(textbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)k < sizeof small) {
        tb_add(b, small, (size_t)k);
        return;
    }
    if (reserve(b, (size_t)k)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

char *tb_take(textbuf *b)
{
    if (!b->failed && !b->p) tb_add(b, "", 0);
    char *p = b->failed ? NULL : b->p;
    if (b->failed) free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
    b->failed = 0;
    return p;
}

void tb_free(textbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
    b->failed = 0;
}
