# The CUDA executor plugin (backends/cuda/): $(BUILD)/lib/adeadvm/libadeadvm-cuda.so, built when
# nvcc is found. The kernels are compiled by nvcc to one fatbin per .cu file (SASS for sm_80 and
# sm_90, PTX for compute_90 that newer GPUs JIT), embedded as C arrays; the host side is C99 and
# links only libc and libdl: the driver (libcuda.so.1) is opened with dlopen at run time
# (backends/cuda/cuda_driver.c), so a host without it loads the plugin and hears "not here".
# The model's flags (docs/ops.md): flush subnormals, IEEE division, no contraction into fma.
NVCC ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
CUDA_ARCHS ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]
NVCC_FLAGS := -fatbin -O3 -ftz=true -prec-div=true -prec-sqrt=true -fmad=false -Werror all-warnings $(CUDA_ARCHS)
CUDA_PLUGIN := $(LIB)/adeadvm/libadeadvm-cuda.so
CUDA_MODULES := elementwise matmul softmax attention
# The fatbins do not depend on the C build's flags: one copy for build/, build-san/, ...
CUDA_FATBIN_DIR := build/cuda-kernels
CUDA_FATBINS := $(CUDA_MODULES:%=$(CUDA_FATBIN_DIR)/%.fatbin)
CUDA_EMBED_OBJ := $(CUDA_MODULES:%=$(BUILD)/obj/cuda-embed/%.o)
# The reference is compiled into the plugin too, for the conformance probe (hidden symbols).
CUDA_HOST_SRC := $(wildcard backends/cuda/*.c) backends/conformance/conformance.c isa/f32.c backends/cpu/ref_ops.c
CUDA_HOST_OBJ := $(CUDA_HOST_SRC:%.c=$(BUILD)/obj/cuda-host/%.o)
CUDA_HEADERS := $(wildcard backends/cuda/*.h) backends/conformance/conformance.h include/adeadvm_exec.h include/adeadvm_kernels.def isa/f32.h \
    backends/cpu/ref_ops.h backends/cpu/kernels.h backends/cpu/cpu_features.h
CUDA_LDFLAGS := $(if $(filter 1,$(SANITIZE)),,-Wl,-z,defs)

.PHONY: cuda-plugin
.PRECIOUS: $(CUDA_FATBIN_DIR)/%.fatbin $(BUILD)/obj/cuda-embed/%.c
ifneq ($(NVCC),)
CUDA_VERSION := $(shell $(NVCC) --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p')
cuda-plugin: $(CUDA_PLUGIN)

$(CUDA_FATBIN_DIR)/%.fatbin: backends/cuda/kernels_%.cu backends/cuda/f32_model.cuh
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -o $@.tmp $< && mv $@.tmp $@

# A fatbin as a C array (od and sed: no xxd or bin2c needed), 16-byte aligned as the driver wants.
$(BUILD)/obj/cuda-embed/%.c: $(CUDA_FATBIN_DIR)/%.fatbin
	@mkdir -p $(dir $@)
	{ echo '/* generated from $< */'; \
	  echo '__attribute__((aligned(16))) const unsigned char adead_fatbin_$*[] = {'; \
	  od -An -v -tx1 $< | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '};'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/cuda-embed/%.o: $(BUILD)/obj/cuda-embed/%.c
	$(CC) $(LIB_CFLAGS) -c $< -o $@

$(BUILD)/obj/cuda-host/%.o: %.c $(CUDA_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -DADEAD_CUDA_BUILT_WITH='"$(CUDA_VERSION)"' -c $< -o $@

$(CUDA_PLUGIN): $(CUDA_HOST_OBJ) $(CUDA_EMBED_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -shared -o $@ $^ -lpthread -ldl -lm $(CUDA_LDFLAGS)
else
cuda-plugin:
	@echo "skip the CUDA executor: nvcc not found (install the CUDA toolkit in /usr/local/cuda to build it)"
endif
