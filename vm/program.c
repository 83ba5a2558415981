/* Programs: load (file, memory or assembly text), verify once, pre-decode once. */
#include "../asm/asm.h"
#include "../util/fileio.h"
#include "../util/npy.h"
#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *adead_version(void) { return ADEAD_VERSION_STRING; }

const char *adead_status_name(int status)
{
    switch (status) {
    case ADEAD_OK: return "ok";
    case ADEAD_E_ARG: return "bad argument";
    case ADEAD_E_LOAD: return "bad program";
    case ADEAD_E_TRAP: return "trap";
    case ADEAD_E_FUEL: return "out of fuel";
    case ADEAD_E_MEMORY: return "memory limit";
    case ADEAD_E_IO: return "I/O error";
    case ADEAD_E_NOMEM: return "host out of memory";
    default: return "unknown status";
    }
}

static int set_err(char *err, size_t errlen, int status, const char *fmt, const char *a, const char *b)
{
    if (err && errlen) snprintf(err, errlen, fmt, a, b);
    return status;
}

/* Names and I/O lists derived from the symbol and tensor tables. */
static int index_program(adead_program *p)
{
    const bib_module *m = &p->mod;
    p->inputs = calloc(m->n_tensors + 1, sizeof *p->inputs);
    p->outputs = calloc(m->n_tensors + 1, sizeof *p->outputs);
    if (!p->inputs || !p->outputs || isa_names_build(m, &p->names)) return -1;
    for (uint32_t t = 0; t < m->n_tensors; t++) {
        if (m->tensors[t].flags & BIB_T_INPUT) p->inputs[p->n_inputs++] = t;
        if (m->tensors[t].flags & BIB_T_OUTPUT) p->outputs[p->n_outputs++] = t;
    }
    return 0;
}

int adead_program_load_memory(const void *bib, size_t size, const char *name, adead_program **out, char *err, size_t errlen)
{
    if (!out || (!bib && size)) return set_err(err, errlen, ADEAD_E_ARG, "%s%s", "adead_program_load_memory: NULL argument", "");
    *out = NULL;
    if (!name) name = "<memory>";
    adead_program *p = calloc(1, sizeof *p);
    if (!p || !(p->name = malloc(strlen(name) + 1))) {
        free(p);
        return set_err(err, errlen, ADEAD_E_NOMEM, "%s%s", "out of memory", "");
    }
    strcpy(p->name, name);
    char why[1024];
    int rc = bib_read(bib, size, &p->mod, why, sizeof why);
    if (rc) {
        adead_program_free(p);
        return set_err(err, errlen, rc == BIB_ERR_NOMEM ? ADEAD_E_NOMEM : ADEAD_E_LOAD, "%s: %s", name, why);
    }
    if (verify_module(&p->mod, name, err, errlen)) {
        adead_program_free(p);
        return ADEAD_E_LOAD;
    }
    if (index_program(p)) {
        adead_program_free(p);
        return set_err(err, errlen, ADEAD_E_NOMEM, "%s: %s", name, "out of memory");
    }
    *out = p;
    return ADEAD_OK;
}

int adead_program_assemble(const char *source, size_t len, const char *filename, adead_program **out, char *err, size_t errlen)
{
    void *bib;
    size_t size;
    if (out) *out = NULL;
    int rc = adead_assemble(source, len, filename, &bib, &size, err, errlen);
    if (rc) return rc;
    rc = adead_program_load_memory(bib, size, filename, out, err, errlen);
    free(bib);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

int adead_program_load_file(const char *path, adead_program **out, char *err, size_t errlen)
{
    if (!path || !out) return set_err(err, errlen, ADEAD_E_ARG, "%s%s", "adead_program_load_file: NULL argument", "");
    *out = NULL;
    unsigned char *bytes;
    size_t size;
    int text = ends_with(path, ".adasm");
    int rc = fileio_read(path, BIB_MAX_FILE, text ? fileio_text_head : bib_head_check, &bytes, &size, err, errlen);
    if (rc) return rc;
    rc = text ? adead_program_assemble((const char *)bytes, size, path, out, err, errlen)
                                       : adead_program_load_memory(bytes, size, path, out, err, errlen);
    free(bytes);
    return rc;
}

void adead_program_free(adead_program *p)
{
    if (!p) return;
    bib_free(&p->mod);
    free(p->name);
    free(p->inputs);
    free(p->outputs);
    isa_names_free(&p->names);
    free(p);
}

int adead_program_input_count(const adead_program *p) { return p ? p->n_inputs : 0; }
int adead_program_output_count(const adead_program *p) { return p ? p->n_outputs : 0; }

const char *adead_program_input_name(const adead_program *p, int i)
{
    return p && i >= 0 && i < p->n_inputs ? p->names.tensor[p->inputs[i]] : NULL;
}

const char *adead_program_output_name(const adead_program *p, int i)
{
    return p && i >= 0 && i < p->n_outputs ? p->names.tensor[p->outputs[i]] : NULL;
}
