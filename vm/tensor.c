/* The tensor table: storage in VM memory, shapes checked (overflow-safe) before any executor
 * sees them, element access with bounds checks, and the tensor ops' shape rules. */
#include "../isa/f32.h"
#include "../isa/kernels.h"
#include "dispatch.h"
#include "vm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *tname(const adead_vm *vm, uint32_t slot, char *buf, size_t len)
{
    const char *n = vm->prog->names.tensor[slot];
    if (n)
        snprintf(buf, len, "%s", n);
    else
        snprintf(buf, len, "t%u", slot);
    return buf;
}

static void shape_text(const vm_tensor *t, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->rank && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, i ? ",%" PRId64 : "%" PRId64, t->dims[i]);
    if (n < len) snprintf(buf + n, len - n, "]");
}

int64_t tensor_shape_count(int rank, const int64_t *dims)
{
    int empty = 0;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || (uint64_t)dims[i] > BIB_MAX_ELEMENTS) return -1;
        empty |= !dims[i];
    }
    if (empty) return 0;
    uint64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (n > BIB_MAX_ELEMENTS / (uint64_t)dims[i]) return -1;
        n *= (uint64_t)dims[i];
    }
    return (int64_t)n;
}

/* New zeroed storage for count elements of dtype; 0 or a trap. */
static int alloc_storage(adead_vm *vm, uint32_t pc, const char *what, uint32_t dtype, int64_t count, uint64_t *off)
{
    *off = 0;
    if (!count) return ADEAD_OK;
    uint64_t bytes = (uint64_t)count * bib_dtype_size(dtype);
    int hr = heap_alloc(&vm->heap, bytes, HEAP_TENSOR, off);
    if (hr == HEAP_LIMIT)
        return vm_trap(vm, ADEAD_E_MEMORY, pc, "%s: %" PRIu64 " bytes of tensor data are over the memory limit (%" PRIu64 " bytes, %" PRIu64 " in use)",
                       what, bytes, vm->heap.limit, heap_in_use(&vm->heap));
    if (hr) return vm_trap(vm, ADEAD_E_NOMEM, pc, "%s: the host is out of memory", what);
    return ADEAD_OK;
}

static void release_storage(adead_vm *vm, vm_tensor *t)
{
    if (t->rank >= 0 && t->count) heap_release(&vm->heap, t->off, HEAP_TENSOR);
}

/* Point slot at new storage with this shape (releasing the old), keeping dtype. */
static void install(adead_vm *vm, uint32_t slot, int rank, const int64_t *dims, int64_t count, uint64_t off)
{
    vm_tensor *t = &vm->tensors[slot];
    release_storage(vm, t);
    t->rank = rank;
    memset(t->dims, 0, sizeof t->dims);
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
    t->count = count;
    t->off = off;
}

int tensor_set_shape(adead_vm *vm, uint32_t pc, uint32_t slot, int rank, const int64_t *dims)
{
    char nm[64];
    int64_t count = tensor_shape_count(rank, dims);
    if (count < 0) {
        char sh[128];
        vm_tensor tmp = {rank, 0, {0}, 0, 0};
        for (int i = 0; i < rank; i++) tmp.dims[i] = dims[i];
        shape_text(&tmp, sh, sizeof sh);
        return vm_trap(vm, ADEAD_E_TRAP, pc, "tensor %s: shape %s has a negative dimension, or a dimension or element count over 2^40",
                       tname(vm, slot, nm, sizeof nm), sh);
    }
    uint64_t off;
    int rc = alloc_storage(vm, pc, tname(vm, slot, nm, sizeof nm), vm->tensors[slot].dtype, count, &off);
    if (rc) return rc;
    install(vm, slot, rank, dims, count, off);
    return ADEAD_OK;
}

int tensor_from_const(adead_vm *vm, uint32_t pc, uint32_t slot, uint32_t k)
{
    const bib_const *c = &vm->prog->mod.consts[k];
    int64_t dims[4];
    for (int i = 0; i < 4; i++) dims[i] = c->dims[i];
    int rc = tensor_set_shape(vm, pc, slot, (int)c->rank, dims);
    if (!rc && c->data_size) memcpy(tensor_data(vm, &vm->tensors[slot]), vm->prog->mod.data + c->data_off, c->data_size);
    return rc;
}

