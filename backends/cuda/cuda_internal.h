/* The CUDA executor's host side: one cuda_dev per GPU (its context, kernels, memory pool) and
 * one cuda_queue per queue opened on it (a stream, pinned staging buffers, tickets). */
#ifndef ADEAD_CUDA_INTERNAL_H
#define ADEAD_CUDA_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "../../include/adeadvm_exec.h"
#include "cuda_driver.h"

/* Every kernel the host launches, by module. */
#define CUDA_FUNCTIONS(X)                                                                             \
    X(ELEMENTWISE, RELU, "adead_relu") X(ELEMENTWISE, BIN_FLAT, "adead_binary_flat")                 \
    X(ELEMENTWISE, BIN_BCAST, "adead_binary_bcast") X(ELEMENTWISE, TRANSPOSE4, "adead_transpose4")   \
    X(ELEMENTWISE, TRANSPOSE8, "adead_transpose8")                                                   \
    X(ELEMENTWISE, FUSED_ELEMENTWISE, "adead_fused_elementwise")                                     \
    X(MATMUL, MM_256x128x8, "adead_matmul_256x128x8") X(MATMUL, MM_256x128x8_VEC, "adead_matmul_256x128x8_vec") \
    X(MATMUL, MM_128x256x8, "adead_matmul_128x256x8") X(MATMUL, MM_128x256x8_VEC, "adead_matmul_128x256x8_vec") \
    X(MATMUL, MM_128x128x8, "adead_matmul_128x128x8") X(MATMUL, MM_128x128x8_VEC, "adead_matmul_128x128x8_vec") \
    X(MATMUL, MM_128x128x16, "adead_matmul_128x128x16") X(MATMUL, MM_128x128x16_VEC, "adead_matmul_128x128x16_vec") \
    X(MATMUL, MM_128x128x32, "adead_matmul_128x128x32") X(MATMUL, MM_128x128x32_VEC, "adead_matmul_128x128x32_vec") \
    X(MATMUL, MM_128x64x16, "adead_matmul_128x64x16") X(MATMUL, MM_128x64x16_VEC, "adead_matmul_128x64x16_vec") \
    X(MATMUL, MM_64x64x16, "adead_matmul_64x64x16") X(MATMUL, MM_64x64x16_VEC, "adead_matmul_64x64x16_vec")  \
    X(MATMUL, MM_32x32x16, "adead_matmul_32x32x16") X(MATMUL, MM_32x32x16_VEC, "adead_matmul_32x32x16_vec")  \
    X(MATMUL, MM_SKINNY, "adead_matmul_skinny") X(MATMUL, MM_SKINNY_VEC, "adead_matmul_skinny_vec")          \
    X(SOFTMAX, SM_1, "adead_softmax_1") X(SOFTMAX, SM_2, "adead_softmax_2")                          \
    X(SOFTMAX, SM_4, "adead_softmax_4") X(SOFTMAX, SM_8, "adead_softmax_8")                          \
    X(SOFTMAX, SM_16, "adead_softmax_16") X(SOFTMAX, SM_32, "adead_softmax_32")                      \
    X(SOFTMAX, SM_LONG, "adead_softmax_long") X(SOFTMAX, SM_BLOCK, "adead_softmax_block")          \
    X(SOFTMAX, EXP_SELFCHECK, "adead_exp_selfcheck")                                                  \
    X(ATTENTION, ATT_1, "adead_attention_1") X(ATTENTION, ATT_2, "adead_attention_2")                \
    X(ATTENTION, ATT_4, "adead_attention_4") X(ATTENTION, ATT_8, "adead_attention_8")                \
    X(ATTENTION, ATT_FLASH_4, "adead_attention_flash_4") X(ATTENTION, ATT_FLASH_8, "adead_attention_flash_8")

enum {
#define X(mod, fn, name) CUDA_FN_##fn,
    CUDA_FUNCTIONS(X)
#undef X
    CUDA_FN__COUNT
};
enum { CUDA_MOD_ELEMENTWISE, CUDA_MOD_MATMUL, CUDA_MOD_SOFTMAX, CUDA_MOD_ATTENTION, CUDA_MOD__COUNT };

#define CUDA_ATTN_MAX_D 256 /* D and Dv of ATTENTION on the GPU (more: the CPU runs it) */

/* Freed device blocks kept for reuse, by rounded size: no cuMemAlloc per op. */
typedef struct cuda_block {
    CUdeviceptr ptr;
    uint64_t size;
    struct cuda_block *next;
} cuda_block;

typedef struct {
    pthread_mutex_t mu;
    cuda_block *free_blocks;
    uint64_t cached_bytes, used_bytes;
} cuda_pool;

