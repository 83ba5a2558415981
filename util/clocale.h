/* Numbers are read, written and computed the same way whatever the host application set: the
 * "C" locale (POSIX.1-2008 per-thread locales), so "0.5" means one thing, and round-to-nearest,
 * so strtof, printf and every f32 operation round as docs/ops.md says. */
#ifndef ADEAD_CLOCALE_H
#define ADEAD_CLOCALE_H

#include <fenv.h>
#include <locale.h>

typedef struct {
    locale_t c, old;
    int rounding;
} c_numeric_scope;

static inline void c_numeric_enter(c_numeric_scope *s)
{
    s->c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    s->old = s->c ? uselocale(s->c) : (locale_t)0;
    s->rounding = fegetround();
    if (s->rounding != FE_TONEAREST) fesetround(FE_TONEAREST);
}

static inline void c_numeric_leave(c_numeric_scope *s)
{
    if (s->rounding != FE_TONEAREST) fesetround(s->rounding);
    if (!s->c) return;
    uselocale(s->old);
    freelocale(s->c);
}

#endif
