# ADead-BIB VM — GNU make.
#   make                 build/bin/adead-asm, build/bin/adead-vm, build/lib/libadeadvm.{a,so}
#   make test            build and run the test suite (cmocka + end-to-end)
#   make test SANITIZE=1 the same under ASan+UBSan, in build-san/
#   make check           both of the above, and the sanitizer run again with clang where it is
#                        installed (what .ci/run runs)
#   make docs            regenerate docs/isa.md and the Vim syntax file from isa/opcodes.def
#   make bench           interpreter benchmarks against lua5.4 and luajit -joff
#   make bench-gpu       the CUDA executor against cuBLAS, a device copy and PyTorch (on a GPU)
#   make bench-vulkan    the Vulkan executor against the same anchors (on lavapipe: its figures alone)
#   make install PREFIX=/usr/local DESTDIR=

VERSION := 0.1.0
SOVERSION := 0
PREFIX ?= /usr/local
CC ?= cc

ifeq ($(SANITIZE),1)
BUILD ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT ?= -O1
else
BUILD ?= build
SANFLAGS :=
OPT ?= -O2
endif

# -ffp-contract=off everywhere: the f32 model forbids contraction (docs/ops.md).
WARN := -Wall -Wextra -Werror
CFLAGS_COMMON := -std=c99 -D_POSIX_C_SOURCE=200809L $(WARN) -ffp-contract=off -g $(OPT) $(SANFLAGS) $(EXTRA_CFLAGS)
LIB_CFLAGS := $(CFLAGS_COMMON) -fPIC -fvisibility=hidden
LDLIBS := -lm -lpthread -ldl

