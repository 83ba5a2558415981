# The executor plugins that tests/test_registry.c loads: each one file of tests/plugins/, built
# against include/adeadvm_exec.h alone into $(BUILD)/tests/plugins/libadeadvm-<name>.so.
# -z defs proves they link nothing of libadeadvm (every symbol resolves in libc). Under SANITIZE=1
# they carry the sanitizers too, whose runtime comes from the test executable (clang links it
# statically there), so -z defs is left out.
PLUGIN_OUT := $(BUILD)/tests/plugins
PLUGINS := $(addprefix $(PLUGIN_OUT)/libadeadvm-,tiny.so badabi.so nodev.so small.so baddev.so noentry.so)
PLUGIN_LDFLAGS := $(if $(filter 1,$(SANITIZE)),,-Wl,-z,defs)

$(PLUGIN_OUT)/libadeadvm-tiny.so: tests/plugins/tiny_plugin.c
$(PLUGIN_OUT)/libadeadvm-badabi.so: tests/plugins/bad_abi_plugin.c
$(PLUGIN_OUT)/libadeadvm-nodev.so: tests/plugins/noscore_plugin.c
$(PLUGIN_OUT)/libadeadvm-small.so: tests/plugins/small_plugin.c
$(PLUGIN_OUT)/libadeadvm-baddev.so: tests/plugins/bad_device_plugin.c
$(PLUGIN_OUT)/libadeadvm-noentry.so: tests/plugins/no_entry_plugin.c
$(PLUGINS): include/adeadvm_exec.h include/adeadvm_kernels.def
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -shared -o $@ $(filter %.c,$^) $(PLUGIN_LDFLAGS)

# Built by `make test` with the tests that load them.
$(BUILD)/tests/test_registry $(BUILD)/tests/test_cli: $(PLUGINS)
