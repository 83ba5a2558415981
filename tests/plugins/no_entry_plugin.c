/* libadeadvm-noentry.so: a shared object with the right name but no adead_exec_entry (its entry is
 * spelt otherwise), as a stray or half-renamed file would be. The loader must refuse it. */
#include "../../include/adeadvm_exec.h"

ADEAD_EXEC_EXPORT const adead_exec_registry *adead_exec_entry_v2(uint32_t host_abi);
const adead_exec_registry *adead_exec_entry_v2(uint32_t host_abi)
{
    (void)host_abi;
    return NULL;
}
