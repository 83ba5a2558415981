/* The CUDA executor's conformance probe: the shared one (backends/conformance/) after the check of
 * the exp shortcut its SOFTMAX and ATTENTION kernels take. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../conformance/conformance.h"
#include "cuda_internal.h"

typedef struct {
    cuda_dev *d;
    adead_exec_queue *q;
    char *why;
    size_t whylen;
} probe;

/* The exp shortcut SOFTMAX and ATTENTION use (m_exp_nonpos) against the definition's m_exp
 * over every float they can pass (2^31 + 2^23 + 1 inputs; milliseconds). */
static int probe_exp(probe *p)
{
    cuda_queue *cq = (cuda_queue *)p->q->impl;
    unsigned result[2] = {0, 0};
    adead_exec_buffer *b = NULL;
    adead_exec_status st = p->d->dev.ops->alloc(&p->d->dev, sizeof result, &b);
    if (!st) st = p->q->ops->copy_in(p->q, (adead_exec_ref){b, 0}, result, sizeof result);
    if (!st && !cuda_enter(p->d)) {
        if (cuda_launch_exp_selfcheck(cq, (CUdeviceptr)(uintptr_t)b->impl) != CU_OK) st = ADEAD_EXEC_INTERNAL;
        cuda_leave(p->d);
    }
    if (!st) st = p->q->ops->copy_out(p->q, result, (adead_exec_ref){b, 0}, sizeof result);
    if (!st) st = p->q->ops->wait(p->q, 0);
    if (b) b->ops->release(b);
    if (st) {
        snprintf(p->why, p->whylen, "the exp self-check did not run: %s", p->q->ops->last_error(p->q));
        return -1;
    }
    if (result[0]) {
        snprintf(p->why, p->whylen, "the exp shortcut differs from the definition on %u inputs (the first: 0x%08X)",
                 result[0], result[1]);
        return -1;
    }
    return 0;
}

int cuda_probe(cuda_dev *d, char *why, size_t whylen)
{
    probe p = {d, NULL, why, whylen};
    char err[256] = "";
    int bad = cuda_open_queue(&d->dev, NULL, &p.q, err, sizeof err) != ADEAD_EXEC_OK;
    if (bad) snprintf(why, whylen, "no queue for the conformance probe: %s", err);
    bad = bad || probe_exp(&p) || conformance_probe(&d->dev, p.q, why, whylen);
    if (p.q) p.q->ops->close(p.q);
    return bad ? -1 : 0;
}
