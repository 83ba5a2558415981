/* On Linux the region is an anonymous mapping, grown with mremap: pages no allocation has used
 * yet are the kernel's zero pages, untouched, so a new allocation there needs no memset, and a
 * result that lives on a device executor and is never read by the host costs no host memory
 * traffic at all (a 256 MB result's memset and first touch took ~0.6 s of kernel time in a
 * sandbox). Elsewhere: realloc and memset. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HEAP_ASAN 1
#endif
/* (Under ASan the malloc'd region stays: its redzone catches a write past the end.) */
#if defined(__linux__) && !defined(HEAP_ASAN)
#define _GNU_SOURCE /* mremap */
#define HEAP_MMAP 1
#include <sys/mman.h>
#endif

#include "heap.h"

#include <stdlib.h>
#include <string.h>

static uint8_t *region_resize(uint8_t *old, size_t old_bytes, size_t new_bytes)
{
#ifdef HEAP_MMAP
    void *p = old ? mremap(old, old_bytes, new_bytes, MREMAP_MAYMOVE)
                  : mmap(NULL, new_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
#else
    (void)old_bytes;
    return realloc(old, new_bytes);
#endif
}

static void region_free(uint8_t *p, size_t bytes)
{
#ifdef HEAP_MMAP
    if (p) munmap(p, bytes);
#else
    (void)bytes;
    free(p);
#endif
}

static int heap_capacity(vm_heap *h, uint32_t blocks);

int heap_init(vm_heap *h, uint64_t limit)
{
    memset(h, 0, sizeof *h);
    h->limit = limit;
    h->nblocks = 1; /* block 0 is reserved so that address 0 is never valid */
#ifndef HEAP_MMAP
    h->clean_from = UINT32_MAX; /* realloc'd memory is never known to be zero */
#endif
    return heap_capacity(h, 1);
}

void heap_destroy(vm_heap *h)
{
    region_free(h->base, (size_t)h->cap_blocks * HEAP_BLOCK);
    free(h->owner);
    free(h->bytes);
    free(h->kind);
    free(h->free_runs);
    memset(h, 0, sizeof *h);
}

/* Make the host arrays hold `blocks` blocks; the extent itself is not changed. */
static int heap_capacity(vm_heap *h, uint32_t blocks)
{
    if (blocks <= h->cap_blocks) return HEAP_OK;
    uint64_t cap = h->cap_blocks ? h->cap_blocks : 16;
    while (cap < blocks) cap *= 2;
    uint64_t limit_blocks = h->limit / HEAP_BLOCK + 1;
    if (cap > limit_blocks) cap = limit_blocks > blocks ? limit_blocks : blocks;
    uint8_t *base = region_resize(h->base, (size_t)h->cap_blocks * HEAP_BLOCK, (size_t)cap * HEAP_BLOCK);
    if (!base) return HEAP_NOMEM;
    h->base = base;
    uint32_t *owner = realloc(h->owner, (size_t)cap * sizeof *owner);
    if (!owner) return HEAP_NOMEM;
    h->owner = owner;
    uint64_t *bytes = realloc(h->bytes, (size_t)cap * sizeof *bytes);
    if (!bytes) return HEAP_NOMEM;
    h->bytes = bytes;
    uint8_t *kind = realloc(h->kind, (size_t)cap);
    if (!kind) return HEAP_NOMEM;
    h->kind = kind;
    memset(owner + h->cap_blocks, 0, (size_t)(cap - h->cap_blocks) * sizeof *owner);
    h->cap_blocks = (uint32_t)cap;
    return HEAP_OK;
}

static int free_runs_insert(vm_heap *h, uint32_t at, heap_run run)
{
    if (h->n_free == h->cap_free) {
        uint32_t cap = h->cap_free ? 2 * h->cap_free : 16;
        heap_run *r = realloc(h->free_runs, cap * sizeof *r);
        if (!r) return HEAP_NOMEM;
        h->free_runs = r;
        h->cap_free = cap;
    }
    memmove(h->free_runs + at + 1, h->free_runs + at, (h->n_free - at) * sizeof *h->free_runs);
    h->free_runs[at] = run;
    h->n_free++;
    return HEAP_OK;
}

static void free_runs_remove(vm_heap *h, uint32_t at)
{
    memmove(h->free_runs + at, h->free_runs + at + 1, (h->n_free - at - 1) * sizeof *h->free_runs);
    h->n_free--;
}

/* Blocks an allocation of `bytes` takes (at least one), without overflow for any u64. */
static uint64_t blocks_for(uint64_t bytes) { return bytes ? bytes / HEAP_BLOCK + (bytes % HEAP_BLOCK != 0) : 1; }

static void mark(vm_heap *h, uint32_t start, uint32_t count, uint64_t bytes, int kind)
{
    for (uint32_t b = 0; b < count; b++) h->owner[start + b] = start + 1;
    h->bytes[start] = bytes;
    h->kind[start] = (uint8_t)kind;
    /* Zero what an earlier allocation may have written; past clean_from the pages are fresh. */
    uint32_t end = start + count, dirty_end = end < h->clean_from ? end : h->clean_from;
    if (dirty_end > start) memset(h->base + (size_t)start * HEAP_BLOCK, 0, (size_t)(dirty_end - start) * HEAP_BLOCK);
#ifdef HEAP_MMAP
    if (end > h->clean_from) h->clean_from = end;
#endif
}

int heap_alloc(vm_heap *h, uint64_t bytes, int kind, uint64_t *off)
{
    uint64_t need64 = blocks_for(bytes);
    if (need64 > h->limit / HEAP_BLOCK || need64 > UINT32_MAX) return HEAP_LIMIT; /* block numbers are 32-bit */
    uint32_t need = (uint32_t)need64;
    /* First fit among the free runs, lowest address first. */
    for (uint32_t i = 0; i < h->n_free; i++) {
        heap_run *r = &h->free_runs[i];
        if (r->count < need) continue;
        uint32_t start = r->start;
        r->start += need;
        r->count -= need;
        if (!r->count) free_runs_remove(h, i);
        mark(h, start, need, bytes, kind);
        *off = (uint64_t)start * HEAP_BLOCK;
        return HEAP_OK;
    }
    /* Otherwise grow the extent, reusing a free run that touches its end. */
    uint32_t start = h->nblocks;
    if (h->n_free) {
        heap_run *last = &h->free_runs[h->n_free - 1];
        if (last->start + last->count == h->nblocks) start = last->start;
    }
    uint64_t end = (uint64_t)start + need;
    if (end * HEAP_BLOCK + h->other > h->limit || end > UINT32_MAX) return HEAP_LIMIT;
    int rc = heap_capacity(h, (uint32_t)end);
    if (rc) return rc;
    if (start != h->nblocks) free_runs_remove(h, h->n_free - 1);
    h->nblocks = (uint32_t)end;
    mark(h, start, need, bytes, kind);
    *off = (uint64_t)start * HEAP_BLOCK;
    return HEAP_OK;
}

int heap_release(vm_heap *h, uint64_t off, int kind)
{
    if (off % HEAP_BLOCK) return -1;
    uint64_t start64 = off / HEAP_BLOCK;
    if (start64 == 0 || start64 >= h->nblocks || start64 >= h->cap_blocks) return -1;
    uint32_t start = (uint32_t)start64;
    if (h->owner[start] != start + 1 || h->kind[start] != kind) return -1;
    uint32_t count = (uint32_t)blocks_for(h->bytes[start]);
    for (uint32_t b = 0; b < count; b++) h->owner[start + b] = 0;
    /* Insert in address order and merge with the neighbours. */
    uint32_t lo = 0, hi = h->n_free;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (h->free_runs[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    heap_run run = {start, count};
    int merged_prev = lo > 0 && h->free_runs[lo - 1].start + h->free_runs[lo - 1].count == start;
    int merged_next = lo < h->n_free && start + count == h->free_runs[lo].start;
    if (merged_prev && merged_next) {
        h->free_runs[lo - 1].count += count + h->free_runs[lo].count;
        free_runs_remove(h, lo);
    } else if (merged_prev) {
        h->free_runs[lo - 1].count += count;
    } else if (merged_next) {
        h->free_runs[lo].start = start;
        h->free_runs[lo].count += count;
    } else {
        /* Out of host memory for the bookkeeping, the blocks stay unusable: safe, and the same
         * on every run of a host with the same memory. */
        free_runs_insert(h, lo, run);
    }
    return 0;
}

int heap_user_range_ok(const vm_heap *h, uint64_t addr, uint64_t width)
{
    uint64_t blk = addr / HEAP_BLOCK;
    if (blk >= h->nblocks || blk >= h->cap_blocks || !h->owner[blk]) return 0; /* no arrays before the first alloc */
    uint32_t start = h->owner[blk] - 1;
    if (h->kind[start] != HEAP_USER) return 0;
    uint64_t lo = (uint64_t)start * HEAP_BLOCK;
    return addr + width >= addr && addr + width <= lo + h->bytes[start];
}

int heap_reserve(vm_heap *h, uint64_t delta)
{
    if (heap_in_use(h) + delta > h->limit || heap_in_use(h) + delta < delta) return HEAP_LIMIT;
    h->other += delta;
    return HEAP_OK;
}

void heap_unreserve(vm_heap *h, uint64_t delta) { h->other -= delta < h->other ? delta : h->other; }

/* ---- arena: the per-op scratch buffer, grown to the largest request, reused by every op ---- */

void *arena_scratch(vm_arena *a, vm_heap *h, size_t bytes, int *limit_hit)
{
    *limit_hit = 0;
    if (bytes <= a->size) return a->base;
    if (heap_reserve(h, bytes - a->size)) {
        *limit_hit = 1;
        return NULL;
    }
    void *p = realloc(a->base, bytes);
    if (!p) {
        heap_unreserve(h, bytes - a->size);
        return NULL;
    }
    a->base = p;
    a->size = bytes;
    return p;
}

void arena_destroy(vm_arena *a, vm_heap *h)
{
    heap_unreserve(h, a->size);
    free(a->base);
    a->base = NULL;
    a->size = 0;
}
