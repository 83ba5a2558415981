/* Which ops the Vulkan device runs, and how each is recorded: descriptors, push constants, groups.
 * Shapes arrive checked by the VM. Every tensor must fit one storage-buffer binding
 * (maxStorageBufferRange: 128 MiB on lavapipe, 4 GiB on NVIDIA); larger ones run on the CPU. */
#include <string.h>

#include "../cpu/ref_ops.h" /* ref_attention_scale */
#include "vk_internal.h"

static uint64_t tensor_bytes(const adead_exec_tensor *t) { return (uint64_t)t->count * (t->dtype == ADEAD_EXEC_I64 ? 8 : 4); }

static int fits(const vk_dev *d, const adead_exec_tensor *t)
{
    return t->count == 0 || (tensor_bytes(t) + d->align <= d->max_range && t->ref.offset % 4 == 0 &&
                             tensor_bytes(t) / 4 < (1u << 31));
}

int vk_supports_op(const vk_dev *d, const adead_exec_op *op)
{
    int f32 = op->out.dtype == ADEAD_EXEC_F32, ok = fits(d, &op->out);
    for (uint32_t i = 0; i < op->n_in && i < 3; i++) {
        f32 &= op->in[i].dtype == ADEAD_EXEC_F32;
        ok &= fits(d, &op->in[i]);
    }
    if (!ok) return 0;
    switch (op->kernel) {
    case ADEAD_K_TRANSPOSE: return op->in[0].rank == 2 && op->in[0].dtype == op->out.dtype;
    case ADEAD_K_MATMUL:
    case ADEAD_K_SOFTMAX:
    case ADEAD_K_RELU:
    case ADEAD_K_TADD:
    case ADEAD_K_TSUB:
    case ADEAD_K_TMUL: return f32;
    case ADEAD_K_ATTENTION:
    case ADEAD_K_ATTENTION_CAUSAL: {
        int r = op->in[0].rank;
        return f32 && r >= 2 && op->in[0].dims[r - 1] <= VK_ATTN_MAX_D && op->in[2].dims[r - 1] <= VK_ATTN_MAX_D;
    }
    default: return 0;
    }
}

static vk_binding bind(const vk_dev *d, const adead_exec_tensor *t)
{
    const vk_block *b = (const vk_block *)t->ref.buf->impl;
    vk_binding r;
    r.buf = b->buf;
    r.offset = t->ref.offset & ~(d->align - 1);
    r.elem = (uint32_t)((t->ref.offset - r.offset) / 4);
    r.range = b->size - r.offset;
    if (r.range > d->max_range) r.range = d->max_range & ~(uint64_t)3;
    return r;
}

static uint32_t groups(const vk_dev *d, uint64_t work, uint32_t per_group)
{
    uint64_t g = (work + per_group - 1) / per_group, cap = d->max_groups < 65535 ? d->max_groups : 65535;
    return (uint32_t)(g < 1 ? 1 : g > cap ? cap : g);
}

static void dims4(const adead_exec_tensor *t, int64_t *dd)
{
    for (int i = 0; i < 4; i++) dd[i] = 1;
    for (int i = 0; i < t->rank; i++) dd[4 - t->rank + i] = t->dims[i];
}