void tensor_release(adead_vm *vm, uint32_t slot)
{
    vm_tensor *t = &vm->tensors[slot];
    release_storage(vm, t);
    t->rank = -1;
    t->count = 0;
    t->off = 0;
}

/* "MATMUL: " when a kernel runs under another instruction (VK_COMPUTE), else "": the trap
 * message already names the instruction. */
static const char *kernel_context(const adead_vm *vm, uint32_t pc, int kernel, char *buf, size_t len)
{
    buf[0] = 0;
    if (isa_find_value(vm->prog->mod.code[pc].op) != kernel) snprintf(buf, len, "%s: ", isa_ops[kernel].name);
    return buf;
}

static int need_data(adead_vm *vm, uint32_t pc, const char *ctx, uint32_t slot)
{
    if (vm->tensors[slot].rank >= 0) return ADEAD_OK;
    char nm[64];
    return vm_trap(vm, ADEAD_E_TRAP, pc, "%stensor %s is empty (never created, or freed)", ctx, tname(vm, slot, nm, sizeof nm));
}

/* Register <-> element: f32 as raw bits (zero-extended), i32 sign-extended, i64 as is. */
int tensor_element(adead_vm *vm, uint32_t pc, uint32_t slot, uint64_t index, uint64_t *value, int store)
{
    int rc = need_data(vm, pc, "", slot);
    if (rc) return rc;
    vm_tensor *t = &vm->tensors[slot];
    if (index >= (uint64_t)t->count) {
        char nm[64];
        return vm_trap(vm, ADEAD_E_TRAP, pc, "index %" PRId64 " is out of bounds for tensor %s (%" PRId64 " elements)",
                       (int64_t)index, tname(vm, slot, nm, sizeof nm), t->count);
    }
    size_t es = bib_dtype_size(t->dtype);
    uint8_t *p = (uint8_t *)tensor_data(vm, t) + index * es;
    if (store) {
        memcpy(p, value, es); /* little-endian host: the low bytes */
        return ADEAD_OK;
    }
    if (t->dtype == BIB_DT_I64) {
        memcpy(value, p, 8);
    } else {
        uint32_t w;
        memcpy(&w, p, 4);
        *value = t->dtype == BIB_DT_I32 ? (uint64_t)(int64_t)(int32_t)w : w;
    }
    return ADEAD_OK;
}

int tensor_copy(adead_vm *vm, uint32_t pc, uint32_t dst, uint32_t src)
{
    int rc = need_data(vm, pc, "", src);
    if (rc || dst == src) return rc;
    const vm_tensor *s = &vm->tensors[src];
    uint64_t off;
    char nm[64];
    rc = alloc_storage(vm, pc, tname(vm, dst, nm, sizeof nm), s->dtype, s->count, &off);
    if (rc) return rc;
    if (s->count) memcpy(vm->heap.base + off, tensor_data(vm, s), (size_t)s->count * bib_dtype_size(s->dtype));
    install(vm, dst, s->rank, s->dims, s->count, off);
    return ADEAD_OK;
}

int tensor_fill(adead_vm *vm, uint32_t pc, uint32_t slot, uint64_t value)
{
    int rc = need_data(vm, pc, "", slot);
    if (rc) return rc;
    vm_tensor *t = &vm->tensors[slot];
    size_t es = bib_dtype_size(t->dtype);
    uint8_t *p = tensor_data(vm, t);
    for (int64_t i = 0; i < t->count; i++) memcpy(p + (size_t)i * es, &value, es);
    return ADEAD_OK;
}

