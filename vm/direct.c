/* The seed's direct API (include/adeadvm.h, "direct"): one op at a time on the caller's memory,
 * through the same executors as the VM, so the same bits as the VM's ops. One process-wide
 * context chosen by adead_init; every call takes one mutex (the executors' queues are not
 * thread-safe), so calls from several threads are safe and run one at a time. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backends/cpu/cpu_reg.h"
#include "../backends/registry.h"
#include "../include/adeadvm.h"
#include "../util/config.h" /* DISPATCH_DEFAULT_GPU_MIN */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static adead_exec_device *cpu, *dev; /* dev: the backend's device (the CPU for the CPU backend) */
static adead_exec_queue *cpu_q, *dev_q;
static int backend = -2;               /* -2: not initialised */
static __thread char last_error[512]; /* per thread: the reason of this thread's last failure */

static int fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

const char *adead_last_error(void) { return last_error; }

static void close_all(void)
{
    if (dev_q && dev_q != cpu_q) dev_q->ops->close(dev_q);
    if (cpu_q) cpu_q->ops->close(cpu_q);
    cpu_q = dev_q = NULL;
    cpu = dev = NULL;
    backend = -2;
}

/* The exact device of executor `name`, or NULL with the reason in last_error. */
static adead_exec_device *device_named(const char *name)
{
    for (int i = 1; i < registry_count(); i++) {
        const registry_entry *e = registry_get(i);
        if (strcmp(e->name, name)) continue;
        if (e->state != REGISTRY_USABLE) {
            fail(ADEAD_E_ARG, "adead_init: the %s backend is not usable here: %s", name, e->why);
            return NULL;
        }
        for (uint32_t k = 0; k < e->n_devices; k++)
            if (e->devices[k]->caps & ADEAD_EXEC_CAP_EXACT) return e->devices[k];
        fail(ADEAD_E_ARG, "adead_init: the %s backend has no exact device (%s)", name,
             e->n_devices && e->devices[0]->inexact_reason ? e->devices[0]->inexact_reason : "none");
        return NULL;
    }
    fail(ADEAD_E_ARG, "adead_init: no %s backend in this build (its plugin was not found)", name);
    return NULL;
}

static int init_locked(int which)
{
    if (which < ADEAD_BACKEND_AUTO || which > ADEAD_BACKEND_VULKAN)
        return fail(ADEAD_E_ARG, "adead_init: backend %d is not one of -1 (auto), 0 (CPU), 1 (CUDA), 2 (Vulkan)", which);
    close_all();
    char err[256];
    cpu = cpu_registry()->device(0);
    if (cpu->ops->open_queue(cpu, NULL, &cpu_q, err, sizeof err)) return fail(ADEAD_E_NOMEM, "adead_init: %s", err);
    dev = cpu;
    dev_q = cpu_q;
    if (which == ADEAD_BACKEND_CUDA || which == ADEAD_BACKEND_VULKAN) {
        adead_exec_device *d = device_named(which == ADEAD_BACKEND_CUDA ? "cuda" : "vulkan");
        if (!d) {
            close_all();
            return ADEAD_E_ARG;
        }
        if (d->ops->open_queue(d, NULL, &dev_q, err, sizeof err)) {
            dev_q = NULL;
            close_all();
            return fail(ADEAD_E_ARG, "adead_init: no queue on %s: %s", d->name, err);
        }
        dev = d;
    } else if (which == ADEAD_BACKEND_AUTO) { /* the first exact GPU, if any */
        for (int i = 1; i < registry_count() && dev == cpu; i++) {
            const registry_entry *e = registry_get(i);
            for (uint32_t k = 0; e->state == REGISTRY_USABLE && k < e->n_devices && dev == cpu; k++)
                if ((e->devices[k]->caps & ADEAD_EXEC_CAP_EXACT) && (e->devices[k]->caps & ADEAD_EXEC_CAP_GPU) &&
                    !e->devices[k]->ops->open_queue(e->devices[k], NULL, &dev_q, err, sizeof err))
                    dev = e->devices[k];
        }
        if (dev == cpu) dev_q = cpu_q;
    }
    backend = which;
    return ADEAD_OK;
}

