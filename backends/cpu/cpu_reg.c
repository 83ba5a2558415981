/* The CPU executor behind the executor ABI (include/adeadvm_exec.h): one device over host memory,
 * queues that run each op at once on their own thread pool. A queue is a cpu_exec (cpu_exec.h)
 * configured by its parameter string. */
#include "cpu_reg.h"

#include "../../isa/isa.h"
#include "../../isa/kernels.h"
#include "cpu_exec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the kernel table: one driver per kernel id; a kernel without cpu_<name> does not build ---- */

typedef int (*cpu_driver)(cpu_exec *ce, const exec_op *op, char *err, size_t errlen);

/* The drivers that serve several kernels tell them apart by op->kernel. */
#define cpu_attention_causal cpu_attention
#define cpu_tadd cpu_elementwise
#define cpu_tsub cpu_elementwise
#define cpu_tmul cpu_elementwise
static const cpu_driver drivers[ADEAD_K__END] = {
#define KERNEL(OP, name, id, inputs, shape, flags) [id] = cpu_##name,
#include "../../include/adeadvm_kernels.def"
#undef KERNEL
};
#undef cpu_attention_causal
#undef cpu_tadd
#undef cpu_tsub
#undef cpu_tmul

/* ---- buffers: host memory, owned (alloc) or the caller's (wrap_host) ---- */

static void buffer_release(adead_exec_buffer *b)
{
    if (!b) return;
    if (b->impl) free(b->host); /* impl marks an owned allocation */
    free(b);
}

static const adead_exec_buffer_ops buffer_ops = {ADEAD_EXEC_ABI, sizeof(adead_exec_buffer_ops), buffer_release};

static adead_exec_status new_buffer(adead_exec_device *d, void *host, uint64_t bytes, int owned, adead_exec_buffer **out)
{
    adead_exec_buffer *b = calloc(1, sizeof *b);
    if (!b) return ADEAD_EXEC_HOST_MEMORY;
    b->ops = &buffer_ops;
    b->device = d;
    b->size = bytes;
    b->host = host;
    b->impl = owned ? b : NULL;
    *out = b;
    return ADEAD_EXEC_OK;
}

/* ---- queues ---- */

typedef struct {
    adead_exec_queue q;
    executor *ex;
    adead_exec_ticket last;
    char settings[64];
    char err[512];
} cpu_queue;

static adead_exec_status queue_fail(cpu_queue *cq, adead_exec_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cq->err, sizeof cq->err, fmt, ap);
    va_end(ap);
    return st;
}

static void *host_at(adead_exec_ref r) { return (unsigned char *)r.buf->host + r.offset; }

static adead_exec_status q_copy_in(adead_exec_queue *q, adead_exec_ref dst, const void *host, uint64_t bytes)
{
    if (bytes) memcpy(host_at(dst), host, (size_t)bytes);
    ((cpu_queue *)q)->last++;
    return ADEAD_EXEC_OK;
}

static adead_exec_status q_copy_out(adead_exec_queue *q, void *host, adead_exec_ref src, uint64_t bytes)
{
    if (bytes) memcpy(host, host_at(src), (size_t)bytes);
    ((cpu_queue *)q)->last++;
    return ADEAD_EXEC_OK;
}

static exec_tensor host_tensor(const adead_exec_tensor *t)
{
    exec_tensor h;
    h.dtype = t->dtype;
    h.rank = t->rank;
    memcpy(h.dims, t->dims, sizeof h.dims);
    h.count = t->count;
    h.data = t->count ? host_at(t->ref) : NULL;
    return h;
}