int tensor_reshape(adead_vm *vm, uint32_t pc, uint32_t slot, int rank, const int64_t *dims)
{
    int rc = need_data(vm, pc, "", slot);
    if (rc) return rc;
    vm_tensor *t = &vm->tensors[slot];
    int64_t count = tensor_shape_count(rank, dims);
    if (count != t->count) {
        char nm[64], from[128], to[128];
        vm_tensor want = {rank, t->dtype, {0}, 0, 0};
        for (int i = 0; i < rank; i++) want.dims[i] = dims[i];
        shape_text(t, from, sizeof from);
        shape_text(&want, to, sizeof to);
        return vm_trap(vm, ADEAD_E_TRAP, pc, "tensor %s %s cannot become %s (element counts differ)",
                       tname(vm, slot, nm, sizeof nm), from, to);
    }
    memset(t->dims, 0, sizeof t->dims);
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
    t->rank = rank;
    return ADEAD_OK;
}

/* numpy broadcasting: align trailing axes; each pair of sizes equal, or one of them 1. */
static int broadcast_shape(const vm_tensor *a, const vm_tensor *b, int *rank, int64_t *dims)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = a->rank - r + i, ib = b->rank - r + i;
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return -1;
        dims[i] = da == 1 ? db : da;
    }
    *rank = r;
    return 0;
}

/* ATTENTION: q [..., Sq, D], k [..., Sk, D], v [..., Sk, Dv], the same rank (2..4) and the same
 * leading axes; the result is [..., Sq, Dv]. */
static int attention_shape(const vm_tensor *const *in, int *rank, int64_t *dims)
{
    const vm_tensor *q = in[0], *k = in[1], *v = in[2];
    int r = q->rank;
    if (r < 2 || k->rank != r || v->rank != r) return -1;
    for (int i = 0; i < r - 2; i++)
        if (k->dims[i] != q->dims[i] || v->dims[i] != q->dims[i]) return -1;
    if (k->dims[r - 1] != q->dims[r - 1] || v->dims[r - 2] != k->dims[r - 2]) return -1;
    *rank = r;
    memcpy(dims, q->dims, sizeof q->dims);
    dims[r - 1] = v->dims[r - 1];
    return 0;
}

/* Result shape of a kernel, or a trap naming the input shapes. */
static int result_shape(adead_vm *vm, uint32_t pc, const char *ctx, int kernel, const vm_tensor *const *in,
                        const uint32_t *slot, int *rank, int64_t *dims)
{
    char na[64], nb[64], nc[64], sa[128], sb[128], sc[128];
    const vm_tensor *A = in[0], *B = in[1];
    shape_text(A, sa, sizeof sa);
    switch (isa_kernel_of_op(kernel)->shape) { /* the rule of include/adeadvm_kernels.def */
    case SHAPE_MATMUL:
        shape_text(B, sb, sizeof sb);
        if (A->rank != 2 || B->rank != 2 || A->dims[1] != B->dims[0])
            return vm_trap(vm, ADEAD_E_TRAP, pc, "%s%s %s x %s %s: needs [M,K] x [K,N]", ctx, tname(vm, slot[0], na, sizeof na), sa,
                           tname(vm, slot[1], nb, sizeof nb), sb);
        *rank = 2;
        dims[0] = A->dims[0];
        dims[1] = B->dims[1];
        return 0;
    case SHAPE_TRANSPOSE:
        if (A->rank != 2)
            return vm_trap(vm, ADEAD_E_TRAP, pc, "%s%s %s is not 2-D", ctx, tname(vm, slot[0], na, sizeof na), sa);
        *rank = 2;
        dims[0] = A->dims[1];
        dims[1] = A->dims[0];
        return 0;
    case SHAPE_SAME_ROWS:
        if (A->rank < 1)
            return vm_trap(vm, ADEAD_E_TRAP, pc, "%s%s is a scalar; it needs at least one axis", ctx, tname(vm, slot[0], na, sizeof na));
        /* fall through */
    case SHAPE_SAME:
        *rank = A->rank;
        memcpy(dims, A->dims, sizeof A->dims);
        return 0;
    case SHAPE_ATTENTION:
        if (attention_shape(in, rank, dims)) {
            shape_text(B, sb, sizeof sb);
            shape_text(in[2], sc, sizeof sc);
            return vm_trap(vm, ADEAD_E_TRAP, pc, "%sq %s %s, k %s %s, v %s %s: needs [...,Sq,D], [...,Sk,D], [...,Sk,Dv] of one rank (2..4) with equal leading axes",
                           ctx, tname(vm, slot[0], na, sizeof na), sa, tname(vm, slot[1], nb, sizeof nb), sb, tname(vm, slot[2], nc, sizeof nc), sc);
        }
        return 0;
    case SHAPE_BROADCAST:
    default:
        if (broadcast_shape(A, B, rank, dims)) {
            shape_text(B, sb, sizeof sb);
            return vm_trap(vm, ADEAD_E_TRAP, pc, "%sshapes %s %s and %s %s do not broadcast", ctx, tname(vm, slot[0], na, sizeof na), sa,
                           tname(vm, slot[1], nb, sizeof nb), sb);
        }
        return 0;
    }
}

