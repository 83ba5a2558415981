/* A test executor that behaves like a GPU, behind the executor ABI (include/adeadvm_exec.h):
 * its buffers are its own memory, which the VM cannot address (buffer->host is NULL) and which
 * starts as NaN garbage; its queue runs every command late, in order, in a thread of its own
 * (copy_out writes the host's bytes only then); and it fails on demand: out of device memory,
 * device lost at the Nth op, a kernel it does not support. The arithmetic is the CPU executor's,
 * so any difference from a CPU run is the VM's plumbing: a missing copy or a missing wait. */
#ifndef ADEAD_FAKE_GPU_H
#define ADEAD_FAKE_GPU_H

#include "../backends/cpu/cpu_reg.h"
#include "../include/adeadvm_exec.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint64_t memory_bytes;       /* device memory: an alloc past it is DEVICE_MEMORY (0: none) */
    uint32_t lose_device_at_op;  /* the Nth op run fails with DEVICE_LOST (0: never) */
    uint32_t unsupported_kernel; /* supports() refuses this kernel id (0: none) */
    uint32_t refuse_at_submit;   /* supports() says yes, submit says UNSUPPORTED for this id */
    long delay_ns;               /* each command sleeps this long first: results arrive late */
} fake_gpu_config;

typedef struct {
    uint64_t ops, copies_in, copies_out, allocs, releases, bytes_in_use;
} fake_gpu_stats;

enum { FAKE_COPY_IN, FAKE_COPY_OUT, FAKE_OP };

typedef struct fake_cmd {
    int kind;
    adead_exec_ticket ticket;
    void *host;            /* COPY_OUT: where the bytes go */
    unsigned char *staged; /* COPY_IN: the host bytes, taken at the call (the ABI's rule) */
    adead_exec_ref ref;
    uint64_t bytes;
    adead_exec_op op;
    struct fake_cmd *next;
} fake_cmd;

typedef struct fake_gpu fake_gpu;

typedef struct {
    adead_exec_queue q;
    fake_gpu *g;
    pthread_t worker;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fake_cmd *head, *tail;
    adead_exec_ticket issued, done, failed;
    int failed_status, stopping;
    char err[256];
    adead_exec_queue *cpu; /* runs the ops on the fake's memory */
} fake_queue;

struct fake_gpu {
    adead_exec_device dev;
    adead_exec_device_ops ops;
    fake_gpu_config cfg;
    fake_gpu_stats stats;
    pthread_mutex_t mu;
};

static const adead_exec_buffer_ops fake_buffer_ops;

static void fake_buffer_release(adead_exec_buffer *b)
{
    fake_gpu *g = (fake_gpu *)b->device;
    pthread_mutex_lock(&g->mu);
    g->stats.releases++;
    g->stats.bytes_in_use -= b->size;
    pthread_mutex_unlock(&g->mu);
    free(b->impl);
    free(b);
}

static const adead_exec_buffer_ops fake_buffer_ops = {ADEAD_EXEC_ABI, sizeof(adead_exec_buffer_ops), fake_buffer_release};

static unsigned char *fake_mem(adead_exec_ref r) { return (unsigned char *)r.buf->impl + r.offset; }

static int fake_supports(const adead_exec_device *d, const adead_exec_op *op)
{
    const fake_gpu *g = (const fake_gpu *)d;
    return op->kernel != g->cfg.unsupported_kernel;
}

static adead_exec_status fake_memory(const adead_exec_device *d, uint64_t *free_bytes, uint64_t *total)
{
    const fake_gpu *g = (const fake_gpu *)d;
    uint64_t cap = g->cfg.memory_bytes ? g->cfg.memory_bytes : UINT64_MAX;
    if (free_bytes) *free_bytes = cap - g->stats.bytes_in_use;
    if (total) *total = cap;
    return ADEAD_EXEC_OK;
}

static adead_exec_status fake_alloc(adead_exec_device *d, uint64_t bytes, adead_exec_buffer **out)
{
    fake_gpu *g = (fake_gpu *)d;
    pthread_mutex_lock(&g->mu);
    int full = g->cfg.memory_bytes && g->stats.bytes_in_use + bytes > g->cfg.memory_bytes;
    if (!full) {
        g->stats.bytes_in_use += bytes;
        g->stats.allocs++;
    }
    pthread_mutex_unlock(&g->mu);
    if (full) return ADEAD_EXEC_DEVICE_MEMORY;
    adead_exec_buffer *b = calloc(1, sizeof *b);
    void *mem = malloc(bytes ? (size_t)bytes : 1);
    if (!b || !mem) {
        free(b);
        free(mem);
        return ADEAD_EXEC_HOST_MEMORY;
    }
    memset(mem, 0xFF, (size_t)bytes); /* NaN garbage: a missing copy_in shows in the bits */
    b->ops = &fake_buffer_ops;
    b->device = d;
    b->size = bytes;
    b->host = NULL; /* the VM must copy, never peek */
    b->impl = mem;
    *out = b;
    return ADEAD_EXEC_OK;
}

