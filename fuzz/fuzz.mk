# libFuzzer targets (fuzz/*.c; docs/fuzzing.md), built with clang under ASan+UBSan in build-fuzz/.
#   make fuzz        build, then run each target for FUZZ_TIME seconds (a smoke run)
#   make fuzz-long   run each target, one after another, until FUZZ_RUNS executions
#   make fuzz-build  build only; make fuzz-clean: remove build-fuzz/ (corpora included)
# FUZZ_NICE="nice -n 19" runs them niced; FUZZ_FLAGS adds libFuzzer flags (e.g. -jobs=2).
# Corpora: build-fuzz/corpus/{bib,asm,npy}/, seeded from examples/; crashes: build-fuzz/crashes/.
# Without clang's libFuzzer both print one line saying so and succeed.

FUZZ_CC ?= clang
FUZZ_OBJCOPY ?= objcopy
FUZZ_BUILD := build-fuzz
FUZZ_TIME ?= 20
FUZZ_RUNS ?= 10000000
FUZZ_NICE ?=
FUZZ_FLAGS ?=
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c99 -D_POSIX_C_SOURCE=200809L $(WARN) -ffp-contract=off -g -O1 $(FUZZ_SAN)
FUZZ_LIB := $(FUZZ_BUILD)/lib/libadeadvm.a
FUZZ_BINS := $(FUZZ_BUILD)/fuzz_bib $(FUZZ_BUILD)/fuzz_asm $(FUZZ_BUILD)/fuzz_npy

# Does $(FUZZ_CC) link a libFuzzer target with both sanitizers?
FUZZ_PROBE = mkdir -p $(FUZZ_BUILD) && \
    printf 'int LLVMFuzzerTestOneInput(const char *d, long n) { return (int)(d[0] + n) * 0; }\n' | \
    $(FUZZ_CC) -x c -fsanitize=fuzzer $(FUZZ_SAN) -o $(FUZZ_BUILD)/probe - >/dev/null 2>&1

.PHONY: fuzz fuzz-long fuzz-build fuzz-seeds fuzz-run fuzz-clean FORCE
FORCE:

fuzz fuzz-long:
	@if $(FUZZ_PROBE); then \
	    $(MAKE) --no-print-directory fuzz-run FUZZ_MODE=$@; \
	else \
	    echo "fuzz: skipped: $(FUZZ_CC) cannot build libFuzzer targets with ASan+UBSan"; \
	fi

fuzz-build: $(FUZZ_BINS) fuzz-seeds

# The library by the Makefile's own rules (LIB_SRC, the per-file KFLAGS) with clang and coverage
# instrumentation; the harnesses add libFuzzer's main when they link. (Not inside that sub-make,
# which reads this file too.)
ifneq ($(BUILD),$(FUZZ_BUILD))
$(FUZZ_LIB): FORCE
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT=-O1 \
	    SANFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" $@ $(FUZZ_BUILD)/bin/adead-asm
endif
$(FUZZ_BUILD)/bin/adead-asm: $(FUZZ_LIB) # made with it: one sub-make, so that -j never races

# fuzz_asm's copy: the library's open, fopen and opendir calls go to the harness (fuzz/fuzz_asm.c); any
# other way to open a file would get past it, so the build stops when the library uses one.
FUZZ_OPENERS := open64|openat|openat64|fopen64|freopen|freopen64|creat|creat64|fdopendir
$(FUZZ_BUILD)/lib/libadeadvm-nofiles.a: $(FUZZ_LIB)
	$(FUZZ_OBJCOPY) --redefine-sym open=fuzz_open --redefine-sym fopen=fuzz_fopen --redefine-sym opendir=fuzz_opendir $< $@
	@if nm -u $@ | grep -wE '$(FUZZ_OPENERS)'; then \
	    echo "fuzz: the library opens files by a call fuzz_asm cannot catch"; rm -f $@; exit 1; fi

$(FUZZ_BUILD)/fuzz_asm: $(FUZZ_BUILD)/lib/libadeadvm-nofiles.a
$(FUZZ_BUILD)/fuzz_bib $(FUZZ_BUILD)/fuzz_npy: $(FUZZ_LIB)
$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(HEADERS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(filter %.a,$^) $(LDLIBS)

# Seeds: fuzz/files.adasm, the examples as text, their images, the images' disassemblies (.file,
# .line, unnamed slots, inline data), the .npy files; the asm dictionary adds every mnemonic.
fuzz-seeds: $(FUZZ_BUILD)/bin/adead-asm
	@mkdir -p $(FUZZ_BUILD)/corpus/bib $(FUZZ_BUILD)/corpus/asm $(FUZZ_BUILD)/corpus/npy
	@cp fuzz/files.adasm $(FUZZ_BUILD)/corpus/asm/
	@for f in examples/*.adasm; do \
	    b=$(FUZZ_BUILD)/corpus; n=$$(basename $$f .adasm); \
	    cp $$f $$b/asm/$$n.adasm && \
	    $< -o $$b/bib/$$n.bib $$f && \
	    $< -d -o $$b/asm/$$n.dis.adasm $$b/bib/$$n.bib || exit 1; \
	done
	@cp $(wildcard examples/mlp/*.npy tests/data/*.npy) $(FUZZ_BUILD)/corpus/npy/
	@{ cat fuzz/asm.dict; sed -n 's/^OP(\([A-Z0-9_]*\),.*/"\1"/p' isa/opcodes.def; } > $(FUZZ_BUILD)/asm.dict

# One target after another; each adds what it finds to its corpus folder.
FUZZ_LIMIT = $(if $(filter fuzz-long,$(FUZZ_MODE)),-runs=$(FUZZ_RUNS),-max_total_time=$(FUZZ_TIME))
FUZZ_RUN = mkdir -p $(FUZZ_BUILD)/crashes/$(1) && \
    $(FUZZ_NICE) $(FUZZ_BUILD)/fuzz_$(1) $(FUZZ_LIMIT) -max_len=$(2) $(3) -timeout=30 -print_final_stats=1 \
    -artifact_prefix=$(FUZZ_BUILD)/crashes/$(1)/ $(FUZZ_FLAGS) $(FUZZ_BUILD)/corpus/$(1)

fuzz-run: fuzz-build
	$(call FUZZ_RUN,bib,65536,)
	$(call FUZZ_RUN,asm,65536,-dict=$(FUZZ_BUILD)/asm.dict)
	$(call FUZZ_RUN,npy,4096,-dict=fuzz/npy.dict)

fuzz-clean:
	rm -rf $(FUZZ_BUILD)