/* Every op runs before submit returns, so its status is the ticket's. */
static adead_exec_status q_submit(adead_exec_queue *q, const adead_exec_op *ops, uint32_t n, adead_exec_ticket *done)
{
    cpu_queue *cq = (cpu_queue *)q;
    cpu_exec *ce = (cpu_exec *)cq->ex;
    for (uint32_t i = 0; i < n; i++) {
        const adead_exec_op *op = &ops[i];
        const isa_kernel *k = isa_kernel_of_id(op->kernel);
        if (!k || op->n_in != (uint32_t)k->inputs)
            return queue_fail(cq, ADEAD_EXEC_UNSUPPORTED, "the CPU executor has no kernel %u with %u inputs", op->kernel, op->n_in);
        if (!op->out.count) { /* nothing to write: and a [2^40, 0] shape must not loop 2^40 times */
            cq->last++;
            continue;
        }
        exec_op h;
        memset(&h, 0, sizeof h);
        h.kernel = k->op;
        h.n_in = (int)op->n_in;
        h.out = host_tensor(&op->out);
        for (uint32_t j = 0; j < op->n_in; j++) h.in[j] = host_tensor(&op->in[j]);
        char why[400];
        if (drivers[op->kernel](ce, &h, why, sizeof why))
            return queue_fail(cq, ADEAD_EXEC_HOST_MEMORY, "%s", why); /* the drivers fail only for scratch */
        cq->last++;
    }
    if (done) *done = cq->last;
    return ADEAD_EXEC_OK;
}

static adead_exec_status q_wait(adead_exec_queue *q, adead_exec_ticket t)
{
    (void)q;
    (void)t;
    return ADEAD_EXEC_OK;
}

static const char *q_last_error(const adead_exec_queue *q) { return ((const cpu_queue *)q)->err; }
static const char *q_settings(const adead_exec_queue *q) { return ((const cpu_queue *)q)->settings; }

static void q_close(adead_exec_queue *q)
{
    if (!q) return;
    cpu_executor_destroy(((cpu_queue *)q)->ex);
    free(q);
}

static adead_exec_ticket q_failed_ticket(const adead_exec_queue *q)
{
    const cpu_queue *cq = (const cpu_queue *)q;
    return cq->err[0] ? cq->last + 1 : 0; /* a failing op takes no ticket */
}

static const adead_exec_queue_ops queue_ops = {
    .abi = ADEAD_EXEC_ABI, .size = sizeof(adead_exec_queue_ops), .copy_in = q_copy_in, .copy_out = q_copy_out,
    .submit = q_submit, .wait = q_wait, .last_error = q_last_error, .settings = q_settings, .close = q_close,
    .failed_ticket = q_failed_ticket,
};

/* ---- the device ---- */

static int d_supports(const adead_exec_device *d, const adead_exec_op *op)
{
    (void)d;
    return isa_kernel_of_id(op->kernel) != NULL;
}

static adead_exec_status d_memory(const adead_exec_device *d, uint64_t *free_bytes, uint64_t *total_bytes)
{
    (void)d;
    if (free_bytes) *free_bytes = UINT64_MAX; /* the VM's own memory limit is what bounds it */
    if (total_bytes) *total_bytes = UINT64_MAX;
    return ADEAD_EXEC_OK;
}

static adead_exec_status d_alloc(adead_exec_device *d, uint64_t bytes, adead_exec_buffer **out)
{
    void *p = NULL;
    if (bytes > SIZE_MAX - 64 || posix_memalign(&p, 64, bytes ? (size_t)bytes : 1)) return ADEAD_EXEC_HOST_MEMORY;
    adead_exec_status st = new_buffer(d, p, bytes, 1, out);
    if (st) free(p);
    return st;
}

static adead_exec_status d_wrap_host(adead_exec_device *d, void *host, uint64_t bytes, adead_exec_buffer **out)
{
    return new_buffer(d, host, bytes, 0, out);
}

static int fail_params(char *err, size_t errlen, const char *fmt, const char *v, const char *w)
{
    if (err && errlen) snprintf(err, errlen, fmt, v, w);
    return -1;
}

