/* libadeadvm-cuda.so: the CUDA executor behind the executor ABI (include/adeadvm_exec.h).
 * Scoring opens the driver, every GPU's primary context and the embedded kernels, then runs the
 * conformance probe on each GPU: one that gives other bits than the reference is listed as
 * inexact, with the reason, and is used for relaxed programs only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

/* The kernels, compiled by nvcc and embedded by the build (mk/cuda.mk). */
extern const unsigned char adead_fatbin_elementwise[], adead_fatbin_matmul[], adead_fatbin_softmax[],
    adead_fatbin_attention[];

#ifndef ADEAD_CUDA_BUILT_WITH
#define ADEAD_CUDA_BUILT_WITH "?"
#endif

#define MAX_GPUS 16

static cuda_dev gpus[MAX_GPUS];
static uint32_t n_gpus;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char not_here[320];

int cuda_enter(cuda_dev *d) { return d->cu->CtxPushCurrent(d->ctx) == CU_OK ? 0 : -1; }

void cuda_leave(cuda_dev *d)
{
    CUcontext c;
    d->cu->CtxPopCurrent(&c);
}

adead_exec_status cuda_status_of(CUresult r)
{
    if (r == CU_ERROR_OUT_OF_MEMORY) return ADEAD_EXEC_DEVICE_MEMORY;
    /* 700-799: the context is gone (illegal address, launch failure, ECC, ...) */
    if (r < 0 || (r >= 700 && r < 800) || r == 999) return ADEAD_EXEC_DEVICE_LOST;
    return ADEAD_EXEC_INTERNAL;
}

/* ---- buffers ---- */

static void release(adead_exec_buffer *b)
{
    cuda_dev *d = (cuda_dev *)b->device;
    if (!cuda_enter(d)) {
        cuda_pool_free(d, (CUdeviceptr)(uintptr_t)b->impl, b->size);
        cuda_leave(d);
    }
    free(b);
}

static const adead_exec_buffer_ops buffer_ops = {ADEAD_EXEC_ABI, sizeof(adead_exec_buffer_ops), release};

static adead_exec_status alloc(adead_exec_device *dev, uint64_t bytes, adead_exec_buffer **out)
{
    cuda_dev *d = (cuda_dev *)dev;
    adead_exec_buffer *b = calloc(1, sizeof *b);
    if (!b) return ADEAD_EXEC_HOST_MEMORY;
    if (cuda_enter(d)) {
        free(b);
        return ADEAD_EXEC_DEVICE_LOST;
    }
    CUdeviceptr p = 0;
    CUresult r = cuda_pool_alloc(d, bytes ? bytes : 1, &p);
    cuda_leave(d);
    if (r != CU_OK) {
        free(b);
        return cuda_status_of(r);
    }
    b->ops = &buffer_ops;
    b->device = dev;
    b->size = bytes ? bytes : 1;
    b->host = NULL;
    b->impl = (void *)(uintptr_t)p;
    *out = b;
    return ADEAD_EXEC_OK;
}

static adead_exec_status memory(const adead_exec_device *dev, uint64_t *free_bytes, uint64_t *total_bytes)
{
    cuda_dev *d = (cuda_dev *)dev;
    size_t fr = 0, tot = 0;
    if (cuda_enter(d)) return ADEAD_EXEC_DEVICE_LOST;
    CUresult r = d->cu->MemGetInfo(&fr, &tot);
    cuda_leave(d);
    if (r != CU_OK) return cuda_status_of(r);
    pthread_mutex_lock(&d->pool.mu);
    uint64_t cached = d->pool.cached_bytes; /* free to this process, if not to the driver */
    pthread_mutex_unlock(&d->pool.mu);
    if (free_bytes) *free_bytes = fr + cached;
    if (total_bytes) *total_bytes = tot;
    return ADEAD_EXEC_OK;
}

static int supports(const adead_exec_device *d, const adead_exec_op *op)
{
    return cuda_supports_op((const cuda_dev *)d, op);
}

static const adead_exec_device_ops device_ops = {
    .abi = ADEAD_EXEC_ABI, .size = sizeof(adead_exec_device_ops), .supports = supports, .memory = memory,
    .alloc = alloc, .wrap_host = NULL, .open_queue = cuda_open_queue,
};

/* ---- discovery ---- */

static const unsigned char *module_image(int m)
{
    switch (m) {
    case CUDA_MOD_ELEMENTWISE: return adead_fatbin_elementwise;
    case CUDA_MOD_MATMUL: return adead_fatbin_matmul;
    case CUDA_MOD_SOFTMAX: return adead_fatbin_softmax;
    default: return adead_fatbin_attention;
    }
}

static int load_kernels(cuda_dev *d, char *why, size_t whylen)
{
    static const struct {
        int mod;
        const char *name;
    } fns[CUDA_FN__COUNT] = {
#define X(mod, fn, name) {CUDA_MOD_##mod, name},
        CUDA_FUNCTIONS(X)
#undef X
    };
    const cuda_api *cu = d->cu;
    char text[200];
    for (int m = 0; m < CUDA_MOD__COUNT; m++) {
        CUresult r = cu->ModuleLoadData(&d->mod[m], module_image(m));
        if (r != CU_OK) {
            int v = 0;
            cu->DriverGetVersion(&v);
            if (r == CU_ERROR_UNSUPPORTED_PTX_VERSION || r == CU_ERROR_NO_BINARY_FOR_GPU)
                snprintf(why, whylen, "the kernels do not load on compute capability %d.%d with this driver (CUDA %d.%d; "
                         "built with CUDA %s for sm_80, sm_90 and PTX 9.0): %s", d->cc_major, d->cc_minor, v / 1000,
                         v % 1000 / 10, ADEAD_CUDA_BUILT_WITH, cuda_error_text(cu, r, text, sizeof text));
            else
                snprintf(why, whylen, "loading the kernels: %s", cuda_error_text(cu, r, text, sizeof text));
            return -1;
        }
    }
    for (int f = 0; f < CUDA_FN__COUNT; f++) {
        CUresult r = cu->ModuleGetFunction(&d->fn[f], d->mod[fns[f].mod], fns[f].name);
        if (r != CU_OK) {
            snprintf(why, whylen, "kernel %s: %s", fns[f].name, cuda_error_text(cu, r, text, sizeof text));
            return -1;
        }
    }
    CUresult r = cuda_set_shared_limits(d);
    if (r != CU_OK) {
        snprintf(why, whylen, "shared memory limits: %s", cuda_error_text(cu, r, text, sizeof text));
        return -1;
    }
    return 0;
}

