/* A queue is a CUDA stream: copies and kernels go on it in order, and a ticket is done when the
 * stream has passed it. Host bytes go through pinned staging buffers (the driver copies pageable
 * memory through a bounce buffer of its own, synchronously): copy_in has copied its bytes into
 * them when it returns, as the ABI wants, and the DMA runs behind; copy_out returns with the
 * bytes in place (earlier work first: it is the VM's read of a result). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_fuse.h"

static cuda_queue *of(adead_exec_queue *q) { return (cuda_queue *)q->impl; }

/* Records a failure (the first one wins) and returns its status. ticket: the work to blame, 0
 * when it cannot be told (an error of a kernel that ran earlier shows in a later call). */
static adead_exec_status fail(cuda_queue *cq, adead_exec_ticket ticket, CUresult r, const char *what)
{
    if (!cq->failed_status) {
        char text[200];
        cq->failed_status = cuda_status_of(r);
        cq->failed = ticket;
        snprintf(cq->err, sizeof cq->err, "%s: %s", what, cuda_error_text(cq->d->cu, r, text, sizeof text));
    }
    return cq->failed_status;
}

/* Launches the held fused run before anything that must follow it (context current). */
static adead_exec_status flush_run(cuda_queue *cq)
{
    adead_exec_ticket blame = 0;
    CUresult r = cuda_fuse_flush(cq, &blame);
    return r == CU_OK ? ADEAD_EXEC_OK : fail(cq, blame, r, "kernel launch");
}

static void stage_init(cuda_queue *cq)
{
    if (cq->stage[0] || cq->staging_failed) return;
    for (int i = 0; i < CUDA_STAGES; i++) {
        if (cq->d->cu->MemAllocHost((void **)&cq->stage[i], CUDA_STAGE_BYTES) != CU_OK ||
            cq->d->cu->EventCreate(&cq->stage_done[i], CU_EVENT_DISABLE_TIMING) != CU_OK) {
            cq->staging_failed = 1; /* no pinned memory: copies go straight from pageable memory */
            return;
        }
    }
}

/* The next staging buffer, once the copy that used it last is done. */
static CUresult take_stage(cuda_queue *cq, int *slot)
{
    int s = cq->next_stage;
    cq->next_stage = (s + 1) % CUDA_STAGES;
    CUresult r = cq->stage_pending[s] ? cq->d->cu->EventSynchronize(cq->stage_done[s]) : CU_OK;
    cq->stage_pending[s] = 0;
    *slot = s;
    return r;
}

static adead_exec_status copy_in(adead_exec_queue *q, adead_exec_ref dst, const void *host, uint64_t bytes)
{
    cuda_queue *cq = of(q);
    if (cq->failed_status) return cq->failed_status;
    adead_exec_ticket t = ++cq->issued;
    if (!bytes) return ADEAD_EXEC_OK;
    if (cuda_enter(cq->d)) return fail(cq, t, -1, "copy in");
    adead_exec_status held = flush_run(cq);
    if (held) {
        cuda_leave(cq->d);
        return held;
    }
    const cuda_api *cu = cq->d->cu;
    CUdeviceptr to = (CUdeviceptr)(uintptr_t)dst.buf->impl + dst.offset;
    CUresult r = CU_OK;
    stage_init(cq);
    if (!cq->stage[CUDA_STAGES - 1] || cq->staging_failed) {
        r = cu->StreamSynchronize(cq->stream);
        if (r == CU_OK) r = cu->MemcpyHtoDAsync(to, host, (size_t)bytes, cq->stream);
        if (r == CU_OK) r = cu->StreamSynchronize(cq->stream); /* the pageable bytes are read */
    }
    for (uint64_t off = 0; r == CU_OK && cq->stage[CUDA_STAGES - 1] && !cq->staging_failed && off < bytes;) {
        uint64_t n = bytes - off < CUDA_STAGE_BYTES ? bytes - off : CUDA_STAGE_BYTES;
        int s;
        if ((r = take_stage(cq, &s)) != CU_OK) break;
        memcpy(cq->stage[s], (const unsigned char *)host + off, (size_t)n);
        r = cu->MemcpyHtoDAsync(to + off, cq->stage[s], (size_t)n, cq->stream);
        if (r == CU_OK) r = cu->EventRecord(cq->stage_done[s], cq->stream);
        cq->stage_pending[s] = r == CU_OK;
        off += n;
    }
    cuda_leave(cq->d);
    return r == CU_OK ? ADEAD_EXEC_OK : fail(cq, t, r, "copy in");
}