typedef struct cuda_dev {
    adead_exec_device dev; /* first: the ABI's pointer is this struct's */
    const cuda_api *cu;
    CUdevice handle;
    CUcontext ctx;
    CUmodule mod[CUDA_MOD__COUNT];
    CUfunction fn[CUDA_FN__COUNT];
    int sm_count, cc_major, cc_minor, max_shared_optin;
    cuda_pool pool;
    char name[160];
    char inexact[320];
} cuda_dev;

#define CUDA_STAGES 4                   /* pinned staging buffers per queue */
#define CUDA_STAGE_BYTES (4u << 20)     /* each: copies go through in pieces of this size */

/* MATMUL's kernels (cuda_ops.c's table); CUDA_MM_AUTO chooses by the output's size. */
typedef enum {
    CUDA_MM_AUTO,
    CUDA_MM_256x128x8,
    CUDA_MM_128x256x8,
    CUDA_MM_128x128x8,
    CUDA_MM_128x128x16,
    CUDA_MM_128x128x32,
    CUDA_MM_128x64x16,
    CUDA_MM_64x64x16,
    CUDA_MM_32x32x16,
    CUDA_MM_SKINNY,
    CUDA_MM__COUNT
} cuda_tile;
extern const char *const cuda_tile_names[CUDA_MM__COUNT];

/* A fused run's steps: the device's struct fuse_chain (fuse.cuh), field for field. */
#define FUSE_MAX 6
enum { FUSE_ADD, FUSE_SUB, FUSE_MUL, FUSE_RELU };
enum { FUSE_FULL, FUSE_ROW, FUSE_SCALAR };
typedef struct {
    int op, swap, kind, pad;
    CUdeviceptr other;
} fuse_step;
typedef struct {
    int n, pad;
    fuse_step s[FUSE_MAX];
} fuse_chain;

typedef struct {
    adead_exec_queue q;
    cuda_dev *d;
    CUstream stream;
    unsigned char *stage[CUDA_STAGES]; /* NULL until the first copy; pinned */
    CUevent stage_done[CUDA_STAGES];
    int stage_pending[CUDA_STAGES], next_stage, staging_failed;
    cuda_tile tile; /* MATMUL's tile shape (params "matmul=..."); auto: by the output's size */
    int attention_warp; /* params "attention=warp": the warp kernel even where the tiled one runs */
    int fuse;           /* params "fuse=on" (the default) or "off" (cuda_fuse.h) */
    int pend;           /* the held run: 0 none, 1 a MATMUL and its steps, 2 elementwise steps */
    adead_exec_op pend_op;         /* its first op (the run's result is pend_op.out) */
    adead_exec_ticket pend_ticket; /* ... and that op's ticket */
    CUdeviceptr pend_base;         /* an elementwise run's input */
    fuse_chain chain;
    adead_exec_ticket issued, synced, failed;
    adead_exec_status failed_status;
    char err[512];
    char settings[64];
} cuda_queue;

/* Makes the device's context current for the calling thread until cuda_leave. */
int cuda_enter(cuda_dev *d);
void cuda_leave(cuda_dev *d);

/* The ABI status for a driver error: memory, a lost context, or internal. */
adead_exec_status cuda_status_of(CUresult r);

/* cuda_pool.c. Both with the context current. */
CUresult cuda_pool_alloc(cuda_dev *d, uint64_t bytes, CUdeviceptr *out);
void cuda_pool_free(cuda_dev *d, CUdeviceptr p, uint64_t bytes);
void cuda_pool_trim(cuda_dev *d); /* gives every cached block back to the driver */

/* cuda_ops.c: 1 when the GPU runs op; cuda_launch queues it on the stream (context current). */
int cuda_supports_op(const cuda_dev *d, const adead_exec_op *op);
/* Opt the kernels that take more than 48 KB of shared memory in (at load time). */
CUresult cuda_set_shared_limits(cuda_dev *d);
CUresult cuda_launch(cuda_queue *cq, const adead_exec_op *op);
/* The exp shortcut's self-check (kernels_softmax.cu): out gets {differences, first input}. */
CUresult cuda_launch_exp_selfcheck(cuda_queue *cq, CUdeviceptr out);

/* cuda_queue.c */
adead_exec_status cuda_open_queue(adead_exec_device *dev, const char *params, adead_exec_queue **out, char *err,
                                  size_t errlen);

/* cuda_probe.c: runs every kernel on edge inputs through a queue of d and compares the bits
 * with the reference; 0 when equal, else -1 with the first difference in why. */
int cuda_probe(cuda_dev *d, char *why, size_t whylen);

#endif