/* "simd=avx2,threads=8": each key at most once; unknown keys and values are refused. */
static int parse_params(const char *params, int *level, int *threads, char *err, size_t errlen)
{
    *level = -1;
    *threads = 0;
    int seen_simd = 0, seen_threads = 0;
    const char *p = params ? params : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char item[64];
        if (n >= sizeof item) return fail_params(err, errlen, "\"%.40s...\": too long a parameter%s", p, "");
        memcpy(item, p, n);
        item[n] = 0;
        char *eq = strchr(item, '=');
        if (!eq) return fail_params(err, errlen, "\"%s\": parameters are key=value (simd, threads)%s", item, "");
        *eq = 0;
        const char *v = eq + 1;
        if (!strcmp(item, "simd") && !seen_simd++) {
            *level = strcmp(v, "auto") ? simd_from_name(v) : -1;
            if (strcmp(v, "auto") && *level < 0)
                return fail_params(err, errlen, "not a SIMD level (scalar, sse2, avx2, avx512, neon, auto)%s%s", "", "");
        } else if (!strcmp(item, "threads") && !seen_threads++) {
            char *stop;
            long t = strtol(v, &stop, 10);
            if (!*v || *stop || t < 0 || t > CPU_MAX_THREADS)
                return fail_params(err, errlen, "%.40s is not a thread count (0..256; 0 = all cores)%s", v, "");
            *threads = (int)t;
        } else {
            return fail_params(err, errlen, "\"%s\": not a CPU queue parameter, or given twice (simd, threads)%s", item, "");
        }
        p += n + (end != NULL);
    }
    return 0;
}

static adead_exec_status d_open_queue(adead_exec_device *d, const char *params, adead_exec_queue **out, char *err,
                                      size_t errlen)
{
    int level, threads;
    if (parse_params(params, &level, &threads, err, errlen)) return ADEAD_EXEC_BAD_PARAMS;
    cpu_queue *cq = calloc(1, sizeof *cq);
    if (!cq) return ADEAD_EXEC_HOST_MEMORY;
    cq->ex = cpu_executor_create();
    if (!cq->ex) {
        free(cq);
        if (err && errlen) snprintf(err, errlen, "out of memory for the CPU executor");
        return ADEAD_EXEC_HOST_MEMORY;
    }
    char why[160];
    if (cpu_executor_configure(cq->ex, level, threads, why, sizeof why)) {
        int unsupported = level >= 0 && !cpu_detect()->has[level];
        if (err && errlen) snprintf(err, errlen, "%s", why);
        q_close(&cq->q);
        return unsupported ? ADEAD_EXEC_UNSUPPORTED : ADEAD_EXEC_HOST_MEMORY;
    }
    cq->q.ops = &queue_ops;
    cq->q.device = d;
    cq->q.impl = cq;
    snprintf(cq->settings, sizeof cq->settings, "simd=%s,threads=%d", simd_name((simd_level)cpu_executor_level(cq->ex)),
             cpu_executor_threads(cq->ex));
    *out = &cq->q;
    return ADEAD_EXEC_OK;
}

static const adead_exec_device_ops device_ops = {
    .abi = ADEAD_EXEC_ABI, .size = sizeof(adead_exec_device_ops), .supports = d_supports, .memory = d_memory,
    .alloc = d_alloc, .wrap_host = d_wrap_host, .open_queue = d_open_queue,
};

static adead_exec_device cpu_device = {
    &device_ops, "cpu", ADEAD_EXEC_CAP_EXACT | ADEAD_EXEC_CAP_HOST_MEMORY, NULL, NULL,
};

/* ---- the registry ---- */

static uint32_t r_score(char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    return 1; /* always here, and the fallback of every other executor */
}

static uint32_t r_device_count(void) { return 1; }
static adead_exec_device *r_device(uint32_t i) { return i == 0 ? &cpu_device : NULL; }

static const adead_exec_registry registry = {
    .abi = ADEAD_EXEC_ABI, .size = sizeof(adead_exec_registry), .name = "cpu",
    .score = r_score, .device_count = r_device_count, .device = r_device,
};

const adead_exec_registry *cpu_registry(void) { return &registry; }
