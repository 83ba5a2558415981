/* The CPU executor: runs every kernel on host memory with the scalar reference. */
#include "../../isa/bib.h"
#include "../../isa/isa.h"
#include "../executor.h"
#include "ref_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cpu_init(executor *ex, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    ex->caps = EXEC_CAP_EXACT | EXEC_CAP_HOST_MEMORY;
    return 0;
}

static void cpu_shutdown(executor *ex) { (void)ex; }

static int cpu_supports(const executor *ex, const exec_op *op)
{
    (void)ex;
    return isa_is_kernel(op->kernel);
}

static void *cpu_buf_alloc(executor *ex, size_t bytes)
{
    (void)ex;
    return malloc(bytes ? bytes : 1);
}

static void cpu_buf_free(executor *ex, void *buf)
{
    (void)ex;
    free(buf);
}

static int cpu_copy(executor *ex, void *dst, const void *src, size_t bytes)
{
    (void)ex;
    memcpy(dst, src, bytes);
    return 0;
}

static int cpu_download(executor *ex, void *host, const void *buf, size_t bytes) { return cpu_copy(ex, host, buf, bytes); }

/* Pad a shape on the left with 1s to rank 4 (for broadcasting). */
static void dims4(const exec_tensor *t, int64_t *d)
{
    for (int i = 0; i < 4; i++) d[i] = 1;
    for (int i = 0; i < t->rank; i++) d[4 - t->rank + i] = t->dims[i];
}

static int cpu_run(executor *ex, const exec_op *op, char *err, size_t errlen)
{
    (void)ex;
    const exec_tensor *a = &op->in[0], *b = &op->in[1], *o = &op->out;
    int64_t ad[4], bd[4], od[4];
    if (!o->count) return 0; /* nothing to write: and a [2^40, 0] shape must not loop 2^40 times */
    switch (op->kernel) {
    case OP_MATMUL: ref_matmul(a->data, b->data, o->data, a->dims[0], a->dims[1], b->dims[1]); return 0;
    case OP_TRANSPOSE: ref_transpose(a->data, o->data, a->dims[0], a->dims[1], (int)bib_dtype_size(a->dtype)); return 0;
    case OP_SOFTMAX: {
        int64_t n = a->dims[a->rank - 1];
        ref_softmax(a->data, o->data, n ? a->count / n : 0, n);
        return 0;
    }
    case OP_RELU: ref_relu(a->data, o->data, a->count); return 0;
    case OP_TADD:
    case OP_TSUB:
    case OP_TMUL:
        dims4(a, ad);
        dims4(b, bd);
        dims4(o, od);
        ref_elementwise(op->kernel == OP_TADD ? REF_ADD : op->kernel == OP_TSUB ? REF_SUB : REF_MUL, a->data, ad, b->data,
                        bd, o->data, od);
        return 0;
    default: snprintf(err, errlen, "the CPU executor has no kernel %d", op->kernel); return -1;
    }
}

static int cpu_sync(executor *ex)
{
    (void)ex;
    return 0;
}

static uint64_t cpu_mem_available(const executor *ex)
{
    (void)ex;
    return UINT64_MAX;
}

static executor cpu = {"cpu", EXEC_CAP_EXACT | EXEC_CAP_HOST_MEMORY, cpu_init, cpu_shutdown, cpu_supports, cpu_buf_alloc, cpu_buf_free,
                       cpu_copy, cpu_download, cpu_run, cpu_sync, cpu_mem_available, NULL};

executor *cpu_executor(void) { return &cpu; }
