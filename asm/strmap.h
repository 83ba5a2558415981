/* A string -> uint32 hash map (open addressing); keys are copied. */
#ifndef ADEAD_STRMAP_H
#define ADEAD_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *key; /* NULL: free slot */
    uint32_t len, hash, value;
} strmap_slot;

typedef struct {
    strmap_slot *slots;
    size_t cap, count;
} strmap;

void strmap_free(strmap *m);
/* Value of key (len bytes), or -1. */
int64_t strmap_get(const strmap *m, const char *key, size_t len);
/* Insert or overwrite; 0, or -1 when out of memory. */
int strmap_put(strmap *m, const char *key, size_t len, uint32_t value);

#endif
