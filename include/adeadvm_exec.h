/* The executor ABI, version 1: what an executor (the built-in CPU one, or a plugin such as
 * libadeadvm-cuda.so) implements, and the only header a plugin needs besides adeadvm_kernels.def.
 *
 * Four objects, as in ggml's backend layer:
 *   registry  one per executor kind ("cpu", "cuda"): a score (0 = not usable here), its devices
 *   device    what it supports, its memory, buffers, and queues opened with a parameter string
 *   buffer    device memory (or host memory the device can use); tensors name {buffer, offset}
 *   queue     copies in and out at an offset, ops submitted in order, tickets to wait for
 *
 * Rules for every struct of function pointers: it starts with abi (ADEAD_EXEC_ABI) and size
 * (its sizeof), checked by the loader; members are only ever added at the end, so a larger size
 * from a newer plugin is fine and a smaller one is refused. Optional members are NULL where said.
 * Every call that can fail returns an adead_exec_status; the reason is in last_error(queue) or
 * the err buffer given. The VM may fall back to the CPU on UNSUPPORTED and DEVICE_MEMORY, since
 * every exact executor gives the same bits (docs/ops.md).
 */
#ifndef ADEADVM_EXEC_H
#define ADEADVM_EXEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ADEAD_EXEC_ABI 1 /* bumped on any change of layout or meaning */

#if defined(__GNUC__)
#define ADEAD_EXEC_EXPORT __attribute__((visibility("default")))
#else
#define ADEAD_EXEC_EXPORT
#endif

typedef enum {
    ADEAD_EXEC_OK = 0,
    ADEAD_EXEC_UNSUPPORTED = 1,   /* this op, dtype or size is not run here: another executor may */
    ADEAD_EXEC_DEVICE_MEMORY = 2, /* the device is out of memory */
    ADEAD_EXEC_HOST_MEMORY = 3,   /* the host is out of memory */
    ADEAD_EXEC_DEVICE_LOST = 4,   /* the device failed or went away; its buffers are gone */
    ADEAD_EXEC_INTERNAL = 5,      /* a bug, or a driver error with no better name */
    ADEAD_EXEC_BAD_PARAMS = 6     /* open_queue: a parameter string it does not take */
} adead_exec_status;

/* Stable kernel ids (never reused): ADEAD_K_MATMUL = 1, ... */
typedef enum {
#define KERNEL(OP, name, id, inputs, shape, flags) ADEAD_K_##OP = id,
#include "adeadvm_kernels.def"
#undef KERNEL
    ADEAD_K__END /* one more than the largest id: size of a table indexed by id */
} adead_kernel_id;

/* Element types, as in adeadvm.h's adead_dtype. */
enum { ADEAD_EXEC_F32 = 1, ADEAD_EXEC_I32 = 2, ADEAD_EXEC_I64 = 3 };

typedef struct adead_exec_registry adead_exec_registry;
typedef struct adead_exec_device adead_exec_device;
typedef struct adead_exec_buffer adead_exec_buffer;
typedef struct adead_exec_queue adead_exec_queue;

/* Where a tensor's bytes are. */
typedef struct {
    adead_exec_buffer *buf;
    uint64_t offset;
} adead_exec_ref;

typedef struct {
    uint32_t dtype; /* ADEAD_EXEC_F32, ... */
    int32_t rank;   /* 0..4 */
    int64_t dims[4];
    int64_t count;  /* elements (0 for an empty tensor: ref may then be anything) */
    adead_exec_ref ref;
} adead_exec_tensor;

/* One op, its shapes already checked by the VM (overflow-safe; count <= 2^40). */
typedef struct {
    uint32_t kernel; /* adead_kernel_id */
    uint32_t n_in;
    adead_exec_tensor out;
    adead_exec_tensor in[3];
    uint32_t pc;     /* the instruction, for messages and profiles */
} adead_exec_op;

/* Submissions are numbered from 1 in the order a queue takes them; 0 means "all so far". */
typedef uint64_t adead_exec_ticket;

typedef struct {
    uint32_t abi, size;
    /* The caller has waited for every piece of work that uses the buffer. */
    void (*release)(adead_exec_buffer *b);
} adead_exec_buffer_ops;

