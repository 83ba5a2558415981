/* embed: run an ADead-BIB program from C with libadeadvm.
 *
 *   cc embed.c $(pkg-config --cflags --libs adeadvm) -o embed && ./embed
 *
 * The program is assembled from text in memory; it scales a vector by a factor and adds an
 * offset: y = x * scale + offset (elementwise, with numpy broadcasting of the 1-element tensors). */
#include <adeadvm.h>

#include <stdio.h>
#include <string.h>

static const char *source =
    ".input  x      f32\n"
    ".input  scale  f32 [1]\n"
    ".const  offset_value f32 [1] = [0.5]\n"
    ".tensor offset f32 = offset_value\n"
    ".output y      f32\n"
    "    TMUL y, x, scale\n"
    "    TADD y, y, offset\n"
    "    HALT\n";

int main(void)
{
    char err[4096];
    adead_program *prog;
    if (adead_program_assemble(source, strlen(source), "embed.adasm", &prog, err, sizeof err)) {
        fprintf(stderr, "assembly failed:\n%s", err);
        return 1;
    }
    adead_vm *vm = adead_vm_new(prog);
    const float x[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    const float scale[1] = {10.0f};
    const int64_t xdims[1] = {4}, sdims[1] = {1};
    int rc = vm ? ADEAD_OK : ADEAD_E_NOMEM;
    if (!rc) rc = adead_vm_set_fuel(vm, 1000); /* a budget: this program needs 3 instructions */
    if (!rc) rc = adead_vm_bind(vm, "x", ADEAD_F32, 1, xdims, x);
    if (!rc) rc = adead_vm_bind(vm, "scale", ADEAD_F32, 1, sdims, scale);
    if (!rc) rc = adead_vm_run(vm);
    adead_tensor_view y;
    if (!rc) rc = adead_vm_output(vm, "y", &y);
    if (rc) {
        fprintf(stderr, "%s: %s\n", adead_status_name(rc), vm ? adead_vm_error(vm) : "out of memory");
    } else {
        const float *v = y.data;
        printf("libadeadvm %s: y =", adead_version());
        for (int64_t i = 0; i < y.dims[0]; i++) printf(" %g", (double)v[i]);
        printf(" (%llu instructions)\n", (unsigned long long)adead_vm_instructions(vm));
    }
    adead_vm_free(vm);
    adead_program_free(prog);
    return rc ? 1 : 0;
}
