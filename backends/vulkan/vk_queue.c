/* A queue records copies and dispatches into command buffers (a batch each, VK_BATCHES in flight),
 * a global memory barrier before every command, and submits a batch when it is full or when
 * something must be waited for. A ticket is done when its batch's fence is. Host bytes go through
 * a host-visible staging buffer in VK_STAGES pieces: copy_in has copied its bytes into a piece when
 * it returns, as the ABI wants; copy_out returns with the bytes in place. An empty copy records
 * nothing: its ticket is done when wait has waited for everything before it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

static vk_queue *of(adead_exec_queue *q) { return (vk_queue *)q->impl; }

static adead_exec_status fail(vk_queue *vq, adead_exec_ticket ticket, VkResult r, const char *what)
{
    if (!vq->failed_status) {
        vq->failed_status = vk_status_of(r);
        vq->failed = ticket;
        snprintf(vq->err, sizeof vq->err, "%s: %s", what, vk_result_name(r));
    }
    return vq->failed_status;
}

/* Waits for batch b (submitted) and makes it idle. */
static VkResult retire(vk_queue *vq, vk_batch *b)
{
    const vk_device_api *v = &vq->d->vd;
    if (b->state != 2) return VK_SUCCESS;
    VkResult r = v->WaitForFences(vq->d->device, 1, &b->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS) return r;
    v->ResetFences(vq->d->device, 1, &b->fence);
    b->state = 0;
    if (b->last > vq->synced) vq->synced = b->last;
    if (b->serial > vq->done_serial) vq->done_serial = b->serial;
    return VK_SUCCESS;
}

static VkResult submit_current(vk_queue *vq)
{
    vk_batch *b = &vq->batch[vq->cur];
    if (b->state != 1) return VK_SUCCESS;
    const vk_device_api *v = &vq->d->vd;
    VkResult r = v->EndCommandBuffer(b->cmd);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &b->cmd;
    if (r == VK_SUCCESS) {
        pthread_mutex_lock(&vq->d->submit_mu);
        r = v->QueueSubmit(vq->d->queue, 1, &si, b->fence);
        pthread_mutex_unlock(&vq->d->submit_mu);
    }
    if (r != VK_SUCCESS) return r;
    b->state = 2;
    vq->cur = (vq->cur + 1) % VK_BATCHES;
    return VK_SUCCESS;
}

/* The batch to record into, begun; a full one is submitted first. */
static VkResult recording(vk_queue *vq, int need_set, vk_batch **out)
{
    vk_batch *b = &vq->batch[vq->cur];
    VkResult r;
    if (b->state == 1 && (b->commands >= 4 * VK_SETS_PER_BATCH || (need_set && b->sets >= VK_SETS_PER_BATCH))) {
        if ((r = submit_current(vq)) != VK_SUCCESS) return r;
        b = &vq->batch[vq->cur];
    }
    if (b->state != 1) {
        const vk_device_api *v = &vq->d->vd;
        if ((r = retire(vq, b)) != VK_SUCCESS) return r;
        v->ResetDescriptorPool(vq->d->device, b->pool, 0);
        v->ResetCommandBuffer(b->cmd, 0);
        VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        if ((r = v->BeginCommandBuffer(b->cmd, &bi)) != VK_SUCCESS) return r;
        b->state = 1;
        b->sets = b->commands = 0;
        b->serial = ++vq->serial;
    }
    *out = b;
    return VK_SUCCESS;
}

/* Every earlier command's writes before anything later reads or writes (also across batches:
 * a barrier's first scope is all earlier work of the queue). */
