/* The device memory pool: blocks are rounded to a size class and kept after release, so the
 * VM's per-op tensors (fresh storage on every shape change) cost no cuMemAlloc/cuMemFree, which
 * synchronise the device. When the driver is out of memory, the cached blocks go back to it and
 * the allocation is tried once more. */
#include "cuda_internal.h"

#include <stdlib.h>

/* Powers of two from 512 bytes to 1 MiB, then multiples of 2 MiB: at most half wasted on small
 * blocks, at most 2 MiB on large ones. */
static uint64_t size_class(uint64_t bytes)
{
    if (bytes > (1u << 20)) return (bytes + (2u << 20) - 1) & ~(uint64_t)((2u << 20) - 1);
    uint64_t c = 512;
    while (c < bytes) c <<= 1;
    return c;
}

CUresult cuda_pool_alloc(cuda_dev *d, uint64_t bytes, CUdeviceptr *out)
{
    uint64_t size = size_class(bytes);
    cuda_pool *p = &d->pool;
    pthread_mutex_lock(&p->mu);
    for (cuda_block **b = &p->free_blocks; *b; b = &(*b)->next)
        if ((*b)->size == size) {
            cuda_block *hit = *b;
            *b = hit->next;
            p->cached_bytes -= size;
            p->used_bytes += size;
            pthread_mutex_unlock(&p->mu);
            *out = hit->ptr;
            free(hit);
            return CU_OK;
        }
    pthread_mutex_unlock(&p->mu);
    CUresult r = d->cu->MemAlloc(out, (size_t)size);
    if (r == CU_ERROR_OUT_OF_MEMORY) {
        cuda_pool_trim(d);
        r = d->cu->MemAlloc(out, (size_t)size);
    }
    if (r == CU_OK) {
        pthread_mutex_lock(&p->mu);
        p->used_bytes += size;
        pthread_mutex_unlock(&p->mu);
    }
    return r;
}

void cuda_pool_free(cuda_dev *d, CUdeviceptr ptr, uint64_t bytes)
{
    uint64_t size = size_class(bytes);
    cuda_pool *p = &d->pool;
    cuda_block *b = malloc(sizeof *b);
    if (!b) { /* no room to remember it: give it back */
        d->cu->MemFree(ptr);
        pthread_mutex_lock(&p->mu);
        p->used_bytes -= size;
        pthread_mutex_unlock(&p->mu);
        return;
    }
    b->ptr = ptr;
    b->size = size;
    pthread_mutex_lock(&p->mu);
    b->next = p->free_blocks;
    p->free_blocks = b;
    p->cached_bytes += size;
    p->used_bytes -= size;
    pthread_mutex_unlock(&p->mu);
}

void cuda_pool_trim(cuda_dev *d)
{
    cuda_pool *p = &d->pool;
    pthread_mutex_lock(&p->mu);
    cuda_block *b = p->free_blocks;
    p->free_blocks = NULL;
    p->cached_bytes = 0;
    pthread_mutex_unlock(&p->mu);
    while (b) {
        cuda_block *next = b->next;
        d->cu->MemFree(b->ptr);
        free(b);
        b = next;
    }
}
