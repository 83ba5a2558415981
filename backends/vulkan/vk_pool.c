/* Device buffers: one VkBuffer over its own VkDeviceMemory each, rounded to a size class and kept
 * after release, as the CUDA executor's pool does (vkAllocateMemory is slow, and drivers cap how
 * many allocations live at once). Out of device memory: the cached blocks go back first. */
#include <stdlib.h>

#include "vk_internal.h"

static uint64_t size_class(uint64_t bytes)
{
    if (bytes > (1u << 20)) return (bytes + (2u << 20) - 1) & ~(uint64_t)((2u << 20) - 1);
    uint64_t c = 512;
    while (c < bytes) c <<= 1;
    return c;
}

VkResult vk_make_buffer(vk_dev *d, uint64_t bytes, uint32_t mem_type, VkBuffer *buf, VkDeviceMemory *mem, void **map)
{
    const vk_device_api *v = &d->vd;
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = bytes;
    bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    *buf = VK_NULL_HANDLE;
    *mem = VK_NULL_HANDLE;
    VkResult r = v->CreateBuffer(d->device, &bi, NULL, buf);
    if (r != VK_SUCCESS) return r;
    VkMemoryRequirements req;
    v->GetBufferMemoryRequirements(d->device, *buf, &req);
    if (!(req.memoryTypeBits & (1u << mem_type))) {
        v->DestroyBuffer(d->device, *buf, NULL);
        return VK_ERROR_FEATURE_NOT_PRESENT;
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = req.size;
    ai.memoryTypeIndex = mem_type;
    r = v->AllocateMemory(d->device, &ai, NULL, mem);
    if (r == VK_SUCCESS) r = v->BindBufferMemory(d->device, *buf, *mem, 0);
    if (r == VK_SUCCESS && map) r = v->MapMemory(d->device, *mem, 0, VK_WHOLE_SIZE, 0, map);
    if (r != VK_SUCCESS) {
        v->DestroyBuffer(d->device, *buf, NULL);
        if (*mem) v->FreeMemory(d->device, *mem, NULL);
        *buf = VK_NULL_HANDLE;
        *mem = VK_NULL_HANDLE;
    }
    return r;
}

VkResult vk_pool_alloc(vk_dev *d, uint64_t bytes, vk_block **out)
{
    uint64_t size = size_class(bytes);
    pthread_mutex_lock(&d->pool_mu);
    for (vk_block **b = &d->free_blocks; *b; b = &(*b)->next)
        if ((*b)->size == size) {
            vk_block *hit = *b;
            *b = hit->next;
            d->cached_bytes -= size;
            d->used_bytes += size;
            pthread_mutex_unlock(&d->pool_mu);
            *out = hit;
            return VK_SUCCESS;
        }
    pthread_mutex_unlock(&d->pool_mu);
    vk_block *b = calloc(1, sizeof *b);
    if (!b) return VK_ERROR_OUT_OF_HOST_MEMORY;
    b->size = size;
    VkResult r = vk_make_buffer(d, size, d->mem_device, &b->buf, &b->mem, NULL);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY) {
        vk_pool_trim(d);
        r = vk_make_buffer(d, size, d->mem_device, &b->buf, &b->mem, NULL);
    }
    if (r != VK_SUCCESS) {
        free(b);
        return r;
    }
    pthread_mutex_lock(&d->pool_mu);
    d->used_bytes += size;
    pthread_mutex_unlock(&d->pool_mu);
    *out = b;
    return VK_SUCCESS;
}

void vk_pool_free(vk_dev *d, vk_block *b)
{
    pthread_mutex_lock(&d->pool_mu);
    b->next = d->free_blocks;
    d->free_blocks = b;
    d->cached_bytes += b->size;
    d->used_bytes -= b->size;
    pthread_mutex_unlock(&d->pool_mu);
}

void vk_pool_trim(vk_dev *d)
{
    pthread_mutex_lock(&d->pool_mu);
    vk_block *b = d->free_blocks;
    d->free_blocks = NULL;
    d->cached_bytes = 0;
    pthread_mutex_unlock(&d->pool_mu);
    while (b) {
        vk_block *next = b->next;
        d->vd.DestroyBuffer(d->device, b->buf, NULL);
        d->vd.FreeMemory(d->device, b->mem, NULL);
        free(b);
        b = next;
    }
}