struct adead_exec_buffer {
    const adead_exec_buffer_ops *ops;
    adead_exec_device *device;
    uint64_t size;
    void *host; /* the bytes, where the host can address them (CPU buffers); else NULL */
    void *impl; /* the executor's own */
};

typedef struct {
    uint32_t abi, size;
    /* Copies run in queue order with the ops. copy_in has read the host bytes when it returns (the
     * caller may change them at once); copy_out's bytes are there once wait returns. Each takes a
     * ticket, as ops do. */
    adead_exec_status (*copy_in)(adead_exec_queue *q, adead_exec_ref dst, const void *host, uint64_t bytes);
    adead_exec_status (*copy_out)(adead_exec_queue *q, void *host, adead_exec_ref src, uint64_t bytes);
    /* Queue n ops to run in order; *done gets the ticket of the last. An op may run at once or
     * later; a failure may be reported here or by a later wait. */
    adead_exec_status (*submit)(adead_exec_queue *q, const adead_exec_op *ops, uint32_t n, adead_exec_ticket *done);
    adead_exec_status (*wait)(adead_exec_queue *q, adead_exec_ticket t);
    /* The reason for the last status that was not OK ("" if none). */
    const char *(*last_error)(const adead_exec_queue *q);
    /* What the queue was opened with, every setting spelt out ("simd=avx2,threads=8"). */
    const char *(*settings)(const adead_exec_queue *q);
    void (*close)(adead_exec_queue *q); /* waits for its work first */
    /* After a status that was not OK from submit or wait: the ticket of the op or copy that
     * failed (0 when none is to blame), so the VM can name that op's instruction. Work queued
     * after it is not run. */
    adead_exec_ticket (*failed_ticket)(const adead_exec_queue *q);
} adead_exec_queue_ops;

struct adead_exec_queue {
    const adead_exec_queue_ops *ops;
    adead_exec_device *device;
    void *impl;
};

enum {
    ADEAD_EXEC_CAP_EXACT = 1,       /* passed its conformance probe: the reference's bits */
    ADEAD_EXEC_CAP_HOST_MEMORY = 2, /* runs on host memory (wrap_host): no copies needed */
    ADEAD_EXEC_CAP_GPU = 4
};

typedef struct {
    uint32_t abi, size;
    /* 1 when this device runs op (kernel, dtypes, sizes), else 0. Cheap: called per op. */
    int (*supports)(const adead_exec_device *d, const adead_exec_op *op);
    adead_exec_status (*memory)(const adead_exec_device *d, uint64_t *free_bytes, uint64_t *total_bytes);
    adead_exec_status (*alloc)(adead_exec_device *d, uint64_t bytes, adead_exec_buffer **out);
    /* A buffer over host memory the caller keeps (NULL member: the device cannot use host memory). */
    adead_exec_status (*wrap_host)(adead_exec_device *d, void *host, uint64_t bytes, adead_exec_buffer **out);
    /* params: "key=value,key=value" (NULL or "" for the defaults); an unknown key is BAD_PARAMS. */
    adead_exec_status (*open_queue)(adead_exec_device *d, const char *params, adead_exec_queue **out, char *err,
                                    size_t errlen);
} adead_exec_device_ops;

struct adead_exec_device {
    const adead_exec_device_ops *ops;
    const char *name;           /* "cpu (AMD EPYC)", "NVIDIA H200" */
    uint32_t caps;              /* ADEAD_EXEC_CAP_* */
    const char *inexact_reason; /* without CAP_EXACT: why (used for relaxed programs only) */
    void *impl;
};

struct adead_exec_registry {
    uint32_t abi, size;
    const char *name; /* "cpu", "cuda", "vulkan": the plugin file is libadeadvm-<name>.so */
    /* 0 = not usable here (no driver, no device), with the reason in why; else higher is
     * preferred. Called once, before any device. */
    uint32_t (*score)(char *why, size_t whylen);
    uint32_t (*device_count)(void);
    adead_exec_device *(*device)(uint32_t i);
};

/* A plugin exports one symbol, ADEAD_EXEC_ENTRY_NAME, of this type: its registry when host_abi is
 * an ABI it implements, else NULL. */
typedef const adead_exec_registry *(*adead_exec_entry_fn)(uint32_t host_abi);
#define ADEAD_EXEC_ENTRY_NAME "adead_exec_entry"

#ifdef __cplusplus
}
#endif

#endif
