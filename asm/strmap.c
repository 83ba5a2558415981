#include "strmap.h"

#include <stdlib.h>
#include <string.h>

static size_t hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return (size_t)h;
}

void strmap_free(strmap *m)
{
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

static size_t slot_of(const strmap *m, const char *key, size_t len)
{
    size_t i = hash(key, len) & (m->cap - 1);
    while (m->keys[i] && !(strlen(m->keys[i]) == len && !memcmp(m->keys[i], key, len))) i = (i + 1) & (m->cap - 1);
    return i;
}

int64_t strmap_get(const strmap *m, const char *key, size_t len)
{
    if (!m->cap) return -1;
    size_t i = slot_of(m, key, len);
    return m->keys[i] ? (int64_t)m->values[i] : -1;
}

static int grow(strmap *m)
{
    strmap bigger = {NULL, NULL, m->cap ? 2 * m->cap : 64, 0};
    bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
    bigger.values = calloc(bigger.cap, sizeof *bigger.values);
    if (!bigger.keys || !bigger.values) {
        free(bigger.keys);
        free(bigger.values);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            size_t j = slot_of(&bigger, m->keys[i], strlen(m->keys[i]));
            bigger.keys[j] = m->keys[i];
            bigger.values[j] = m->values[i];
        }
    bigger.count = m->count;
    free(m->keys);
    free(m->values);
    *m = bigger;
    return 0;
}

int strmap_put(strmap *m, const char *key, size_t len, uint32_t value)
{
    if (2 * (m->count + 1) > m->cap && grow(m)) return -1;
    size_t i = slot_of(m, key, len);
    if (!m->keys[i]) {
        char *k = malloc(len + 1);
        if (!k) return -1;
        memcpy(k, key, len);
        k[len] = 0;
        m->keys[i] = k;
        m->count++;
    }
    m->values[i] = value;
    return 0;
}
