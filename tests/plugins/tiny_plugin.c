/* libadeadvm-tiny.so: a small but complete executor plugin, for the loader's tests. One device on
 * host memory that runs RELU on f32 (docs/ops.md: daz(x); NaN -> 0x7FC00000; x > 0 ? x : +0),
 * computed on the bits so that it is exact whatever the host's float mode. It includes nothing of
 * libadeadvm but the ABI header, and links nothing of it. */
#include "../../include/adeadvm_exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    adead_exec_queue q;
    adead_exec_ticket last;   /* the last ticket given: copies and ops take one each */
    adead_exec_ticket failed; /* the ticket of the work that failed (0: none) */
    char err[256];
} tiny_queue;

static uint32_t relu_bits(uint32_t x)
{
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC00000u; /* NaN: canonical */
    if (!(x & 0x7F800000u) || (x & 0x80000000u)) return 0;    /* subnormal, zero, negative: +0 */
    return x;
}

/* ---- buffers ---- */

static void buffer_release(adead_exec_buffer *b)
{
    if (!b) return;
    if (b->impl) free(b->host); /* impl set: the buffer owns its bytes (alloc, not wrap_host) */
    free(b);
}

static const adead_exec_buffer_ops buffer_ops = {ADEAD_EXEC_ABI, sizeof(adead_exec_buffer_ops), buffer_release};

static adead_exec_status new_buffer(adead_exec_device *d, void *host, uint64_t bytes, int owned,
                                    adead_exec_buffer **out)
{
    adead_exec_buffer *b = malloc(sizeof *b);
    if (!b) return ADEAD_EXEC_HOST_MEMORY;
    b->ops = &buffer_ops;
    b->device = d;
    b->size = bytes;
    b->host = host;
    b->impl = owned ? b : NULL;
    *out = b;
    return ADEAD_EXEC_OK;
}

/* [offset, offset + bytes) inside b, without overflow. */
static int in_buffer(adead_exec_ref r, uint64_t bytes)
{
    return r.buf && r.buf->host && r.offset <= r.buf->size && bytes <= r.buf->size - r.offset;
}

/* ---- queues ---- */

/* Work runs at once, so the failing one is the next ticket, which it does not take. */
static adead_exec_status fail(tiny_queue *q, adead_exec_status s, const char *msg, uint32_t pc)
{
    snprintf(q->err, sizeof q->err, "tiny: %s (pc %u)", msg, pc);
    q->failed = q->last + 1;
    return s;
}

static adead_exec_status copy_in(adead_exec_queue *qq, adead_exec_ref dst, const void *host, uint64_t bytes)
{
    tiny_queue *q = qq->impl;
    if (!in_buffer(dst, bytes)) return fail(q, ADEAD_EXEC_INTERNAL, "copy_in outside its buffer", 0);
    if (bytes) memcpy((char *)dst.buf->host + dst.offset, host, (size_t)bytes);
    q->last++;
    return ADEAD_EXEC_OK;
}

static adead_exec_status copy_out(adead_exec_queue *qq, void *host, adead_exec_ref src, uint64_t bytes)
{
    tiny_queue *q = qq->impl;
    if (!in_buffer(src, bytes)) return fail(q, ADEAD_EXEC_INTERNAL, "copy_out outside its buffer", 0);
    if (bytes) memcpy(host, (const char *)src.buf->host + src.offset, (size_t)bytes);
    q->last++;
    return ADEAD_EXEC_OK;
}

static int supports(const adead_exec_device *d, const adead_exec_op *op)
{
    (void)d;
    return op->kernel == ADEAD_K_RELU && op->n_in == 1 && op->out.dtype == ADEAD_EXEC_F32 &&
           op->in[0].dtype == ADEAD_EXEC_F32 && op->out.count == op->in[0].count && op->out.count >= 0;
}

/* Runs at once: the ops are done when submit returns. Element by element, so td may be ta. */
static adead_exec_status submit(adead_exec_queue *qq, const adead_exec_op *ops, uint32_t n, adead_exec_ticket *done)
{
    tiny_queue *q = qq->impl;
    for (uint32_t k = 0; k < n; k++) {
        const adead_exec_op *op = &ops[k];
        if (!supports(qq->device, op)) return fail(q, ADEAD_EXEC_UNSUPPORTED, "only RELU on f32", op->pc);
        uint64_t count = (uint64_t)op->out.count, bytes = 4 * count;
        if (count && (!in_buffer(op->out.ref, bytes) || !in_buffer(op->in[0].ref, bytes)))
            return fail(q, ADEAD_EXEC_INTERNAL, "tensor outside its buffer", op->pc);
        for (uint64_t i = 0; i < count; i++) {
            uint32_t x;
            memcpy(&x, (const char *)op->in[0].ref.buf->host + op->in[0].ref.offset + 4 * i, 4);
            x = relu_bits(x);
            memcpy((char *)op->out.ref.buf->host + op->out.ref.offset + 4 * i, &x, 4);
        }
        q->last++;
    }
    if (done) *done = q->last;
    return ADEAD_EXEC_OK;
}