/* Host memory as a buffer of the CPU device, wrapped again only when it has moved or grown. */
static adead_exec_buffer *host_buffer(adead_vm *vm, adead_exec_buffer **slot, void *base, uint64_t size)
{
    adead_exec_buffer *b = *slot;
    if (b && b->host == base && b->size >= size) return b;
    if (b) b->ops->release(b);
    *slot = NULL;
    adead_exec_device *cpu = vm->dispatch.cpu;
    return cpu->ops->wrap_host(cpu, base, size, slot) == ADEAD_EXEC_OK ? *slot : NULL;
}

static adead_exec_tensor view(const vm_tensor *t, adead_exec_buffer *heap)
{
    adead_exec_tensor e;
    e.dtype = t->dtype;
    e.rank = t->rank;
    memcpy(e.dims, t->dims, sizeof e.dims);
    e.count = t->count;
    e.ref.buf = heap;
    e.ref.offset = t->off;
    return e;
}

void tensor_release_buffers(adead_vm *vm)
{
    if (vm->heap_buf) vm->heap_buf->ops->release(vm->heap_buf);
    if (vm->scratch_buf) vm->scratch_buf->ops->release(vm->scratch_buf);
    vm->heap_buf = vm->scratch_buf = NULL;
}

int tensor_op(adead_vm *vm, uint32_t pc, int kernel, uint32_t d, uint32_t a, uint32_t b, uint32_t c)
{
    char ctx[32];
    kernel_context(vm, pc, kernel, ctx, sizeof ctx);
    const uint32_t slot[3] = {a, b, c};
    int n_in = isa_operand_count(kernel) - 1, rc = 0;
    const vm_tensor *in[3] = {NULL, NULL, NULL};
    for (int i = 0; i < n_in && !rc; i++) {
        rc = need_data(vm, pc, ctx, slot[i]);
        in[i] = &vm->tensors[slot[i]];
    }
    if (rc) return rc;
    const vm_tensor *A = in[0];

    int rank = 0;
    int64_t dims[4] = {0, 0, 0, 0};
    if ((rc = result_shape(vm, pc, ctx, kernel, in, slot, &rank, dims))) return rc;
    int64_t count = tensor_shape_count(rank, dims);
    if (count < 0) { /* e.g. [2^40, 0] x [0, 2^40] */
        vm_tensor result = {rank, A->dtype, {dims[0], dims[1], dims[2], dims[3]}, 0, 0};
        char sr[128];
        shape_text(&result, sr, sizeof sr);
        return vm_trap(vm, ADEAD_E_TRAP, pc, "%sthe result %s would have more than 2^40 elements", ctx, sr);
    }

    /* The destination keeps its storage when it already has the result's shape. MATMUL,
     * TRANSPOSE and ATTENTION read other elements than the one they write, so when they write
     * onto one of their own sources they compute into arena scratch and copy back; elementwise
     * and row ops may write in place. Otherwise the result gets fresh storage. */
    vm_tensor *D = &vm->tensors[d];
    int aliased = 0;
    for (int i = 0; i < n_in; i++) aliased |= d == slot[i];
    int same_shape = D->rank == rank && !memcmp(D->dims, dims, sizeof dims);
    const isa_kernel *k = isa_kernel_of_op(kernel);
    int reads_across = (k->flags & K_READS_ACROSS) != 0;
    int via_scratch = same_shape && aliased && reads_across && count;
    uint64_t off = D->off;
    size_t out_bytes = (size_t)count * bib_dtype_size(D->dtype);
    void *out = vm->heap.base + off;
    char nm[64];
    if (via_scratch) {
        int limit_hit;
        out = arena_scratch(&vm->arena, &vm->heap, out_bytes, &limit_hit);
        if (!out)
            return vm_trap(vm, limit_hit ? ADEAD_E_MEMORY : ADEAD_E_NOMEM, pc, "%s%zu bytes of scratch are %s", ctx, out_bytes,
                           limit_hit ? "over the memory limit" : "more than the host has");
    } else if (!same_shape) {
        if ((rc = alloc_storage(vm, pc, tname(vm, d, nm, sizeof nm), D->dtype, count, &off))) return rc;
        out = vm->heap.base + off;
    }

    adead_exec_buffer *heap = host_buffer(vm, &vm->heap_buf, vm->heap.base, (uint64_t)vm->heap.cap_blocks * HEAP_BLOCK);
    adead_exec_buffer *scratch = via_scratch ? host_buffer(vm, &vm->scratch_buf, vm->arena.base, vm->arena.size) : NULL;
    if (!heap || (via_scratch && !scratch)) {
        if (!same_shape && count) heap_release(&vm->heap, off, HEAP_TENSOR);
        return vm_trap(vm, ADEAD_E_NOMEM, pc, "%sthe host is out of memory", ctx);
    }
    adead_exec_op eop;
    memset(&eop, 0, sizeof eop);
    eop.kernel = k->id;
    for (int i = 0; i < n_in; i++) eop.in[i] = view(in[i], heap);
    eop.n_in = (uint32_t)n_in;
    eop.out.dtype = D->dtype;
    eop.out.rank = rank;
    memcpy(eop.out.dims, dims, sizeof dims);
    eop.out.count = count;
    eop.out.ref.buf = via_scratch ? scratch : heap;
    eop.out.ref.offset = via_scratch ? 0 : off;
    eop.pc = pc;

    adead_exec_device *dev = dispatch_choose(&vm->dispatch, &eop, -1);
    adead_exec_queue *q = vm->cpu_queue; /* the only queue until GPU executors are loaded */
    (void)dev;
    adead_exec_ticket ticket = 0;
    int st = q->ops->submit(q, &eop, 1, &ticket);
    if (st == ADEAD_EXEC_OK) st = q->ops->wait(q, ticket);
    if (via_scratch && st == ADEAD_EXEC_OK) memcpy(tensor_data(vm, D), out, out_bytes);
    if (st != ADEAD_EXEC_OK) {
        if (!same_shape && count) heap_release(&vm->heap, off, HEAP_TENSOR);
        return vm_trap(vm, st == ADEAD_EXEC_HOST_MEMORY ? ADEAD_E_NOMEM : ADEAD_E_TRAP, pc, "%sthe %s executor failed: %s", ctx,
                       q->device->name, q->ops->last_error(q));
    }
    if (!same_shape) install(vm, d, rank, dims, count, off);
    return ADEAD_OK;
}

/* PRINTT: the tensor as text (vm/tensor_text.c), or a note when the slot is empty. */
void tensor_print(adead_vm *vm, const vm_tensor *t, adead_write_fn fn, void *user)
{
    if (!fn) return;
    if (t->rank < 0) {
        fn(user, "(empty tensor)\n", 15);
        return;
    }
    adead_tensor_view v;
    v.dtype = (adead_dtype)t->dtype;
    v.rank = t->rank;
    memcpy(v.dims, t->dims, sizeof v.dims);
    v.nbytes = (size_t)t->count * bib_dtype_size(t->dtype);
    v.data = t->count ? tensor_data(vm, t) : NULL;
    char *text = adead_tensor_text(&v);
    if (text) {
        fn(user, text, strlen(text));
        fn(user, "\n", 1);
    }
    free(text);
}