static void barrier(vk_queue *vq, VkCommandBuffer cmd, int to_host)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = to_host ? VK_ACCESS_HOST_READ_BIT
                               : VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                                     VK_ACCESS_TRANSFER_WRITE_BIT;
    VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vq->d->vd.CmdPipelineBarrier(cmd, st, to_host ? VK_PIPELINE_STAGE_HOST_BIT : st, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* Waits until every batch up to serial is done (submitting the current one if it is among them). */
static VkResult wait_serial(vk_queue *vq, uint64_t serial)
{
    VkResult r = VK_SUCCESS;
    if (serial <= vq->done_serial) return r;
    if (vq->batch[vq->cur].state == 1 && vq->batch[vq->cur].serial <= serial && (r = submit_current(vq)) != VK_SUCCESS)
        return r;
    for (int pass = 0; pass < VK_BATCHES && r == VK_SUCCESS && vq->done_serial < serial; pass++) {
        vk_batch *oldest = NULL; /* in serial order */
        for (int i = 0; i < VK_BATCHES; i++)
            if (vq->batch[i].state == 2 && (!oldest || vq->batch[i].serial < oldest->serial)) oldest = &vq->batch[i];
        if (!oldest) break;
        r = retire(vq, oldest);
    }
    return r;
}

/* The next staging piece, once the batch that used it last is done. */
static VkResult take_stage(vk_queue *vq, int *slot)
{
    int s = vq->next_stage;
    vq->next_stage = (s + 1) % VK_STAGES;
    VkResult r = wait_serial(vq, vq->stage_serial[s]);
    *slot = s;
    return r;
}

static VkResult record_copy(vk_queue *vq, VkBuffer src, uint64_t src_off, VkBuffer dst, uint64_t dst_off, uint64_t n,
                            int to_host, adead_exec_ticket t, uint64_t *serial)
{
    vk_batch *b;
    VkResult r = recording(vq, 0, &b);
    if (r != VK_SUCCESS) return r;
    barrier(vq, b->cmd, 0);
    VkBufferCopy region = {src_off, dst_off, n};
    vq->d->vd.CmdCopyBuffer(b->cmd, src, dst, 1, &region);
    if (to_host) barrier(vq, b->cmd, 1);
    b->commands++;
    b->last = t;
    *serial = b->serial;
    return VK_SUCCESS;
}

static adead_exec_status copy_in(adead_exec_queue *q, adead_exec_ref dst, const void *host, uint64_t bytes)
{
    vk_queue *vq = of(q);
    if (vq->failed_status) return vq->failed_status;
    adead_exec_ticket t = ++vq->issued;
    VkBuffer to = ((vk_block *)dst.buf->impl)->buf;
    VkResult r = VK_SUCCESS;
    for (uint64_t off = 0; r == VK_SUCCESS && off < bytes;) {
        uint64_t n = bytes - off < VK_STAGE_BYTES ? bytes - off : VK_STAGE_BYTES;
        int s;
        if ((r = take_stage(vq, &s)) != VK_SUCCESS) break;
        memcpy(vq->stage_map + (size_t)s * VK_STAGE_BYTES, (const unsigned char *)host + off, (size_t)n);
        r = record_copy(vq, vq->stage_buf, (uint64_t)s * VK_STAGE_BYTES, to, dst.offset + off, n, 0, t, &vq->stage_serial[s]);
        off += n;
    }
    return r == VK_SUCCESS ? ADEAD_EXEC_OK : fail(vq, t, r, "copy in");
}

static adead_exec_status copy_out(adead_exec_queue *q, void *host, adead_exec_ref src, uint64_t bytes)
{
    vk_queue *vq = of(q);
    if (vq->failed_status) return vq->failed_status;
    adead_exec_ticket t = ++vq->issued;
    VkBuffer from = ((vk_block *)src.buf->impl)->buf;
    VkResult r = VK_SUCCESS;
    /* Pieces in flight in every staging buffer; each is read out when its batch is done. */
    struct {
        uint64_t off, n;
        int slot;
    } piece[VK_STAGES];
    int in_flight = 0, head = 0;
    uint64_t off = 0;
    while (r == VK_SUCCESS && (off < bytes || in_flight)) {
        if (off < bytes && in_flight < VK_STAGES) {
            uint64_t n = bytes - off < VK_STAGE_BYTES ? bytes - off : VK_STAGE_BYTES;
            int s;
            if ((r = take_stage(vq, &s)) != VK_SUCCESS) break;
            r = record_copy(vq, from, src.offset + off, vq->stage_buf, (uint64_t)s * VK_STAGE_BYTES, n, 1, t,
                            &vq->stage_serial[s]);
            int k = (head + in_flight) % VK_STAGES;
            piece[k].off = off;
            piece[k].n = n;
            piece[k].slot = s;
            in_flight++;
            off += n;
            if (in_flight < VK_STAGES && off < bytes) continue;
        }
        if (r != VK_SUCCESS || !in_flight) break;
        int s = piece[head].slot;
        if ((r = wait_serial(vq, vq->stage_serial[s])) != VK_SUCCESS) break;
        memcpy((unsigned char *)host + piece[head].off, vq->stage_map + (size_t)s * VK_STAGE_BYTES, (size_t)piece[head].n);
        head = (head + 1) % VK_STAGES;
        in_flight--;
    }
    return r == VK_SUCCESS ? ADEAD_EXEC_OK : fail(vq, t, r, "copy out");
}

static adead_exec_status submit(adead_exec_queue *q, const adead_exec_op *ops, uint32_t n, adead_exec_ticket *done)
{
    vk_queue *vq = of(q);
    if (vq->failed_status) return vq->failed_status;
    adead_exec_status st = ADEAD_EXEC_OK;
    for (uint32_t i = 0; i < n && !st; i++) {
        if (!vk_supports_op(vq->d, &ops[i])) { /* not sticky, and no ticket taken */
            snprintf(vq->err, sizeof vq->err, "kernel %u with these dtypes or sizes is not run by the Vulkan executor",
                     ops[i].kernel);
            st = ADEAD_EXEC_UNSUPPORTED;
            break;
        }
        adead_exec_ticket t = ++vq->issued;
        vk_batch *b;
        VkResult r = recording(vq, 1, &b);
        if (r == VK_SUCCESS && ops[i].out.count) {
            VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
            ai.descriptorPool = b->pool;
            ai.descriptorSetCount = 1;
            ai.pSetLayouts = &vq->d->set_layout;
            VkDescriptorSet set;
            r = vq->d->vd.AllocateDescriptorSets(vq->d->device, &ai, &set);
            if (r == VK_SUCCESS) {
                b->sets++;
                barrier(vq, b->cmd, 0);
                vk_record_op(vq, b->cmd, set, &ops[i]);
                b->commands++;
            }
        }
        if (r == VK_SUCCESS) b->last = t;
        else st = fail(vq, t, r, "recording a dispatch");
    }
    *done = vq->issued;
    return st;
}

static adead_exec_status wait(adead_exec_queue *q, adead_exec_ticket t)
{
    vk_queue *vq = of(q);
    if (vq->failed_status) return vq->failed && t && vq->failed > t ? ADEAD_EXEC_OK : vq->failed_status;
    if (t && t <= vq->synced) return ADEAD_EXEC_OK;
    adead_exec_ticket upto = vq->issued;
    VkResult r = submit_current(vq);
    if (r == VK_SUCCESS) r = wait_serial(vq, vq->serial);
    if (r != VK_SUCCESS) return fail(vq, upto == vq->synced + 1 ? upto : 0, r, "running on the device");
    vq->synced = upto;
    return ADEAD_EXEC_OK;
}

static const char *last_error(const adead_exec_queue *q) { return ((const vk_queue *)q->impl)->err; }
static const char *settings(const adead_exec_queue *q) { return ((const vk_queue *)q->impl)->settings; }
static adead_exec_ticket failed_ticket(const adead_exec_queue *q) { return ((const vk_queue *)q->impl)->failed; }

static void close_queue(adead_exec_queue *q)
{
    vk_queue *vq = of(q);
    vk_dev *d = vq->d;
    const vk_device_api *v = &d->vd;
    if (submit_current(vq) == VK_SUCCESS) wait_serial(vq, vq->serial);
    for (int i = 0; i < VK_BATCHES; i++) {
        if (vq->batch[i].state == 2) v->WaitForFences(d->device, 1, &vq->batch[i].fence, VK_TRUE, UINT64_MAX);
        if (vq->batch[i].fence) v->DestroyFence(d->device, vq->batch[i].fence, NULL);
        if (vq->batch[i].pool) v->DestroyDescriptorPool(d->device, vq->batch[i].pool, NULL);
    }
    if (vq->cmd_pool) v->DestroyCommandPool(d->device, vq->cmd_pool, NULL);
    if (vq->stage_buf) v->DestroyBuffer(d->device, vq->stage_buf, NULL);
    if (vq->stage_mem) v->FreeMemory(d->device, vq->stage_mem, NULL);
    free(vq);
}

static const adead_exec_queue_ops queue_ops = {
    .abi = ADEAD_EXEC_ABI, .size = sizeof(adead_exec_queue_ops), .copy_in = copy_in, .copy_out = copy_out,
    .submit = submit, .wait = wait, .last_error = last_error, .settings = settings, .close = close_queue,
    .failed_ticket = failed_ticket,
};

adead_exec_status vk_open_queue(adead_exec_device *dev, const char *params, adead_exec_queue **out, char *err,
                                size_t errlen)
{
    vk_dev *d = (vk_dev *)dev;
    for (const char *p = params ? params : ""; *p;) {
        size_t len = strcspn(p, ",");
        if (len) {
            snprintf(err, errlen, "unknown parameter \"%.*s\" (the Vulkan executor takes none yet)", (int)len, p);
            return ADEAD_EXEC_BAD_PARAMS;
        }
        p += len + (p[len] == ',');
    }
    vk_queue *vq = calloc(1, sizeof *vq);
    if (!vq) return ADEAD_EXEC_HOST_MEMORY;
    vq->d = d;
    const vk_device_api *v = &d->vd;
    VkCommandPoolCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    ci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    ci.queueFamilyIndex = d->family;
    VkResult r = v->CreateCommandPool(d->device, &ci, NULL, &vq->cmd_pool);
    VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 4 * VK_SETS_PER_BATCH};
    VkDescriptorPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    pi.maxSets = VK_SETS_PER_BATCH;
    pi.poolSizeCount = 1;
    pi.pPoolSizes = &ps;
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    for (int i = 0; i < VK_BATCHES && r == VK_SUCCESS; i++) {
        VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
        ai.commandPool = vq->cmd_pool;
        ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        ai.commandBufferCount = 1;
        r = v->AllocateCommandBuffers(d->device, &ai, &vq->batch[i].cmd);
        if (r == VK_SUCCESS) r = v->CreateFence(d->device, &fi, NULL, &vq->batch[i].fence);
        if (r == VK_SUCCESS) r = v->CreateDescriptorPool(d->device, &pi, NULL, &vq->batch[i].pool);
    }
    void *map = NULL;
    if (r == VK_SUCCESS)
        r = vk_make_buffer(d, (uint64_t)VK_STAGES * VK_STAGE_BYTES, d->mem_staging, &vq->stage_buf, &vq->stage_mem, &map);
    vq->stage_map = map;
    vq->q.ops = &queue_ops;
    vq->q.device = dev;
    vq->q.impl = vq;
    if (r != VK_SUCCESS) {
        snprintf(err, errlen, "cannot open a Vulkan queue: %s", vk_result_name(r));
        close_queue(&vq->q);
        return vk_status_of(r);
    }
    snprintf(vq->settings, sizeof vq->settings, "f32=%s,matmul=%ux%ux%u", d->emulate ? "emulated" : "native", d->tile.bm,
             d->tile.bn, d->tile.bk);
    *out = &vq->q;
    return ADEAD_EXEC_OK;
}