void vk_record_op(vk_queue *vq, VkCommandBuffer cmd, VkDescriptorSet set, const adead_exec_op *op)
{
    vk_dev *d = vq->d;
    const vk_device_api *v = &d->vd;
    vk_binding b[4];
    b[0] = bind(d, &op->out);
    for (uint32_t i = 0; i < 3; i++) /* unused and empty inputs bind the output (never read) */
        b[i + 1] = i < op->n_in && op->in[i].count ? bind(d, &op->in[i]) : b[0];
    VkDescriptorBufferInfo info[4];
    VkWriteDescriptorSet w[4];
    for (int i = 0; i < 4; i++) {
        info[i] = (VkDescriptorBufferInfo){b[i].buf, b[i].offset, b[i].range};
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        w[i].dstSet = set;
        w[i].dstBinding = (uint32_t)i;
        w[i].descriptorCount = 1;
        w[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        w[i].pBufferInfo = &info[i];
    }
    v->UpdateDescriptorSets(d->device, 4, w, 0, NULL);
    uint32_t pc[VK_PUSH_BYTES / 4];
    memset(pc, 0, sizeof pc);
    int shader;
    uint32_t gx = 1, gy = 1;
    switch (op->kernel) {
    case ADEAD_K_RELU:
        shader = VKS_RELU;
        pc[0] = (uint32_t)op->out.count, pc[1] = b[0].elem, pc[2] = b[1].elem;
        pc[3] = b[0].elem % 4 == 0 && b[1].elem % 4 == 0;
        gx = groups(d, (uint64_t)(pc[3] ? op->out.count / 4 : op->out.count), 256);
        break;
    case ADEAD_K_TADD:
    case ADEAD_K_TSUB:
    case ADEAD_K_TMUL: {
        shader = VKS_BINARY;
        int64_t ad[4], bd[4], od[4];
        dims4(&op->in[0], ad);
        dims4(&op->in[1], bd);
        dims4(&op->out, od);
        int a_full = !memcmp(ad, od, sizeof od), b_full = !memcmp(bd, od, sizeof od);
        pc[0] = (uint32_t)op->out.count, pc[1] = b[0].elem, pc[2] = b[1].elem, pc[3] = b[2].elem;
        pc[4] = op->kernel - ADEAD_K_TADD;
        int flat = (a_full || op->in[0].count == 1) && (b_full || op->in[1].count == 1);
        int vec = flat && b[0].elem % 4 == 0 && (!a_full || b[1].elem % 4 == 0) && (!b_full || b[2].elem % 4 == 0);
        pc[5] = (uint32_t)a_full | (uint32_t)b_full << 1 | (uint32_t)flat << 2 | (uint32_t)vec << 3;
        pc[6] = (uint32_t)od[1], pc[7] = (uint32_t)od[2], pc[8] = (uint32_t)od[3];
        int64_t sa = 1, sb = 1;
        for (int i = 3; i >= 0; i--) {
            pc[9 + i] = ad[i] == 1 ? 0 : (uint32_t)sa;
            pc[13 + i] = bd[i] == 1 ? 0 : (uint32_t)sb;
            sa *= ad[i];
            sb *= bd[i];
        }
        if (flat) {
            gx = groups(d, (uint64_t)(vec ? op->out.count / 4 : op->out.count), 256);
        } else { /* rows of the last axis: a few groups across a row, one row per group down */
            gx = groups(d, (uint64_t)od[3], 256);
            if (gx > 64) gx = 64;
            gy = groups(d, (uint64_t)(op->out.count / od[3]), 1);
        }
        break;
    }
    case ADEAD_K_TRANSPOSE: {
        shader = VKS_TRANSPOSE;
        uint32_t m = (uint32_t)op->in[0].dims[0], n = (uint32_t)op->in[0].dims[1];
        pc[0] = m, pc[1] = n, pc[2] = b[0].elem, pc[3] = b[1].elem, pc[4] = op->out.dtype == ADEAD_EXEC_I64 ? 2 : 1;
        gx = groups(d, n, 32);
        gy = groups(d, m, 32);
        break;
    }
    case ADEAD_K_MATMUL: {
        shader = VKS_MATMUL;
        uint32_t m = (uint32_t)op->in[0].dims[0], k = (uint32_t)op->in[0].dims[1], n = (uint32_t)op->in[1].dims[1];
        pc[0] = m, pc[1] = k, pc[2] = n, pc[3] = b[0].elem, pc[4] = b[1].elem, pc[5] = b[2].elem;
        pc[6] = k % 4 == 0 && b[1].elem % 4 == 0, pc[7] = n % 4 == 0 && b[2].elem % 4 == 0;
        uint64_t tiles = (uint64_t)((m + d->tile.bm - 1) / d->tile.bm) * ((n + d->tile.bn - 1) / d->tile.bn);
        if (tiles < d->small_below) {
            shader = VKS_MATMUL_SMALL;
            tiles = (uint64_t)((m + d->tile_small.bm - 1) / d->tile_small.bm) * ((n + d->tile_small.bn - 1) / d->tile_small.bn);
        }
        gx = groups(d, tiles, 1);
        break;
    }
    case ADEAD_K_SOFTMAX: {
        shader = VKS_SOFTMAX;
        uint32_t n = (uint32_t)op->out.dims[op->out.rank - 1], rows = (uint32_t)(op->out.count / n);
        pc[0] = rows, pc[1] = n, pc[2] = b[0].elem, pc[3] = b[1].elem;
        gx = groups(d, rows, 4);
        break;
    }
    default: { /* ATTENTION, ATTENTION_CAUSAL */
        shader = VKS_ATTENTION;
        const adead_exec_tensor *q = &op->in[0], *k = &op->in[1], *vv = &op->in[2];
        int r = q->rank;
        uint32_t sq = (uint32_t)q->dims[r - 2], dq = (uint32_t)q->dims[r - 1];
        uint32_t rows = (uint32_t)(op->out.count / vv->dims[r - 1]); /* out.count > 0 here */
        float scale = ref_attention_scale((int64_t)dq);
        pc[0] = b[0].elem, pc[1] = b[1].elem, pc[2] = b[2].elem, pc[3] = b[3].elem;
        pc[4] = sq, pc[5] = (uint32_t)k->dims[r - 2], pc[6] = dq, pc[7] = (uint32_t)vv->dims[r - 1], pc[8] = rows;
        pc[9] = op->kernel == ADEAD_K_ATTENTION_CAUSAL;
        memcpy(&pc[10], &scale, 4);
        if (dq >= 1 && dq <= d->attn_dmax && pc[7] <= d->attn_dmax && pc[7] <= 128) { /* 16 query rows a workgroup */
            shader = VKS_ATTENTION_TILED;
            gx = groups(d, (uint64_t)(rows / sq) * ((sq + 15) / 16), 1);
        } else {
            gx = groups(d, rows, 1);
        }
        break;
    }
    }
    v->CmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, d->pipe[shader]);
    v->CmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, d->layout, 0, 1, &set, 0, NULL);
    v->CmdPushConstants(cmd, d->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PUSH_BYTES, pc);
    v->CmdDispatch(cmd, gx, gy, 1);
}