LIB_SRC := $(wildcard util/*.c isa/*.c asm/*.c vm/*.c backends/*.c backends/cpu/*.c)
LIB_SRC := $(filter-out asm/adead-asm.c vm/adead-vm.c isa/isadoc.c,$(LIB_SRC))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
HEADERS := $(wildcard include/*.h include/*.def util/*.h isa/*.h isa/*.def asm/*.h vm/*.h backends/*.h backends/cpu/*.h backends/cpu/simd/*.h)

# SIMD kernel tables: each level's file is built with that level's instructions; the executor
# only calls a table after CPUID/XGETBV said the host runs it (backends/cpu/cpu_features.c).
ARCH := $(shell $(CC) -dumpmachine)
ifneq ($(findstring x86_64,$(ARCH)),)
$(BUILD)/obj/backends/cpu/simd_avx512.o: KFLAGS := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma
$(BUILD)/obj/backends/cpu/simd_avx2.o: KFLAGS := -mavx2 -mfma
endif

# Executor plugins (libadeadvm-<name>.so) are also looked for here (backends/registry.c).
$(BUILD)/obj/backends/registry.o: KFLAGS := -DADEAD_PLUGIN_DIR='"$(PREFIX)/lib/adeadvm"'

BIN := $(BUILD)/bin
LIB := $(BUILD)/lib
STATIC := $(LIB)/libadeadvm.a
SHARED := $(LIB)/libadeadvm.so.$(VERSION)

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all test check docs bench install clean examples
all: $(BIN)/adead-asm $(BIN)/adead-vm $(STATIC) $(SHARED) $(LIB)/libadeadvm.so cuda-plugin vulkan-plugin

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) $(KFLAGS) -c $< -o $@

# The portable dispatch (a switch instead of computed goto), built only to be tested.
$(BUILD)/obj/vm/interp-switch.o: vm/interp.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -DADEAD_SWITCH_DISPATCH -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -shared -Wl,-soname,libadeadvm.so.$(SOVERSION) -o $@ $^ $(LDLIBS)

$(LIB)/libadeadvm.so: $(SHARED)
	ln -sf libadeadvm.so.$(VERSION) $(LIB)/libadeadvm.so.$(SOVERSION)
	ln -sf libadeadvm.so.$(VERSION) $@

$(BIN)/adead-asm: $(BUILD)/obj/asm/adead-asm.o $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/adead-vm: $(BUILD)/obj/vm/adead-vm.o $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/adead-vm-switch: $(BUILD)/obj/vm/adead-vm.o $(BUILD)/obj/vm/interp-switch.o $(filter-out $(BUILD)/obj/vm/interp.o,$(LIB_OBJ))
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/isadoc: $(BUILD)/obj/isa/isadoc.o $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/testutil.h $(STATIC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -o $@ $< $(STATIC) -lcmocka $(LDLIBS)

# The C++ binding's test (bindings/cpp/adeadvm.hpp) with a C++ user's flags, by the C++ twin of
# $(CC) (clang++ for clang, so that the sanitizer runtimes match).
CXX_TESTS := $(if $(findstring clang,$(notdir $(CC))),$(patsubst %clang,%clang++,$(CC)),$(if $(filter cc gcc,$(notdir $(CC))),g++,$(CXX)))
ifneq ($(shell command -v $(CXX_TESTS) 2>/dev/null),)
TEST_BIN += $(BUILD)/tests/test_cpp
$(BUILD)/tests/test_cpp: tests/test_cpp.cpp bindings/cpp/adeadvm.hpp include/adeadvm.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CXX_TESTS) -std=c++17 -Wall -Wextra -Werror -g $(OPT) $(SANFLAGS) -Iinclude -o $@ $< $(STATIC) -lcmocka $(LDLIBS)
endif

# Tests run from the top directory and find the programs under $ADEAD_BUILD.
test: all $(BIN)/adead-vm-switch $(BIN)/isadoc $(TEST_BIN)
	@ADEAD_BUILD=$(BUILD) CC="$(CC)" SANITIZE="$(SANITIZE)" sh tests/run.sh $(TEST_BIN)

# clang's UBSan checks more than gcc's (pointer overflow, NULL to memset): where clang is installed,
# the suite also runs under clang's ASan+UBSan, in build-clang-san/.
CLANG ?= $(shell command -v clang 2>/dev/null)
check:
	$(MAKE) test SANITIZE=1
ifneq ($(CLANG),)
	$(MAKE) test SANITIZE=1 CC=$(CLANG) BUILD=build-clang-san
else
	@echo "skip the clang sanitizer run: clang is not installed"
endif
	$(MAKE) test

# The NEON kernels (backends/cpu/simd_neon.c), cross-built for AArch64 into build-aarch64/ and
# run under qemu-user against the scalar reference (tests/neon/neon_diff.c). tests/run.sh runs
# it when aarch64-linux-gnu-gcc and qemu-aarch64 are both installed.
A64_CC ?= aarch64-linux-gnu-gcc
A64_BUILD := build-aarch64
A64_CFLAGS := -static -O2 -std=c99 -D_POSIX_C_SOURCE=200809L $(WARN) -ffp-contract=off
A64_OBJ := $(LIB_SRC:%.c=$(A64_BUILD)/obj/%.o)
.PHONY: neon-test
$(A64_BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(A64_CC) $(A64_CFLAGS) -c $< -o $@
$(A64_BUILD)/neon_diff: tests/neon/neon_diff.c $(A64_OBJ) $(HEADERS)
	$(A64_CC) $(A64_CFLAGS) -o $@ $< $(A64_OBJ) -lm -lpthread
neon-test: $(A64_BUILD)/neon_diff
	qemu-aarch64 $(A64_BUILD)/neon_diff

docs: $(BIN)/isadoc
	$(BIN)/isadoc > docs/isa.md
	$(BIN)/isadoc --vim > editors/vim/syntax/adasm.vim

bench: all
	sh bench/run.sh $(BUILD)

# A long randomized differential run of the CPU kernels (every op x SIMD level x 1, 2, 7 threads)
# against the scalar reference; not part of `make test`. FUZZ_INPUTS: input elements to feed;
# FUZZ_SEED: replay a run (default: a new seed, printed).
FUZZ_INPUTS ?= 1e7
FUZZ_SEED ?=
$(BUILD)/tests/fuzz_kernels: tests/fuzz_kernels.c tests/kernel_diff.h $(STATIC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -o $@ $< $(STATIC) $(LDLIBS)
$(BUILD)/tests/test_kernels: tests/kernel_diff.h

.PHONY: fuzz-kernels
fuzz-kernels: $(BUILD)/tests/fuzz_kernels
	$(BUILD)/tests/fuzz_kernels $(FUZZ_INPUTS) $(FUZZ_SEED)

# Kernel benchmarks against OpenBLAS and memcpy (bench/kernels.sh): bench/out/, bench/matmul.svg.
.PHONY: bench-kernels
bench-kernels: $(STATIC)
	CC="$(CC)" sh bench/kernels.sh $(BUILD)

# The CUDA executor beside cuBLAS, a device copy and PyTorch (bench/gpu.sh): on the GPU machine.
.PHONY: bench-gpu
bench-gpu: all
	CC="$(CC)" sh bench/gpu.sh $(BUILD)

.PHONY: bench-vulkan
bench-vulkan: all
	CC="$(CC)" sh bench/gpu.sh $(BUILD) vulkan

# Outside /usr the dynamic loader does not look in $(PREFIX)/lib by itself: programs linked with
# `pkg-config --libs adeadvm` get an rpath to it. In /usr/local the loader's cache knows the
# library once ldconfig has run, which install does when it can (root, no DESTDIR).
INSTALL_RPATH := $(if $(filter /usr /usr/,$(PREFIX)),,-Wl,-rpath,$${libdir} )

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/adeadvm
	install -m 755 $(BIN)/adead-asm $(BIN)/adead-vm $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libadeadvm.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libadeadvm.so.$(SOVERSION)
	ln -sf libadeadvm.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libadeadvm.so
	install -m 644 include/adeadvm.h include/adeadvm_exec.h include/adeadvm_kernels.def bindings/cpp/adeadvm.hpp $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' -e 's|@RPATH@|$(INSTALL_RPATH)|g' adeadvm.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/adeadvm.pc
	if [ -f $(CUDA_PLUGIN) ]; then install -m 755 $(CUDA_PLUGIN) $(DESTDIR)$(PREFIX)/lib/adeadvm/; fi
	if [ -f $(VULKAN_PLUGIN) ]; then install -m 755 $(VULKAN_PLUGIN) $(DESTDIR)$(PREFIX)/lib/adeadvm/; fi
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 docs/man/adead-vm.1 docs/man/adead-asm.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null 2>&1; then ldconfig; fi

clean:
	rm -rf build build-san build-clang-san build-aarch64 build-fuzz

include fuzz/fuzz.mk
include mk/cuda.mk
include mk/vulkan.mk
include mk/plugins.mk
