/* libadeadvm-baddev.so: four devices, of which only device 0 is sound; 1 has ops of another ABI,
 * 2 an ops struct smaller than the header's, 3 is NULL. The loader must keep device 0 alone and
 * say why each other one was left out. The sound device runs nothing (supports says 0). */
#include "../../include/adeadvm_exec.h"

#include <stddef.h>

static int supports(const adead_exec_device *d, const adead_exec_op *op)
{
    (void)d;
    (void)op;
    return 0;
}

static adead_exec_status memory(const adead_exec_device *d, uint64_t *free_bytes, uint64_t *total_bytes)
{
    (void)d;
    *free_bytes = *total_bytes = 0;
    return ADEAD_EXEC_OK;
}

static adead_exec_status alloc(adead_exec_device *d, uint64_t bytes, adead_exec_buffer **out)
{
    (void)d;
    (void)bytes;
    (void)out;
    return ADEAD_EXEC_DEVICE_MEMORY;
}

static adead_exec_status open_queue(adead_exec_device *d, const char *params, adead_exec_queue **out, char *err,
                                    size_t errlen)
{
    (void)d;
    (void)params;
    (void)out;
    (void)err;
    (void)errlen;
    return ADEAD_EXEC_UNSUPPORTED;
}

static const adead_exec_device_ops good_ops = {ADEAD_EXEC_ABI, sizeof(adead_exec_device_ops), supports, memory,
                                               alloc, NULL, open_queue};
static const adead_exec_device_ops other_abi_ops = {2, sizeof(adead_exec_device_ops), supports, memory, alloc, NULL,
                                                    open_queue};
static const adead_exec_device_ops small_ops = {ADEAD_EXEC_ABI, offsetof(adead_exec_device_ops, open_queue),
                                                supports, memory, alloc, NULL, NULL};

static adead_exec_device devices[3] = {
    {&good_ops, "sound device", ADEAD_EXEC_CAP_GPU, "runs nothing", NULL},
    {&other_abi_ops, "device of ABI 2", ADEAD_EXEC_CAP_EXACT, NULL, NULL},
    {&small_ops, "device of a small ops struct", ADEAD_EXEC_CAP_EXACT, NULL, NULL},
};

static uint32_t score(char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    return 2;
}

static uint32_t device_count(void) { return 4; }

static adead_exec_device *get_device(uint32_t i) { return i < 3 ? &devices[i] : NULL; }

static const adead_exec_registry registry = {ADEAD_EXEC_ABI, sizeof(adead_exec_registry), "baddev", score,
                                             device_count, get_device};

ADEAD_EXEC_EXPORT const adead_exec_registry *adead_exec_entry(uint32_t host_abi);
const adead_exec_registry *adead_exec_entry(uint32_t host_abi) { return host_abi == ADEAD_EXEC_ABI ? &registry : NULL; }
