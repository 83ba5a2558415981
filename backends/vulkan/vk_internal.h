/* The Vulkan executor's host side: one vk_dev per physical device chosen (its VkDevice, compute
 * queue, pipelines, memory pool) and one vk_queue per queue opened on it (command buffers in
 * flight, descriptor pools, a host-visible staging buffer, tickets). */
#ifndef ADEAD_VK_INTERNAL_H
#define ADEAD_VK_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "../../include/adeadvm_exec.h"
#include "vk_api.h"

/* The pipelines: a shader (shaders/<name>.comp, built twice: native and emulated f32, f32_model.glsl)
 * each; MATMUL's twice, with the large tile and the small one (for outputs of few large tiles). */
#define VK_SHADERS(X) X(RELU, relu) X(BINARY, binary) X(TRANSPOSE, transpose) X(MATMUL, matmul) \
    X(MATMUL_SMALL, matmul) X(SOFTMAX, softmax) X(ATTENTION, attention) X(ATTENTION_TILED, attention_tiled)

enum {
#define X(K, name) VKS_##K,
    VK_SHADERS(X)
#undef X
    VKS__COUNT
};

#define VK_ATTN_MAX_D 256 /* D and Dv of ATTENTION here (more: the CPU runs it) */
#define VK_PUSH_BYTES 128 /* the push constant range every shader shares (the guaranteed minimum) */

/* Freed device buffers kept for reuse, by size class: no vkAllocateMemory per op. */
typedef struct vk_block {
    VkBuffer buf;
    VkDeviceMemory mem;
    uint64_t size;
    struct vk_block *next;
} vk_block;

typedef struct {
    uint32_t bm, bn, bk, tm, tn; /* MATMUL's tile (matmul.comp's specialization constants) */
} vk_matmul_tile;

typedef struct vk_dev {
    adead_exec_device dev; /* first: the ABI's pointer is this struct's */
    const vk_instance_api *vi;
    vk_device_api vd;
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkDevice device;
    VkQueue queue;
    uint32_t family;
    pthread_mutex_t submit_mu; /* vkQueueSubmit needs the queue to itself */
    uint32_t mem_device, mem_staging; /* memory type indices */
    uint64_t heap_bytes;
    uint64_t max_range, align; /* maxStorageBufferRange, minStorageBufferOffsetAlignment */
    uint32_t max_groups;       /* maxComputeWorkGroupCount[0] (and [1], the smaller) */
    int has_f64, emulate;      /* emulate: the shaders' EMULATE 1 build is in use */
    vk_matmul_tile tile, tile_small;
    uint32_t small_below; /* MATMUL takes the small tile when the large one gives fewer tiles */
    uint32_t attn_dmax;   /* D and Dv up to this go to attention_tiled.comp (its shared memory) */
    pthread_mutex_t pool_mu;
    vk_block *free_blocks;
    uint64_t cached_bytes, used_bytes;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipelineCache cache;
    VkPipeline pipe[VKS__COUNT];
    char name[256];
    char inexact[400];
    char cache_path[600];
    char cache_note[160]; /* what happened to the on-disk pipeline cache (for --info) */
} vk_dev;

#define VK_BATCHES 3            /* command buffers in flight per queue */
#define VK_SETS_PER_BATCH 128   /* dispatches per command buffer (its descriptor pool's size) */
#define VK_STAGES 4             /* staging pieces per queue */
#define VK_STAGE_BYTES (4u << 20)

typedef struct {
    VkCommandBuffer cmd;
    VkFence fence;
    VkDescriptorPool pool;
    uint32_t sets, commands;
    int state;          /* 0 idle, 1 recording, 2 submitted */
    uint64_t serial;    /* which batch of the queue it is (from 1) */
    adead_exec_ticket last; /* the ticket of its last command */
} vk_batch;

typedef struct {
    adead_exec_queue q;
    vk_dev *d;
    VkCommandPool cmd_pool;
    vk_batch batch[VK_BATCHES];
    int cur; /* the batch being recorded, or the next one to record */
    uint64_t serial, done_serial;
    VkBuffer stage_buf;
    VkDeviceMemory stage_mem;
    unsigned char *stage_map;
    uint64_t stage_serial[VK_STAGES]; /* the batch that last used each piece (0: none) */
    int next_stage;
    adead_exec_ticket issued, synced, failed;
    adead_exec_status failed_status;
    char err[512];
    char settings[64];
} vk_queue;

/* A buffer's binding for a tensor: the descriptor's offset is aligned down, the rest is an element
 * offset in the push constants. */
typedef struct {
    VkBuffer buf;
    uint64_t offset, range;
    uint32_t elem; /* in 4-byte words */
} vk_binding;

adead_exec_status vk_status_of(VkResult r);

/* vk_pool.c */
VkResult vk_pool_alloc(vk_dev *d, uint64_t bytes, vk_block **out);
void vk_pool_free(vk_dev *d, vk_block *b);
void vk_pool_trim(vk_dev *d);
/* One buffer with its own memory of type mem_type (map: mapped pointer out, or NULL). */
VkResult vk_make_buffer(vk_dev *d, uint64_t bytes, uint32_t mem_type, VkBuffer *buf, VkDeviceMemory *mem, void **map);

/* vk_pipelines.c: the descriptor set layout, pipeline layout, pipeline cache (from disk) and every
 * pipeline in the build that d->emulate says; 0, or -1 with the reason. vk_pipelines_save writes
 * the cache back when the driver added to it; vk_pipelines_destroy frees the pipelines only. */
int vk_pipelines_create(vk_dev *d, char *why, size_t whylen);
void vk_pipelines_destroy(vk_dev *d);
void vk_pipelines_save(vk_dev *d);

/* vk_ops.c */
int vk_supports_op(const vk_dev *d, const adead_exec_op *op);
/* Records op into cmd with set (its descriptor set, not yet written). */
void vk_record_op(vk_queue *vq, VkCommandBuffer cmd, VkDescriptorSet set, const adead_exec_op *op);

/* vk_queue.c */
adead_exec_status vk_open_queue(adead_exec_device *dev, const char *params, adead_exec_queue **out, char *err,
                                size_t errlen);

#endif