int adead_init(int which)
{
    pthread_mutex_lock(&mu);
    int rc = init_locked(which);
    pthread_mutex_unlock(&mu);
    return rc;
}

int adead_vulkan_init(void) { return adead_init(ADEAD_BACKEND_VULKAN); }

void adead_shutdown(void)
{
    pthread_mutex_lock(&mu);
    close_all();
    pthread_mutex_unlock(&mu);
}

int adead_backend(void) { return backend; }

void *adead_alloc(size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, size ? size : 1)) {
        fail(ADEAD_E_NOMEM, "adead_alloc: %zu bytes: out of memory", size);
        return NULL;
    }
    return p;
}

void adead_free(void *ptr) { free(ptr); }

/* ---- one op ---- */

typedef struct {
    const void *data;
    int rank;
    int64_t dims[4];
} host_arg;

static int64_t count_of(const host_arg *a)
{
    int64_t n = 1;
    for (int i = 0; i < a->rank; i++) n *= a->dims[i];
    return n;
}

static adead_exec_tensor tensor(const host_arg *a, adead_exec_buffer *b)
{
    adead_exec_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = ADEAD_EXEC_F32;
    t.rank = a->rank;
    memcpy(t.dims, a->dims, sizeof t.dims);
    t.count = count_of(a);
    t.ref.buf = b;
    return t;
}

static int overlaps(const void *p, int64_t pn, const void *q, int64_t qn)
{
    const char *a = p, *b = q;
    return pn && qn && a < b + 4 * qn && b < a + 4 * pn;
}

/* Runs kernel on in[0..n_in) into out, on the device when it supports the op (auto: when the
 * dispatch rule's size says so), else on the CPU. `across`: an output element reads other input
 * elements, so an output that overlaps an input is computed into scratch first. */
static int run_locked(const char *fn, uint32_t kernel, const host_arg *in, int n_in, const host_arg *out, int across)
{
    if (backend == -2 && init_locked(ADEAD_BACKEND_AUTO)) return ADEAD_E_ARG;
    int64_t on = count_of(out);
    for (int i = 0; i < n_in; i++)
        if (!in[i].data && count_of(&in[i])) return fail(ADEAD_E_ARG, "%s: input %d is NULL", fn, i + 1);
    if (!out->data && on) return fail(ADEAD_E_ARG, "%s: the output is NULL", fn);
    if (!on) return ADEAD_OK;
    float *scratch = NULL, *dst = (float *)(uintptr_t)out->data;
    for (int i = 0; across && i < n_in && !scratch; i++)
        if (overlaps(out->data, on, in[i].data, count_of(&in[i]))) {
            if (!(scratch = malloc((size_t)on * 4))) return fail(ADEAD_E_NOMEM, "%s: out of memory", fn);
            dst = scratch;
        }
    adead_exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = kernel;
    op.n_in = (uint32_t)n_in;
    adead_exec_buffer *bufs[4] = {NULL, NULL, NULL, NULL};
    adead_exec_device *d = dev;
    adead_exec_queue *q = dev_q;
    /* A probe op on NULL buffers: supports() reads shapes and offsets only. */
    for (int i = 0; i < n_in; i++) op.in[i] = tensor(&in[i], NULL);
    op.out = tensor(out, NULL);
    int64_t biggest = on;
    for (int i = 0; i < n_in; i++) biggest = count_of(&in[i]) > biggest ? count_of(&in[i]) : biggest;
    int on_device = d != cpu && d->ops->supports(d, &op) &&
                    (backend != ADEAD_BACKEND_AUTO || ((kernel == ADEAD_K_MATMUL || kernel == ADEAD_K_ATTENTION) && biggest >= DISPATCH_DEFAULT_GPU_MIN));
    if (!on_device) {
        d = cpu;
        q = cpu_q;
    }
    adead_exec_status st = ADEAD_EXEC_OK;
    host_arg o = *out;
    o.data = dst;
    for (int i = 0; i <= n_in && !st; i++) {
        const host_arg *a = i < n_in ? &in[i] : &o;
        uint64_t bytes = (uint64_t)count_of(a) * 4;
        if (d == cpu) st = d->ops->wrap_host(d, (void *)(uintptr_t)a->data, bytes ? bytes : 4, &bufs[i]);
        else {
            st = d->ops->alloc(d, bytes, &bufs[i]);
            if (!st && i < n_in && bytes) st = q->ops->copy_in(q, (adead_exec_ref){bufs[i], 0}, a->data, bytes);
        }
        if (st) break;
        if (i < n_in) op.in[i] = tensor(a, bufs[i]);
        else op.out = tensor(a, bufs[i]);
    }
    adead_exec_ticket t;
    if (!st) st = q->ops->submit(q, &op, 1, &t);
    if (!st && d != cpu) st = q->ops->copy_out(q, dst, op.out.ref, (uint64_t)on * 4);
    if (!st) st = q->ops->wait(q, 0);
    char why[300] = "";
    if (st) snprintf(why, sizeof why, "%s", q->ops->last_error(q));
    for (int i = 0; i < 4; i++)
        if (bufs[i]) bufs[i]->ops->release(bufs[i]);
    if (!st && scratch) memcpy((void *)(uintptr_t)out->data, scratch, (size_t)on * 4);
    free(scratch);
    if (st) {
        if (d != cpu && (st == ADEAD_EXEC_DEVICE_MEMORY || st == ADEAD_EXEC_UNSUPPORTED)) { /* same bits on the CPU */
            adead_exec_device *keep = dev;
            dev = cpu;
            int rc = run_locked(fn, kernel, in, n_in, out, across);
            dev = keep;
            return rc;
        }
        return fail(st == ADEAD_EXEC_HOST_MEMORY ? ADEAD_E_NOMEM : ADEAD_E_TRAP, "%s on %s: %s", fn, d->name, why);
    }
    return ADEAD_OK;
}

