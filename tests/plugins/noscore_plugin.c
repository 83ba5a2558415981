/* libadeadvm-nodev.so: a plugin whose device is not on this host (as a CUDA plugin without a GPU):
 * score 0 with its reason. The loader keeps the reason and closes the file. */
#include "../../include/adeadvm_exec.h"

#include <stdio.h>

static uint32_t score(char *why, size_t whylen)
{
    snprintf(why, whylen, "no device of its kind here");
    return 0;
}

static uint32_t device_count(void) { return 0; }

static adead_exec_device *get_device(uint32_t i)
{
    (void)i;
    return NULL;
}

static const adead_exec_registry registry = {ADEAD_EXEC_ABI, sizeof(adead_exec_registry), "nodev", score,
                                             device_count, get_device};

ADEAD_EXEC_EXPORT const adead_exec_registry *adead_exec_entry(uint32_t host_abi);
const adead_exec_registry *adead_exec_entry(uint32_t host_abi) { return host_abi == ADEAD_EXEC_ABI ? &registry : NULL; }
