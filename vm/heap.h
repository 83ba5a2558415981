/* VM memory: a deterministic block allocator (4 KiB blocks, first fit by address) over one
 * growable region, and a bump arena for per-op temporaries. Programs only ever see offsets
 * into the region, so results cannot depend on host addresses or allocation timing. */
#ifndef ADEAD_HEAP_H
#define ADEAD_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "../util/config.h" /* HEAP_BLOCK */

enum { HEAP_USER = 1, HEAP_TENSOR = 2 }; /* who owns an allocation: ALLOC, or tensor storage */

typedef struct {
    uint32_t start, count;
} heap_run;

typedef struct {
    uint8_t *base;       /* nblocks * HEAP_BLOCK bytes in use by the address space */
    uint32_t nblocks;    /* extent: blocks [0, nblocks) exist; block 0 is never handed out */
    uint32_t cap_blocks; /* host capacity of base and the per-block arrays */
    uint32_t *owner;     /* per block: 1 + first block of its allocation, 0 when free */
    uint64_t *bytes;     /* per first block: bytes requested */
    uint8_t *kind;       /* per first block: HEAP_USER or HEAP_TENSOR */
    heap_run *free_runs; /* free runs inside the extent, sorted by start */
    uint32_t n_free, cap_free;
    uint64_t limit;      /* memory limit for the extent plus `other` */
    uint64_t other;      /* bytes of VM memory kept outside the heap (stacks, arena) */
    uint32_t clean_from; /* blocks from here on were never handed out: still zero (heap.c) */
} vm_heap;

/* Results of heap_alloc and heap_reserve. */
enum { HEAP_OK = 0, HEAP_LIMIT = -1, HEAP_NOMEM = -2 };

/* An empty heap whose reserved block 0 is already backed, so that base is never NULL and
 * base + off is defined even while every tensor is empty. HEAP_NOMEM when the host has no 4 KiB. */
int heap_init(vm_heap *h, uint64_t limit);
void heap_destroy(vm_heap *h);
/* A new zeroed allocation of `bytes` (at least one block); its offset goes to *off. */
int heap_alloc(vm_heap *h, uint64_t bytes, int kind, uint64_t *off);
/* Free the allocation that starts at off and has this kind; -1 when there is none. */
int heap_release(vm_heap *h, uint64_t off, int kind);
/* 1 when [addr, addr + width) lies inside one live HEAP_USER allocation. */
int heap_user_range_ok(const vm_heap *h, uint64_t addr, uint64_t width);
/* Account `delta` more bytes of VM memory kept outside the heap; HEAP_LIMIT past the limit. */
int heap_reserve(vm_heap *h, uint64_t delta);
void heap_unreserve(vm_heap *h, uint64_t delta);
static inline uint64_t heap_in_use(const vm_heap *h) { return (uint64_t)h->nblocks * HEAP_BLOCK + h->other; }

/* The arena: one scratch buffer for the op being run (an op asks once and is done with it
 * when it returns); it keeps its largest size, which counts against the memory limit. */
typedef struct {
    uint8_t *base;
    size_t size;
} vm_arena;

/* At least `bytes` of scratch, or NULL (past the limit: *limit_hit set; or host OOM). */
void *arena_scratch(vm_arena *a, vm_heap *h, size_t bytes, int *limit_hit);
void arena_destroy(vm_arena *a, vm_heap *h);

#endif