static int run(const char *fn, uint32_t kernel, const host_arg *in, int n_in, const host_arg *out, int across)
{
    pthread_mutex_lock(&mu);
    int rc = run_locked(fn, kernel, in, n_in, out, across);
    pthread_mutex_unlock(&mu);
    return rc;
}

int adead_matmul(const float *a, const float *b, float *c, int m, int n, int k)
{
    if (m < 0 || n < 0 || k < 0) return fail(ADEAD_E_ARG, "adead_matmul: m = %d, n = %d, k = %d: sizes cannot be negative", m, n, k);
    host_arg in[2] = {{a, 2, {m, k, 0, 0}}, {b, 2, {k, n, 0, 0}}}, out = {c, 2, {m, n, 0, 0}};
    return run("adead_matmul", ADEAD_K_MATMUL, in, 2, &out, 1);
}

int adead_softmax(const float *in, float *out, int rows, int cols)
{
    if (rows < 0 || cols < 0) return fail(ADEAD_E_ARG, "adead_softmax: rows = %d, cols = %d: sizes cannot be negative", rows, cols);
    if (rows && !cols) return fail(ADEAD_E_ARG, "adead_softmax: rows of 0 columns have no softmax");
    host_arg x = {in, 2, {rows, cols, 0, 0}}, y = {out, 2, {rows, cols, 0, 0}};
    /* out may be in (the op reads a row before writing it); other overlaps go through scratch. */
    return run("adead_softmax", ADEAD_K_SOFTMAX, &x, 1, &y, in != out);
}

int adead_relu(const float *in, float *out, int size)
{
    if (size < 0) return fail(ADEAD_E_ARG, "adead_relu: size = %d cannot be negative", size);
    host_arg x = {in, 1, {size, 0, 0, 0}}, y = {out, 1, {size, 0, 0, 0}};
    return run("adead_relu", ADEAD_K_RELU, &x, 1, &y, in != out);
}

int adead_attention(const float *q, const float *k, const float *v, float *out, int seq_len, int dim, int heads)
{
    if (seq_len < 0 || dim < 0 || heads < 0)
        return fail(ADEAD_E_ARG, "adead_attention: seq_len = %d, dim = %d, heads = %d: sizes cannot be negative", seq_len, dim, heads);
    host_arg in[3] = {{q, 3, {heads, seq_len, dim, 0}}, {k, 3, {heads, seq_len, dim, 0}}, {v, 3, {heads, seq_len, dim, 0}}};
    host_arg o = {out, 3, {heads, seq_len, dim, 0}};
    return run("adead_attention", ADEAD_K_ATTENTION, in, 3, &o, 1);
}