static adead_exec_status wait_for(adead_exec_queue *qq, adead_exec_ticket t)
{
    tiny_queue *q = qq->impl;
    if (t > q->last) {
        snprintf(q->err, sizeof q->err, "tiny: wait for ticket %llu, never given", (unsigned long long)t);
        return ADEAD_EXEC_INTERNAL;
    }
    return ADEAD_EXEC_OK;
}

static const char *last_error(const adead_exec_queue *qq) { return ((const tiny_queue *)qq->impl)->err; }

static const char *settings(const adead_exec_queue *qq)
{
    (void)qq;
    return ""; /* it takes no settings */
}

static void close_queue(adead_exec_queue *qq) { free(qq->impl); }

static adead_exec_ticket failed_ticket(const adead_exec_queue *qq) { return ((const tiny_queue *)qq->impl)->failed; }

static const adead_exec_queue_ops queue_ops = {ADEAD_EXEC_ABI, sizeof(adead_exec_queue_ops), copy_in, copy_out,
                                               submit, wait_for, last_error, settings, close_queue, failed_ticket};

/* ---- the device ---- */

static adead_exec_status memory(const adead_exec_device *d, uint64_t *free_bytes, uint64_t *total_bytes)
{
    (void)d;
    *free_bytes = *total_bytes = (uint64_t)1 << 30; /* a test device: a nominal 1 GiB, not tracked */
    return ADEAD_EXEC_OK;
}

static adead_exec_status alloc(adead_exec_device *d, uint64_t bytes, adead_exec_buffer **out)
{
    if (bytes > (size_t)-1) return ADEAD_EXEC_DEVICE_MEMORY;
    void *host = malloc(bytes ? (size_t)bytes : 1);
    if (!host) return ADEAD_EXEC_DEVICE_MEMORY;
    adead_exec_status s = new_buffer(d, host, bytes, 1, out);
    if (s) free(host);
    return s;
}

static adead_exec_status wrap_host(adead_exec_device *d, void *host, uint64_t bytes, adead_exec_buffer **out)
{
    return new_buffer(d, host, bytes, 0, out);
}

/* It takes no parameters: any non-empty key is refused, by name. */
static adead_exec_status open_queue(adead_exec_device *d, const char *params, adead_exec_queue **out, char *err,
                                    size_t errlen)
{
    for (const char *p = params ? params : ""; *p;) {
        size_t len = strcspn(p, ","), key = strcspn(p, "=,");
        if (len) {
            if (err && errlen) snprintf(err, errlen, "tiny: unknown parameter '%.*s' (it takes none)", (int)key, p);
            return ADEAD_EXEC_BAD_PARAMS;
        }
        p += len + (p[len] == ',');
    }
    tiny_queue *q = calloc(1, sizeof *q);
    if (!q) return ADEAD_EXEC_HOST_MEMORY;
    q->q.ops = &queue_ops;
    q->q.device = d;
    q->q.impl = q;
    *out = &q->q;
    return ADEAD_EXEC_OK;
}

static const adead_exec_device_ops device_ops = {ADEAD_EXEC_ABI, sizeof(adead_exec_device_ops), supports, memory,
                                                 alloc, wrap_host, open_queue};

static adead_exec_device device = {&device_ops, "tiny host device", ADEAD_EXEC_CAP_HOST_MEMORY | ADEAD_EXEC_CAP_EXACT,
                                   NULL, NULL};

/* ---- the registry ---- */

static uint32_t score(char *why, size_t whylen)
{
    if (why && whylen) why[0] = 0;
    return 5;
}

static uint32_t device_count(void) { return 1; }

static adead_exec_device *get_device(uint32_t i) { return i == 0 ? &device : NULL; }

static const adead_exec_registry registry = {ADEAD_EXEC_ABI, sizeof(adead_exec_registry), "tiny", score,
                                             device_count, get_device};

ADEAD_EXEC_EXPORT const adead_exec_registry *adead_exec_entry(uint32_t host_abi);
const adead_exec_registry *adead_exec_entry(uint32_t host_abi) { return host_abi == ADEAD_EXEC_ABI ? &registry : NULL; }
