/* make install into a scratch DESTDIR, then build examples/embed.c the way a user would, with
 * the installed pkg-config file, and run it. Also: the shared library exports only adead_*. */
#include "testutil.h"

#include <unistd.h>

static char root[256];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/adead-install-XXXXXX");
    if (!mkdtemp(root)) return -1;
    const char *san = getenv("SANITIZE");
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "make -s install SANITIZE=%s BUILD=%s PREFIX=/usr DESTDIR=%s", san ? san : "", build_dir(), root);
    int rc = run_cmd(cmd, &out);
    if (rc) fprintf(stderr, "%s\n%s\n", cmd, out ? out : "");
    free(out);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    return run_cmd(cmd, NULL);
}

static void test_installed_files(void **state)
{
    (void)state;
    static const char *const files[] = {"usr/bin/adead-asm", "usr/bin/adead-vm", "usr/lib/libadeadvm.a", "usr/lib/libadeadvm.so",
                                        "usr/lib/libadeadvm.so.0", "usr/include/adeadvm.h", "usr/lib/pkgconfig/adeadvm.pc",
                                        "usr/include/adeadvm.hpp", "usr/share/man/man1/adead-vm.1", "usr/share/man/man1/adead-asm.1"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", root, files[i]);
        if (access(path, R_OK)) fail_msg("not installed: %s", path);
    }
}

/* pkg-config with the scratch root as its sysroot, as a packager would check it. */
static void test_embed_builds_with_pkg_config(void **state)
{
    (void)state;
    const char *san = getenv("SANITIZE");
    const char *sanflags = san && !strcmp(san, "1") ? "-fsanitize=address,undefined" : "";
    char env[600], cmd[2048], *out = NULL;
    snprintf(env, sizeof env, "PKG_CONFIG_SYSROOT_DIR=%s PKG_CONFIG_PATH=%s/usr/lib/pkgconfig", root, root);
    snprintf(cmd, sizeof cmd, "%s pkg-config --modversion adeadvm", env);
    assert_int_equal(run_cmd(cmd, &out), 0);
    assert_string_equal(out, ADEAD_VERSION_STRING "\n");
    free(out);
    snprintf(cmd, sizeof cmd, "%s sh -c '${CC:-cc} -std=c99 -Wall -Wextra -Werror %s examples/embed.c $(pkg-config --cflags --libs adeadvm) "
                              "-Wl,-rpath,%s/usr/lib -o %s/embed'",
             env, sanflags, root, root);
    if (run_cmd(cmd, &out)) fail_msg("%s\n%s", cmd, out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s/embed", root);
    assert_int_equal(run_cmd(cmd, &out), 0);
    assert_string_equal(out, "libadeadvm " ADEAD_VERSION_STRING ": y = 10.5 20.5 30.5 40.5 (3 instructions)\n");
    free(out);
}

/* Installed under a prefix of one's own, with no DESTDIR: a program built with nothing but
 * `pkg-config --cflags --libs adeadvm` finds libadeadvm.so.0 when it runs (the .pc's rpath). */
static void test_prefix_install_runs_as_built(void **state)
{
    (void)state;
    const char *san = getenv("SANITIZE");
    const char *sanflags = san && !strcmp(san, "1") ? "-fsanitize=address,undefined" : "";
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "make -s install SANITIZE=%s BUILD=%s PREFIX=%s/opt", san ? san : "", build_dir(), root);
    if (run_cmd(cmd, &out)) fail_msg("%s\n%s", cmd, out);
    free(out);
    snprintf(cmd, sizeof cmd, "PKG_CONFIG_PATH=%s/opt/lib/pkgconfig sh -c '${CC:-cc} -std=c99 -Wall -Wextra -Werror %s examples/embed.c "
                              "$(pkg-config --cflags --libs adeadvm) -o %s/embed2'",
             root, sanflags, root);
    if (run_cmd(cmd, &out)) fail_msg("%s\n%s", cmd, out);
    free(out);
    snprintf(cmd, sizeof cmd, "env -u LD_LIBRARY_PATH %s/embed2", root);
    if (run_cmd(cmd, &out)) fail_msg("%s\n%s", cmd, out);
    assert_string_equal(out, "libadeadvm " ADEAD_VERSION_STRING ": y = 10.5 20.5 30.5 40.5 (3 instructions)\n");
    free(out);
}

static void test_shared_library_exports_only_the_api(void **state)
{
    (void)state;
    char cmd[600], *out = NULL;
    snprintf(cmd, sizeof cmd, "nm -D --defined-only %s/usr/lib/libadeadvm.so | awk '{print $3}' | grep -v '^adead_' | grep -v '^_' ", root);
    run_cmd(cmd, &out);
    if (out && *out) fail_msg("symbols outside the public API are exported:\n%s", out);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_installed_files),
        cmocka_unit_test(test_embed_builds_with_pkg_config),
        cmocka_unit_test(test_prefix_install_runs_as_built),
        cmocka_unit_test(test_shared_library_exports_only_the_api),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