static adead_exec_status copy_out(adead_exec_queue *q, void *host, adead_exec_ref src, uint64_t bytes)
{
    cuda_queue *cq = of(q);
    if (cq->failed_status) return cq->failed_status;
    adead_exec_ticket t = ++cq->issued;
    if (!bytes) return ADEAD_EXEC_OK;
    if (cuda_enter(cq->d)) return fail(cq, t, -1, "copy out");
    adead_exec_status held = flush_run(cq);
    if (held) {
        cuda_leave(cq->d);
        return held;
    }
    const cuda_api *cu = cq->d->cu;
    CUdeviceptr from = (CUdeviceptr)(uintptr_t)src.buf->impl + src.offset;
    CUresult r = CU_OK;
    stage_init(cq);
    if (!cq->stage[CUDA_STAGES - 1] || cq->staging_failed) {
        r = cu->MemcpyDtoHAsync(host, from, (size_t)bytes, cq->stream);
        if (r == CU_OK) r = cu->StreamSynchronize(cq->stream);
    } else {
        /* Pieces in flight in every staging buffer; each is copied out of its buffer when its
         * DMA is done, oldest first. */
        struct {
            uint64_t off, n;
        } piece[CUDA_STAGES];
        int slot_of[CUDA_STAGES], in_flight = 0, head = 0;
        uint64_t off = 0;
        while (r == CU_OK && (off < bytes || in_flight)) {
            if (off < bytes && in_flight < CUDA_STAGES) {
                uint64_t n = bytes - off < CUDA_STAGE_BYTES ? bytes - off : CUDA_STAGE_BYTES;
                int s;
                if ((r = take_stage(cq, &s)) != CU_OK) break;
                r = cu->MemcpyDtoHAsync(cq->stage[s], from + off, (size_t)n, cq->stream);
                if (r == CU_OK) r = cu->EventRecord(cq->stage_done[s], cq->stream);
                cq->stage_pending[s] = r == CU_OK;
                int k = (head + in_flight) % CUDA_STAGES;
                piece[k].off = off;
                piece[k].n = n;
                slot_of[k] = s;
                in_flight++;
                off += n;
                continue;
            }
            int s = slot_of[head];
            r = cu->EventSynchronize(cq->stage_done[s]);
            cq->stage_pending[s] = 0;
            if (r == CU_OK) memcpy((unsigned char *)host + piece[head].off, cq->stage[s], (size_t)piece[head].n);
            head = (head + 1) % CUDA_STAGES;
            in_flight--;
        }
    }
    cuda_leave(cq->d);
    return r == CU_OK ? ADEAD_EXEC_OK : fail(cq, t, r, "copy out");
}

static adead_exec_status submit(adead_exec_queue *q, const adead_exec_op *ops, uint32_t n, adead_exec_ticket *done)
{
    cuda_queue *cq = of(q);
    if (cq->failed_status) return cq->failed_status;
    if (cuda_enter(cq->d)) return fail(cq, cq->issued + 1, -1, "submit");
    adead_exec_status st = ADEAD_EXEC_OK;
    for (uint32_t i = 0; i < n && !st; i++) {
        if (!cuda_supports_op(cq->d, &ops[i])) {
            /* Not sticky, and no ticket taken: the caller counts one per op the queue took. */
            snprintf(cq->err, sizeof cq->err, "kernel %u with these dtypes or sizes is not run by the CUDA executor",
                     ops[i].kernel);
            st = ADEAD_EXEC_UNSUPPORTED;
            break;
        }
        adead_exec_ticket t = ++cq->issued;
        if (cuda_fuse_take(cq, &ops[i], t)) continue; /* held, or joined the held run */
        if ((st = flush_run(cq))) break;
        if (cuda_fuse_take(cq, &ops[i], t)) continue; /* it starts a run of its own */
        CUresult r = cuda_launch(cq, &ops[i]);
        if (r != CU_OK) st = fail(cq, t, r, "kernel launch");
    }
    cuda_leave(cq->d);
    *done = cq->issued;
    return st;
}

static adead_exec_status wait(adead_exec_queue *q, adead_exec_ticket t)
{
    cuda_queue *cq = of(q);
    if (cq->failed_status) return cq->failed && t && cq->failed > t ? ADEAD_EXEC_OK : cq->failed_status;
    if (t && t <= cq->synced) return ADEAD_EXEC_OK; /* (a held run's tickets are all past synced) */
    adead_exec_ticket upto = cq->issued;
    if (cuda_enter(cq->d)) return fail(cq, 0, -1, "wait");
    adead_exec_status held = flush_run(cq);
    if (held) {
        cuda_leave(cq->d);
        return held;
    }
    CUresult r = cq->d->cu->StreamSynchronize(cq->stream);
    cuda_leave(cq->d);
    if (r != CU_OK) /* a kernel failed as it ran: the one to blame is known only when one was pending */
        return fail(cq, upto == cq->synced + 1 ? upto : 0, r, "running on the GPU");
    cq->synced = upto;
    return ADEAD_EXEC_OK;
}

