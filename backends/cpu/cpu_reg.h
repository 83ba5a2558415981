/* The CPU executor as an adead_exec_registry (include/adeadvm_exec.h), registered statically:
 * always present, score 1, one device. Its queues take "simd=LEVEL,threads=N" (LEVEL: scalar,
 * sse2, avx2, avx512, neon or auto; N: 0 = all cores). */
#ifndef ADEAD_CPU_REG_H
#define ADEAD_CPU_REG_H

#include "../../include/adeadvm_exec.h"

const adead_exec_registry *cpu_registry(void);

#endif
