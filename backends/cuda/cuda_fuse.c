/* The queue's fusion of elementwise runs (cuda_fuse.h). */
#include <string.h>

#include "cuda_fuse.h"

static CUdeviceptr ptr_of(const adead_exec_tensor *t) { return (CUdeviceptr)(uintptr_t)t->ref.buf->impl + t->ref.offset; }

static int same_ref(const adead_exec_tensor *a, const adead_exec_tensor *b)
{
    return a->ref.buf == b->ref.buf && a->ref.offset == b->ref.offset;
}

static int same_shape(const adead_exec_tensor *a, const adead_exec_tensor *b)
{
    return a->rank == b->rank && !memcmp(a->dims, b->dims, sizeof a->dims[0] * (size_t)a->rank);
}

/* How `other` broadcasts over a tensor shaped like out: FULL, ROW (its shape is [..1.., N] with N
 * out's last axis), SCALAR (one element), or -1. */
static int kind_of(const adead_exec_tensor *other, const adead_exec_tensor *out)
{
    if (other->dtype != ADEAD_EXEC_F32) return -1;
    if (same_shape(other, out)) return FUSE_FULL;
    if (other->count == 1) return FUSE_SCALAR;
    if (out->rank < 1 || other->rank < 1 || other->rank > out->rank) return -1;
    if (other->dims[other->rank - 1] != out->dims[out->rank - 1] || other->count != out->dims[out->rank - 1]) return -1;
    return FUSE_ROW;
}

static int op_code(uint32_t kernel)
{
    switch (kernel) {
    case ADEAD_K_TADD: return FUSE_ADD;
    case ADEAD_K_TSUB: return FUSE_SUB;
    case ADEAD_K_TMUL: return FUSE_MUL;
    case ADEAD_K_RELU: return FUSE_RELU;
    default: return -1;
    }
}

/* op as a step over the value v of tensor `value` (its shape and place): 0 and *st, or -1. */
static int as_step(const adead_exec_op *op, const adead_exec_tensor *value, fuse_step *st)
{
    int code = op_code(op->kernel);
    if (code < 0 || op->out.dtype != ADEAD_EXEC_F32 || !same_shape(&op->out, value)) return -1;
    memset(st, 0, sizeof *st);
    st->op = code;
    if (code == FUSE_RELU) return same_ref(&op->in[0], value) && same_shape(&op->in[0], value) ? 0 : -1;
    for (int side = 0; side < 2; side++) {
        const adead_exec_tensor *v = &op->in[side], *o = &op->in[1 - side];
        if (!same_ref(v, value) || !same_shape(v, value)) continue;
        int kind = kind_of(o, value);
        /* The other operand must not be where the run writes: a thread would read what another
         * wrote, or an element's old value instead of its chain's. */
        if (kind < 0 || o->ref.buf == value->ref.buf) return -1;
        st->swap = side == 1;
        st->kind = kind;
        st->other = ptr_of(o);
        return 0;
    }
    return -1;
}

int cuda_fuse_take(cuda_queue *cq, const adead_exec_op *op, adead_exec_ticket t)
{
    if (!cq->fuse || !op->out.count) return 0;
    fuse_chain *ch = &cq->chain;
    if (cq->pend) { /* join the held run: in place on its result */
        fuse_step st;
        if (ch->n < FUSE_MAX && same_ref(&op->out, &cq->pend_op.out) && !as_step(op, &cq->pend_op.out, &st)) {
            ch->s[ch->n++] = st;
            return 1;
        }
        return 0;
    }
    if (op->kernel == ADEAD_K_MATMUL) {
        cq->pend = 1;
    } else {
        /* The run's first op: its base is the input shaped like the result (RELU's input). */
        fuse_step st;
        int base = -1;
        for (int side = 0; side < (op->kernel == ADEAD_K_RELU ? 1 : 2) && base < 0; side++) {
            adead_exec_tensor as_value = op->in[side];
            if (!same_shape(&as_value, &op->out)) continue;
            if (!as_step(op, &as_value, &st) &&
                (st.op == FUSE_RELU || st.kind == FUSE_FULL || op->in[1 - side].ref.buf != op->out.ref.buf))
                base = side;
        }
        if (base < 0) return 0;
        cq->pend = 2;
        cq->pend_base = ptr_of(&op->in[base]);
        memset(ch, 0, sizeof *ch);
        ch->s[ch->n++] = st;
    }
    cq->pend_op = *op;
    cq->pend_ticket = t;
    if (cq->pend == 1) memset(ch, 0, sizeof *ch);
    return 1;
}

CUresult cuda_fuse_flush(cuda_queue *cq, adead_exec_ticket *blame)
{
    if (!cq->pend) return CU_OK;
    const fuse_chain *ch = &cq->chain;
    const adead_exec_tensor *o = &cq->pend_op.out;
    *blame = cq->pend_ticket;
    int kind = cq->pend;
    cq->pend = 0;
    if (kind == 1) return cuda_launch_matmul(cq, &cq->pend_op, ch);
    if (ch->n == 1) return cuda_launch(cq, &cq->pend_op); /* nothing joined: the op's own kernel (float4 paths) */
    int64_t cols = o->rank ? o->dims[o->rank - 1] : 1, rows = cols ? o->count / cols : 0;
    return cuda_launch_fused_elementwise(cq, cq->pend_base, ptr_of(o), rows, cols, ch);
}
