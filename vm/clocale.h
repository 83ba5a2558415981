/* Number text is read and written in the "C" locale whatever the host application set, so
 * that "0.5" means the same thing in every process (POSIX.1-2008 per-thread locales). */
#ifndef ADEAD_CLOCALE_H
#define ADEAD_CLOCALE_H

#include <locale.h>

typedef struct {
    locale_t c, old;
} c_locale_scope;

static inline void c_locale_enter(c_locale_scope *s)
{
    s->c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    s->old = s->c ? uselocale(s->c) : (locale_t)0;
}

static inline void c_locale_leave(c_locale_scope *s)
{
    if (!s->c) return;
    uselocale(s->old);
    freelocale(s->c);
}

#endif
