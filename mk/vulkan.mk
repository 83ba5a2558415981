# The Vulkan executor plugin (backends/vulkan/): $(BUILD)/lib/adeadvm/libadeadvm-vulkan.so, built
# when glslc and the Vulkan headers are found. Each shaders/<name>.comp is compiled twice by glslc
# (EMULATE=0 native f32, EMULATE=1 emulated: shaders/f32_model.glsl), checked by spirv-val where it
# is installed, and embedded as C arrays; the host side is C99 and links only libc and libdl: the
# loader (libvulkan.so.1) is opened with dlopen at run time.
GLSLC ?= $(shell command -v glslc 2>/dev/null)
SPIRV_VAL ?= $(shell command -v spirv-val 2>/dev/null)
VK_HEADER := $(wildcard /usr/include/vulkan/vulkan.h)
VULKAN_PLUGIN := $(LIB)/adeadvm/libadeadvm-vulkan.so
VK_SHADER_NAMES := relu binary transpose matmul softmax attention attention_tiled
VK_SPV_DIR := build/vulkan-shaders
VK_SPVS := $(foreach s,$(VK_SHADER_NAMES),$(VK_SPV_DIR)/$(s).0.spv $(VK_SPV_DIR)/$(s).1.spv)
VK_EMBED_OBJ := $(VK_SPVS:$(VK_SPV_DIR)/%.spv=$(BUILD)/obj/vk-embed/%.o)
VK_HOST_SRC := $(wildcard backends/vulkan/*.c) backends/conformance/conformance.c isa/f32.c backends/cpu/ref_ops.c \
    util/fileio.c util/sha256.c
VK_HOST_OBJ := $(VK_HOST_SRC:%.c=$(BUILD)/obj/vk-host/%.o)
VK_HEADERS := $(wildcard backends/vulkan/*.h) backends/conformance/conformance.h include/adeadvm_exec.h \
    include/adeadvm_kernels.def isa/f32.h backends/cpu/ref_ops.h util/fileio.h util/sha256.h
VK_LDFLAGS := $(if $(filter 1,$(SANITIZE)),,-Wl,-z,defs)
GLSLC_FLAGS := --target-env=vulkan1.1 -O -Werror

.PHONY: vulkan-plugin
.PRECIOUS: $(VK_SPV_DIR)/%.0.spv $(VK_SPV_DIR)/%.1.spv $(BUILD)/obj/vk-embed/%.c
ifneq ($(and $(GLSLC),$(VK_HEADER)),)
vulkan-plugin: $(VULKAN_PLUGIN)

$(VK_SPV_DIR)/%.0.spv: shaders/%.comp shaders/f32_model.glsl
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DEMULATE=0 -o $@.tmp $<
	$(if $(SPIRV_VAL),$(SPIRV_VAL) --target-env vulkan1.1 $@.tmp)
	mv $@.tmp $@

$(VK_SPV_DIR)/%.1.spv: shaders/%.comp shaders/f32_model.glsl
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DEMULATE=1 -o $@.tmp $<
	$(if $(SPIRV_VAL),$(SPIRV_VAL) --target-env vulkan1.1 $@.tmp)
	mv $@.tmp $@

# name.E.spv -> adead_spv_name_E[] and its size (od and sed, as the CUDA fatbins).
$(BUILD)/obj/vk-embed/%.c: $(VK_SPV_DIR)/%.spv
	@mkdir -p $(dir $@)
	{ n=$$(echo '$*' | tr . _); echo '/* generated from $< */'; \
	  echo "__attribute__((aligned(4))) const unsigned char adead_spv_$$n[] = {"; \
	  od -An -v -tx1 $< | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '};'; \
	  echo "const unsigned long adead_spv_$${n}_size = sizeof adead_spv_$$n;"; } > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/vk-embed/%.o: $(BUILD)/obj/vk-embed/%.c
	$(CC) $(LIB_CFLAGS) -c $< -o $@

$(BUILD)/obj/vk-host/%.o: %.c $(VK_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -c $< -o $@

$(VULKAN_PLUGIN): $(VK_HOST_OBJ) $(VK_EMBED_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -shared -o $@ $^ -lpthread -ldl -lm $(VK_LDFLAGS)
else
vulkan-plugin:
	@echo "skip the Vulkan executor: $(if $(GLSLC),,glslc )$(if $(VK_HEADER),,vulkan/vulkan.h )not found (apt-get install glslc libvulkan-dev)"
endif