/* One GPU: 0 when it is usable (exact or not), -1 with the reason when it is not. */
static int open_gpu(const cuda_api *cu, int ordinal, cuda_dev *d, char *why, size_t whylen)
{
    char text[200], name[128] = "?";
    memset(d, 0, sizeof *d);
    d->cu = cu;
    CUresult r = cu->DeviceGet(&d->handle, ordinal);
    if (r == CU_OK) r = cu->DeviceGetName(name, sizeof name, d->handle);
    if (r == CU_OK) r = cu->DeviceGetAttribute(&d->cc_major, CU_ATTR_CC_MAJOR, d->handle);
    if (r == CU_OK) r = cu->DeviceGetAttribute(&d->cc_minor, CU_ATTR_CC_MINOR, d->handle);
    if (r == CU_OK) r = cu->DeviceGetAttribute(&d->sm_count, CU_ATTR_MULTIPROCESSOR_COUNT, d->handle);
    if (r == CU_OK) r = cu->DeviceGetAttribute(&d->max_shared_optin, CU_ATTR_MAX_SHARED_PER_BLOCK_OPTIN, d->handle);
    if (r != CU_OK) {
        snprintf(why, whylen, "GPU %d: %s", ordinal, cuda_error_text(cu, r, text, sizeof text));
        return -1;
    }
    name[sizeof name - 1] = 0;
    snprintf(d->name, sizeof d->name, "%s (sm_%d%d, %d SMs)", name, d->cc_major, d->cc_minor, d->sm_count);
    if (d->cc_major < 8) {
        snprintf(why, whylen, "%s: compute capability %d.%d is older than the 8.0 the kernels need (cp.async)", name,
                 d->cc_major, d->cc_minor);
        return -1;
    }
    if ((r = cu->PrimaryCtxRetain(&d->ctx, d->handle)) != CU_OK) {
        snprintf(why, whylen, "%s: no context: %s", name, cuda_error_text(cu, r, text, sizeof text));
        return -1;
    }
    pthread_mutex_init(&d->pool.mu, NULL);
    if (cuda_enter(d)) {
        snprintf(why, whylen, "%s: its context cannot be made current", name);
        return -1;
    }
    char kwhy[300];
    int bad = load_kernels(d, kwhy, sizeof kwhy);
    cuda_leave(d);
    if (bad) {
        snprintf(why, whylen, "%.100s: %.200s", name, kwhy);
        return -1;
    }
    d->dev.ops = &device_ops;
    d->dev.name = d->name;
    d->dev.impl = d;
    d->dev.caps = ADEAD_EXEC_CAP_GPU;
    if (cuda_probe(d, d->inexact, sizeof d->inexact) == 0) d->dev.caps |= ADEAD_EXEC_CAP_EXACT;
    else d->dev.inexact_reason = d->inexact;
    return 0;
}

static void discover(void)
{
    char why[320] = "";
    const cuda_api *cu = cuda_driver(why, sizeof why);
    if (!cu) {
        snprintf(not_here, sizeof not_here, "%s", why);
        return;
    }
    char text[200];
    int count = 0, version = 0;
    CUresult r = cu->Init(0);
    if (r == CU_OK) r = cu->DeviceGetCount(&count);
    if (r == CU_ERROR_NO_DEVICE || (r == CU_OK && count == 0)) {
        snprintf(not_here, sizeof not_here, "the NVIDIA driver sees no GPU");
        return;
    }
    if (r != CU_OK) {
        snprintf(not_here, sizeof not_here, "the NVIDIA driver does not start: %s", cuda_error_text(cu, r, text, sizeof text));
        return;
    }
    cu->DriverGetVersion(&version);
    for (int i = 0; i < count && n_gpus < MAX_GPUS; i++) {
        if (open_gpu(cu, i, &gpus[n_gpus], why, sizeof why) == 0) n_gpus++;
        else if (!not_here[0]) snprintf(not_here, sizeof not_here, "%s", why);
    }
    if (n_gpus) not_here[0] = 0;
}

static uint32_t score(char *why, size_t whylen)
{
    pthread_once(&once, discover);
    if (!n_gpus) snprintf(why, whylen, "%s", not_here[0] ? not_here : "no usable GPU");
    return n_gpus ? 100 : 0;
}

static uint32_t device_count(void) { return n_gpus; }
static adead_exec_device *device(uint32_t i) { return i < n_gpus ? &gpus[i].dev : NULL; }

static const adead_exec_registry registry = {
    ADEAD_EXEC_ABI, sizeof(adead_exec_registry), "cuda", score, device_count, device,
};

ADEAD_EXEC_EXPORT const adead_exec_registry *adead_exec_entry(uint32_t host_abi)
{
    return host_abi == ADEAD_EXEC_ABI ? &registry : NULL;
}