/* Runs one op on the CPU executor over the fake's memory (wrapped as CPU buffers). */
static adead_exec_status fake_run_op(fake_queue *fq, const adead_exec_op *op)
{
    adead_exec_device *cpu = cpu_registry()->device(0);
    adead_exec_op h = *op;
    adead_exec_buffer *wrapped[4] = {NULL, NULL, NULL, NULL};
    adead_exec_tensor *ts[4] = {&h.out, &h.in[0], &h.in[1], &h.in[2]};
    adead_exec_status st = ADEAD_EXEC_OK;
    for (uint32_t i = 0; i <= op->n_in && !st; i++) {
        adead_exec_ref r = ts[i]->ref;
        st = cpu->ops->wrap_host(cpu, r.buf->impl, r.buf->size, &wrapped[i]);
        ts[i]->ref.buf = wrapped[i];
    }
    adead_exec_ticket t;
    if (!st) st = fq->cpu->ops->submit(fq->cpu, &h, 1, &t);
    if (!st) st = fq->cpu->ops->wait(fq->cpu, t);
    for (int i = 0; i < 4; i++)
        if (wrapped[i]) wrapped[i]->ops->release(wrapped[i]);
    return st;
}

static void fake_sleep(long ns)
{
    if (ns <= 0) return;
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

static void *fake_worker(void *arg)
{
    fake_queue *fq = arg;
    fake_gpu *g = fq->g;
    pthread_mutex_lock(&fq->mu);
    for (;;) {
        while (!fq->head && !fq->stopping) pthread_cond_wait(&fq->cv, &fq->mu);
        if (!fq->head) break;
        fake_cmd *c = fq->head;
        fq->head = c->next;
        if (!fq->head) fq->tail = NULL;
        int dead = fq->failed != 0;
        pthread_mutex_unlock(&fq->mu);
        adead_exec_status st = ADEAD_EXEC_OK;
        if (!dead) { /* after a failure nothing more runs */
            fake_sleep(g->cfg.delay_ns);
            if (c->kind == FAKE_COPY_IN) {
                memcpy(fake_mem(c->ref), c->staged, (size_t)c->bytes);
                g->stats.copies_in++;
            } else if (c->kind == FAKE_COPY_OUT) {
                memcpy(c->host, fake_mem(c->ref), (size_t)c->bytes);
                g->stats.copies_out++;
            } else {
                g->stats.ops++;
                if (g->cfg.lose_device_at_op && g->stats.ops == g->cfg.lose_device_at_op) st = ADEAD_EXEC_DEVICE_LOST;
                else st = fake_run_op(fq, &c->op);
            }
        }
        pthread_mutex_lock(&fq->mu);
        if (st && !fq->failed) {
            fq->failed = c->ticket;
            fq->failed_status = st;
            snprintf(fq->err, sizeof fq->err, st == ADEAD_EXEC_DEVICE_LOST ? "the fake GPU fell off the bus (injected)"
                                                                           : "the op failed on the fake GPU");
        }
        fq->done = c->ticket;
        pthread_cond_broadcast(&fq->cv);
        free(c->staged);
        free(c);
    }
    pthread_mutex_unlock(&fq->mu);
    return NULL;
}

static adead_exec_status fake_push(fake_queue *fq, fake_cmd *c)
{
    pthread_mutex_lock(&fq->mu);
    if (fq->failed) {
        adead_exec_status st = (adead_exec_status)fq->failed_status;
        pthread_mutex_unlock(&fq->mu);
        free(c->staged);
        free(c);
        return st;
    }
    c->ticket = ++fq->issued;
    if (fq->tail) fq->tail->next = c;
    else fq->head = c;
    fq->tail = c;
    pthread_cond_broadcast(&fq->cv);
    pthread_mutex_unlock(&fq->mu);
    return ADEAD_EXEC_OK;
}

static adead_exec_status fake_copy_in(adead_exec_queue *q, adead_exec_ref dst, const void *host, uint64_t bytes)
{
    fake_cmd *c = calloc(1, sizeof *c);
    if (!c || !(c->staged = malloc(bytes ? (size_t)bytes : 1))) {
        free(c);
        return ADEAD_EXEC_HOST_MEMORY;
    }
    memcpy(c->staged, host, (size_t)bytes);
    c->kind = FAKE_COPY_IN;
    c->ref = dst;
    c->bytes = bytes;
    return fake_push((fake_queue *)q, c);
}

static adead_exec_status fake_copy_out(adead_exec_queue *q, void *host, adead_exec_ref src, uint64_t bytes)
{
    fake_cmd *c = calloc(1, sizeof *c);
    if (!c) return ADEAD_EXEC_HOST_MEMORY;
    c->kind = FAKE_COPY_OUT;
    c->host = host;
    c->ref = src;
    c->bytes = bytes;
    return fake_push((fake_queue *)q, c);
}

static adead_exec_status fake_submit(adead_exec_queue *q, const adead_exec_op *ops, uint32_t n, adead_exec_ticket *done)
{
    fake_queue *fq = (fake_queue *)q;
    for (uint32_t i = 0; i < n; i++) {
        if (ops[i].kernel == fq->g->cfg.refuse_at_submit) {
            snprintf(fq->err, sizeof fq->err, "kernel %u is not run here (injected)", ops[i].kernel);
            return ADEAD_EXEC_UNSUPPORTED;
        }
        fake_cmd *c = calloc(1, sizeof *c);
        if (!c) return ADEAD_EXEC_HOST_MEMORY;
        c->kind = FAKE_OP;
        c->op = ops[i];
        adead_exec_status st = fake_push(fq, c);
        if (st) return st;
    }
    *done = fq->issued;
    return ADEAD_EXEC_OK;
}

static adead_exec_status fake_wait(adead_exec_queue *q, adead_exec_ticket t)
{
    fake_queue *fq = (fake_queue *)q;
    pthread_mutex_lock(&fq->mu);
    if (!t) t = fq->issued;
    while (fq->done < t && !(fq->failed && fq->done >= fq->failed)) pthread_cond_wait(&fq->cv, &fq->mu);
    adead_exec_status st = fq->failed && fq->failed <= t ? (adead_exec_status)fq->failed_status : ADEAD_EXEC_OK;
    pthread_mutex_unlock(&fq->mu);
    return st;
}

static const char *fake_last_error(const adead_exec_queue *q) { return ((const fake_queue *)q)->err; }
static const char *fake_settings(const adead_exec_queue *q)
{
    (void)q;
    return "";
}
static adead_exec_ticket fake_failed_ticket(const adead_exec_queue *q) { return ((const fake_queue *)q)->failed; }

static void fake_close(adead_exec_queue *q)
{
    fake_queue *fq = (fake_queue *)q;
    pthread_mutex_lock(&fq->mu);
    fq->stopping = 1;
    pthread_cond_broadcast(&fq->cv);
    pthread_mutex_unlock(&fq->mu);
    pthread_join(fq->worker, NULL);
    fq->cpu->ops->close(fq->cpu);
    pthread_mutex_destroy(&fq->mu);
    pthread_cond_destroy(&fq->cv);
    free(fq);
}

static const adead_exec_queue_ops fake_queue_ops = {
    .abi = ADEAD_EXEC_ABI, .size = sizeof(adead_exec_queue_ops), .copy_in = fake_copy_in, .copy_out = fake_copy_out,
    .submit = fake_submit, .wait = fake_wait, .last_error = fake_last_error, .settings = fake_settings,
    .close = fake_close, .failed_ticket = fake_failed_ticket,
};

static adead_exec_status fake_open_queue(adead_exec_device *d, const char *params, adead_exec_queue **out, char *err, size_t errlen)
{
    if (params && *params) {
        snprintf(err, errlen, "the fake GPU takes no parameters, got \"%s\"", params);
        return ADEAD_EXEC_BAD_PARAMS;
    }
    fake_queue *fq = calloc(1, sizeof *fq);
    if (!fq) return ADEAD_EXEC_HOST_MEMORY;
    adead_exec_device *cpu = cpu_registry()->device(0);
    if (cpu->ops->open_queue(cpu, "threads=1", &fq->cpu, err, errlen)) {
        free(fq);
        return ADEAD_EXEC_HOST_MEMORY;
    }
    fq->q.ops = &fake_queue_ops;
    fq->q.device = d;
    fq->q.impl = fq;
    fq->g = (fake_gpu *)d;
    pthread_mutex_init(&fq->mu, NULL);
    pthread_cond_init(&fq->cv, NULL);
    pthread_create(&fq->worker, NULL, fake_worker, fq);
    *out = &fq->q;
    return ADEAD_EXEC_OK;
}

static fake_gpu *fake_gpu_create(const fake_gpu_config *cfg)
{
    fake_gpu *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->cfg = *cfg;
    g->ops.abi = ADEAD_EXEC_ABI;
    g->ops.size = sizeof g->ops;
    g->ops.supports = fake_supports;
    g->ops.memory = fake_memory;
    g->ops.alloc = fake_alloc;
    g->ops.open_queue = fake_open_queue; /* no wrap_host: it cannot use host memory */
    g->dev.ops = &g->ops;
    g->dev.name = "fakegpu";
    g->dev.caps = ADEAD_EXEC_CAP_EXACT | ADEAD_EXEC_CAP_GPU;
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

static void fake_gpu_destroy(fake_gpu *g)
{
    if (!g) return;
    pthread_mutex_destroy(&g->mu);
    free(g);
}

#endif
