#include "strmap.h"

#include <stdlib.h>
#include <string.h>

static uint32_t hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

void strmap_free(strmap *m)
{
    for (size_t i = 0; i < m->cap; i++) free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* The slot holding key, or the free slot where it would go. The hash and length are compared
 * before the bytes, so a probe rarely touches a key. */
static size_t slot_of(const strmap *m, const char *key, size_t len, uint32_t h)
{
    size_t i = h & (m->cap - 1);
    for (;;) {
        const strmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->len == len && !memcmp(s->key, key, len))) return i;
        i = (i + 1) & (m->cap - 1);
    }
}

int64_t strmap_get(const strmap *m, const char *key, size_t len)
{
    if (!m->cap) return -1;
    const strmap_slot *s = &m->slots[slot_of(m, key, len, hash(key, len))];
    return s->key ? (int64_t)s->value : -1;
}

static int grow(strmap *m)
{
    size_t cap = m->cap ? 2 * m->cap : 64;
    strmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    strmap bigger = {slots, cap, m->count};
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key) bigger.slots[slot_of(&bigger, m->slots[i].key, m->slots[i].len, m->slots[i].hash)] = m->slots[i];
    free(m->slots);
    *m = bigger;
    return 0;
}

int strmap_put(strmap *m, const char *key, size_t len, uint32_t value)
{
    if (2 * (m->count + 1) > m->cap && grow(m)) return -1;
    uint32_t h = hash(key, len);
    strmap_slot *s = &m->slots[slot_of(m, key, len, h)];
    if (!s->key) {
        if (!(s->key = malloc(len + 1))) return -1;
        memcpy(s->key, key, len);
        s->key[len] = 0;
        s->len = (uint32_t)len;
        s->hash = h;
        m->count++;
    }
    s->value = value;
    return 0;
}
