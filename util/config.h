/* Limits and build knobs, in one place (as wasm3's m3_config.h). Each can be set with -D at build
 * time; the line says why it is what it is. Limits that are part of a file format (.bib, .npy) or
 * of the ISA are not here: they are fixed by docs/format.md and docs/isa.md. */
#ifndef ADEAD_CONFIG_H
#define ADEAD_CONFIG_H

/* Tasks alive at once: the slot table is allocated whole when a VM starts (about 80 KiB). */
#ifndef VM_MAX_TASKS
#define VM_MAX_TASKS 1024
#endif
/* Nested CALLs per task: deep enough for any sane recursion, small enough to trap a runaway. */
#ifndef VM_MAX_FRAMES
#define VM_MAX_FRAMES (1u << 20)
#endif
/* Registers per task stack (128 MiB of cells): windows of 256 slide over it. */
#ifndef VM_MAX_REGS
#define VM_MAX_REGS (1u << 24)
#endif
/* VM memory is handed out in blocks of this size: small tensors share no block, so offsets stay
 * deterministic and a bad offset is caught by its block's owner. */
#ifndef HEAP_BLOCK
#define HEAP_BLOCK 4096u
#endif
/* Device executors one VM uses beside the CPU (CUDA, Vulkan, and one more). */
#ifndef VM_MAX_DEVICES
#define VM_MAX_DEVICES 3
#endif
/* Auto-dispatch (vm/dispatch.h): a MATMUL or ATTENTION whose largest operand has this many
 * elements goes to a GPU. Measured on the H200 against a 16-core AVX-512 host, the op with its
 * copies in and out: MATMUL pays from n = 512, 2^18 elements (bench/RESULTS.md). */
#ifndef DISPATCH_DEFAULT_GPU_MIN
#define DISPATCH_DEFAULT_GPU_MIN ((int64_t)1 << 18)
#endif
/* The same for the memory-bound ops (RELU, TADD/TSUB/TMUL, TRANSPOSE, SOFTMAX): never from host
 * memory, since their PCIe copies alone take longer than the CPU's whole op at every size
 * measured (4K to 16M elements); on inputs already on a GPU they run there. */
#ifndef DISPATCH_DEFAULT_GPU_MIN_STREAMING
#define DISPATCH_DEFAULT_GPU_MIN_STREAMING INT64_MAX
#endif
/* CPU threads at most: the pool's table size; more than any 2026 socket has. */
#ifndef CPU_MAX_THREADS
#define CPU_MAX_THREADS 256
#endif
/* Devices one executor plugin may offer. */
#ifndef REGISTRY_MAX_DEVICES
#define REGISTRY_MAX_DEVICES 16
#endif
/* Bytes of a pipe or device shown to a format check before more is read: any .npy 1.0 header. */
#ifndef FILEIO_HEAD_BYTES
#define FILEIO_HEAD_BYTES ((size_t)65536 + 16)
#endif
/* Largest .npy file read (also the largest .bib): a whole-file read must fit in memory twice. */
#ifndef NPY_MAX_FILE_BYTES
#define NPY_MAX_FILE_BYTES ((size_t)1 << 30)
#endif
/* Elements a tensor may have: 2^40, so that every byte count fits in 64 bits with room to spare. */
#ifndef NPY_MAX_ELEMENTS
#define NPY_MAX_ELEMENTS ((uint64_t)1 << 40)
#endif
/* Diagnostics the assembler prints before it stops listing them. */
#ifndef ASM_MAX_ERRORS
#define ASM_MAX_ERRORS 50
#endif

#endif