static const char *last_error(const adead_exec_queue *q) { return ((const cuda_queue *)q->impl)->err; }
static const char *settings(const adead_exec_queue *q) { return ((const cuda_queue *)q->impl)->settings; }
static adead_exec_ticket failed_ticket(const adead_exec_queue *q) { return ((const cuda_queue *)q->impl)->failed; }

static void close_queue(adead_exec_queue *q)
{
    cuda_queue *cq = of(q);
    if (!cuda_enter(cq->d)) {
        const cuda_api *cu = cq->d->cu;
        if (!cq->failed_status) flush_run(cq);
        cu->StreamSynchronize(cq->stream);
        for (int i = 0; i < CUDA_STAGES; i++) {
            if (cq->stage[i]) cu->MemFreeHost(cq->stage[i]);
            if (cq->stage_done[i]) cu->EventDestroy(cq->stage_done[i]);
        }
        cu->StreamDestroy(cq->stream);
        cuda_leave(cq->d);
    }
    free(cq);
}

static const adead_exec_queue_ops queue_ops = {
    .abi = ADEAD_EXEC_ABI, .size = sizeof(adead_exec_queue_ops), .copy_in = copy_in, .copy_out = copy_out,
    .submit = submit, .wait = wait, .last_error = last_error, .settings = settings, .close = close_queue,
    .failed_ticket = failed_ticket,
};

/* params: "matmul=auto|128x128x8|...|skinny" (MATMUL's kernel; the bits never change). */
static int parse_params(cuda_queue *cq, const char *params, char *err, size_t errlen)
{
    cq->tile = CUDA_MM_AUTO;
    cq->fuse = 1;
    for (const char *p = params ? params : ""; *p;) {
        size_t len = strcspn(p, ","), i;
        if (len > 7 && !strncmp(p, "matmul=", 7)) {
            for (i = 0; i < CUDA_MM__COUNT; i++)
                if (strlen(cuda_tile_names[i]) == len - 7 && !strncmp(p + 7, cuda_tile_names[i], len - 7)) break;
            if (i == CUDA_MM__COUNT) {
                size_t n = (size_t)snprintf(err, errlen, "matmul=%.*s: not a tile (", (int)(len - 7), p + 7);
                for (i = 0; i < CUDA_MM__COUNT && n < errlen; i++)
                    n += (size_t)snprintf(err + n, errlen - n, "%s%s", i ? ", " : "", cuda_tile_names[i]);
                if (n < errlen) snprintf(err + n, errlen - n, ")");
                return -1;
            }
            cq->tile = (cuda_tile)i;
        } else if (len == 7 && !strncmp(p, "fuse=on", 7)) {
            cq->fuse = 1;
        } else if (len == 8 && !strncmp(p, "fuse=off", 8)) {
            cq->fuse = 0;
        } else if (len == 14 && !strncmp(p, "attention=warp", 14)) {
            cq->attention_warp = 1;
        } else if (len == 15 && !strncmp(p, "attention=tiled", 15)) {
            cq->attention_warp = 0;
        } else if (len) {
            snprintf(err, errlen, "unknown parameter \"%.*s\" (the CUDA executor takes matmul=TILE, attention=tiled|warp, fuse=on|off)",
                     (int)len, p);
            return -1;
        }
        p += len + (p[len] == ',');
    }
    snprintf(cq->settings, sizeof cq->settings, "matmul=%s,attention=%s,fuse=%s", cuda_tile_names[cq->tile],
             cq->attention_warp ? "warp" : "tiled", cq->fuse ? "on" : "off");
    return 0;
}

adead_exec_status cuda_open_queue(adead_exec_device *dev, const char *params, adead_exec_queue **out, char *err,
                                  size_t errlen)
{
    cuda_dev *d = (cuda_dev *)dev;
    cuda_queue *cq = calloc(1, sizeof *cq);
    if (!cq) return ADEAD_EXEC_HOST_MEMORY;
    cq->d = d;
    if (parse_params(cq, params, err, errlen)) {
        free(cq);
        return ADEAD_EXEC_BAD_PARAMS;
    }
    if (cuda_enter(d)) {
        snprintf(err, errlen, "cannot make the GPU's context current");
        free(cq);
        return ADEAD_EXEC_DEVICE_LOST;
    }
    CUresult r = d->cu->StreamCreate(&cq->stream, CU_STREAM_NON_BLOCKING);
    cuda_leave(d);
    if (r != CU_OK) {
        char text[200];
        snprintf(err, errlen, "cannot create a stream: %s", cuda_error_text(d->cu, r, text, sizeof text));
        free(cq);
        return cuda_status_of(r);
    }
    cq->q.ops = &queue_ops;
    cq->q.device = dev;
    cq->q.impl = cq;
    *out = &cq->q;
    return ADEAD_EXEC_OK;
}
