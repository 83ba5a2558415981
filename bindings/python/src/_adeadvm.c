/* adeadvm._adeadvm: the C extension under bindings/python/adeadvm (which adds the Python layer).
 * Programs, runs with numpy arrays in and out, and the direct API. Inputs that are C-contiguous
 * arrays of float32, int32 or int64 are handed to the VM as they are (it copies them into its own
 * memory when it binds them); anything else is converted first. The GIL is released while a program
 * or a direct op runs. Errors come back as (status, message) to the Python layer, which raises. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <adeadvm.h>

typedef struct {
    PyObject_HEAD
    adead_program *prog;
} ProgramObject;

static void program_dealloc(ProgramObject *self)
{
    adead_program_free(self->prog);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject ProgramType;

static PyObject *error_tuple(int status, const char *message) { return Py_BuildValue("(is)", status, message); }

static PyObject *wrap_program(adead_program *p)
{
    ProgramObject *o = PyObject_New(ProgramObject, &ProgramType);
    if (!o) {
        adead_program_free(p);
        return NULL;
    }
    o->prog = p;
    return (PyObject *)o;
}

/* assemble(text, filename) -> Program | (status, message) */
static PyObject *py_assemble(PyObject *mod, PyObject *args)
{
    (void)mod;
    const char *text, *filename;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "s#s", &text, &len, &filename)) return NULL;
    adead_program *p = NULL;
    char err[8192];
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = adead_program_assemble(text, (size_t)len, filename, &p, err, sizeof err);
    Py_END_ALLOW_THREADS
    return rc ? error_tuple(rc, err) : wrap_program(p);
}

static PyObject *py_load(PyObject *mod, PyObject *args)
{
    (void)mod;
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path)) return NULL;
    adead_program *p = NULL;
    char err[4096];
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = adead_program_load_file(path, &p, err, sizeof err);
    Py_END_ALLOW_THREADS
    return rc ? error_tuple(rc, err) : wrap_program(p);
}

static PyObject *names(const adead_program *p, int (*count)(const adead_program *), const char *(*name)(const adead_program *, int))
{
    int n = count(p);
    PyObject *list = PyList_New(n);
    for (int i = 0; list && i < n; i++) PyList_SET_ITEM(list, i, PyUnicode_FromString(name(p, i)));
    return list;
}

static PyObject *program_inputs(ProgramObject *self, PyObject *unused)
{
    (void)unused;
    return names(self->prog, adead_program_input_count, adead_program_input_name);
}

static PyObject *program_outputs(ProgramObject *self, PyObject *unused)
{
    (void)unused;
    return names(self->prog, adead_program_output_count, adead_program_output_name);
}

static int dtype_of(PyArrayObject *a, adead_dtype *dt)
{
    switch (PyArray_TYPE(a)) {
    case NPY_FLOAT32: *dt = ADEAD_F32; return 0;
    case NPY_INT32: *dt = ADEAD_I32; return 0;
    case NPY_INT64: *dt = ADEAD_I64; return 0;
    default: return -1;
    }
}

static int npy_type(adead_dtype dt) { return dt == ADEAD_F32 ? NPY_FLOAT32 : dt == ADEAD_I32 ? NPY_INT32 : NPY_INT64; }

/* run(inputs: dict, fuel, mem, executor, simd, threads) -> (0, outputs, digest) | (status, message) */
static PyObject *program_run(ProgramObject *self, PyObject *args)
{
    PyObject *inputs;
    unsigned long long fuel, mem;
    const char *executor, *simd;
    int threads;
    if (!PyArg_ParseTuple(args, "O!KKzzi", &PyDict_Type, &inputs, &fuel, &mem, &executor, &simd, &threads)) return NULL;
    adead_vm *vm = adead_vm_new(self->prog);
    if (!vm) return PyErr_NoMemory();
    int rc = ADEAD_OK;
    if (fuel) rc = adead_vm_set_fuel(vm, fuel);
    if (!rc && mem) rc = adead_vm_set_memory_limit(vm, mem);
    if (!rc && executor) rc = adead_vm_set_executor(vm, executor);
    if (!rc && simd) rc = adead_vm_set_simd(vm, simd);
    if (!rc && threads >= 0) rc = adead_vm_set_threads(vm, threads);
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (!rc && PyDict_Next(inputs, &pos, &key, &value)) {
        const char *name = PyUnicode_AsUTF8(key);
        if (!name) {
            adead_vm_free(vm);
            return NULL;
        }
        PyArrayObject *a = (PyArrayObject *)PyArray_FROMANY(value, NPY_NOTYPE, 0, 0, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED);
        if (!a) {
            adead_vm_free(vm);
            return NULL;
        }
        adead_dtype dt;
        if (dtype_of(a, &dt)) { /* another dtype: converted to what the program declares */
            Py_DECREF(a);
            adead_vm_free(vm);
            return error_tuple(ADEAD_E_ARG, "an input array must be float32, int32 or int64");
        }
        int rank = PyArray_NDIM(a);
        if (rank > ADEAD_MAX_RANK) {
            Py_DECREF(a);
            adead_vm_free(vm);
            return error_tuple(ADEAD_E_ARG, "an input array has more than 4 axes");
        }
        int64_t dims[ADEAD_MAX_RANK];
        for (int i = 0; i < rank; i++) dims[i] = (int64_t)PyArray_DIM(a, i);
        rc = adead_vm_bind(vm, name, dt, rank, dims, PyArray_DATA(a));
        Py_DECREF(a);
    }
    if (!rc) {
        Py_BEGIN_ALLOW_THREADS rc = adead_vm_run(vm);
        Py_END_ALLOW_THREADS
    }
    if (rc) {
        PyObject *t = error_tuple(rc, adead_vm_error(vm));
        adead_vm_free(vm);
        return t;
    }
    PyObject *outs = PyDict_New();
    int n = adead_program_output_count(self->prog);
    for (int i = 0; outs && i < n; i++) {
        const char *name = adead_program_output_name(self->prog, i);
        adead_tensor_view v;
        if (adead_vm_output(vm, name, &v)) continue;
        npy_intp dims[ADEAD_MAX_RANK];
        for (int k = 0; k < v.rank; k++) dims[k] = (npy_intp)v.dims[k];
        PyObject *arr = PyArray_SimpleNew(v.rank, dims, npy_type(v.dtype));
        if (!arr) {
            Py_CLEAR(outs);
            break;
        }
        if (v.nbytes) memcpy(PyArray_DATA((PyArrayObject *)arr), v.data, v.nbytes);
        PyDict_SetItemString(outs, name, arr);
        Py_DECREF(arr);
    }
    char hex[65] = "";
    adead_vm_digest(vm, hex);
    adead_vm_free(vm);
    if (!outs) return NULL;
    PyObject *r = Py_BuildValue("(iOs)", 0, outs, hex);
    Py_DECREF(outs);
    return r;
}

static PyMethodDef program_methods[] = {
    {"inputs", (PyCFunction)program_inputs, METH_NOARGS, "input names"},
    {"outputs", (PyCFunction)program_outputs, METH_NOARGS, "output names"},
    {"run", (PyCFunction)program_run, METH_VARARGS, "run(inputs, fuel, mem, executor, simd, threads)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ProgramType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "adeadvm._adeadvm.Program",
    .tp_basicsize = sizeof(ProgramObject),
    .tp_dealloc = (destructor)program_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "an assembled or loaded program (libadeadvm's adead_program)",
    .tp_methods = program_methods,
};

/* ---- the direct API on float32 arrays ---- */

static PyArrayObject *f32(PyObject *o)
{
    return (PyArrayObject *)PyArray_FROMANY(o, NPY_FLOAT32, 0, 0, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
}

static PyObject *py_init(PyObject *mod, PyObject *args)
{
    (void)mod;
    int backend;
    if (!PyArg_ParseTuple(args, "i", &backend)) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = adead_init(backend);
    Py_END_ALLOW_THREADS
    return error_tuple(rc, rc ? adead_last_error() : "");
}

static PyObject *py_backend(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    return PyLong_FromLong(adead_backend());
}

/* op(kind, arrays...) -> (0, array) | (status, message). kind: 0 matmul, 1 softmax, 2 relu, 3 attention. */
static PyObject *py_op(PyObject *mod, PyObject *args)
{
    (void)mod;
    int kind;
    PyObject *x0, *x1 = NULL, *x2 = NULL;
    if (!PyArg_ParseTuple(args, "iO|OO", &kind, &x0, &x1, &x2)) return NULL;
    PyArrayObject *a = f32(x0), *b = x1 ? f32(x1) : NULL, *c = x2 ? f32(x2) : NULL, *out = NULL;
    PyObject *result = NULL;
    if (!a || (x1 && !b) || (x2 && !c)) goto done;
    const char *bad = NULL;
    npy_intp dims[3];
    int rank = 0;
    if (kind == 0) {
        if (!b || PyArray_NDIM(a) != 2 || PyArray_NDIM(b) != 2 || PyArray_DIM(a, 1) != PyArray_DIM(b, 0))
            bad = "matmul: a is [m, k] and b is [k, n]";
        else rank = 2, dims[0] = PyArray_DIM(a, 0), dims[1] = PyArray_DIM(b, 1);
    } else if (kind == 1) {
        if (PyArray_NDIM(a) != 2) bad = "softmax: x is [rows, cols]";
        else rank = 2, dims[0] = PyArray_DIM(a, 0), dims[1] = PyArray_DIM(a, 1);
    } else if (kind == 2) {
        rank = PyArray_NDIM(a);
        for (int i = 0; i < rank; i++) dims[i] = PyArray_DIM(a, i);
        if (rank > 3) bad = "relu: at most 3 axes here";
    } else {
        if (!b || !c || PyArray_NDIM(a) != 3 || PyArray_NDIM(b) != 3 || PyArray_NDIM(c) != 3)
            bad = "attention: q, k and v are [heads, seq_len, dim]";
        else
            for (int i = 0; i < 3 && !bad; i++)
                if (PyArray_DIM(a, i) != PyArray_DIM(b, i) || PyArray_DIM(a, i) != PyArray_DIM(c, i))
                    bad = "attention: q, k and v are [heads, seq_len, dim] of one shape";
        rank = 3;
        for (int i = 0; i < 3 && !bad; i++) dims[i] = PyArray_DIM(a, i);
    }
    for (int i = 0; !bad && i < rank; i++)
        if (dims[i] > 0x7FFFFFFF) bad = "a dimension is over 2^31 - 1";
    if (bad) {
        result = error_tuple(ADEAD_E_ARG, bad);
        goto done;
    }
    out = (PyArrayObject *)PyArray_SimpleNew(rank, dims, NPY_FLOAT32);
    if (!out) goto done;
    int rc;
    const float *pa = PyArray_DATA(a), *pb = b ? PyArray_DATA(b) : NULL, *pc = c ? PyArray_DATA(c) : NULL;
    float *po = PyArray_DATA(out);
    npy_intp size = PyArray_SIZE(a);
    Py_BEGIN_ALLOW_THREADS
    if (kind == 0) rc = adead_matmul(pa, pb, po, (int)dims[0], (int)dims[1], (int)PyArray_DIM(a, 1));
    else if (kind == 1) rc = adead_softmax(pa, po, (int)dims[0], (int)dims[1]);
    else if (kind == 2) rc = size > 0x7FFFFFFF ? ADEAD_E_ARG : adead_relu(pa, po, (int)size);
    else rc = adead_attention(pa, pb, pc, po, (int)dims[1], (int)dims[2], (int)dims[0]);
    Py_END_ALLOW_THREADS
    result = rc ? error_tuple(rc, adead_last_error()) : Py_BuildValue("(iO)", 0, (PyObject *)out);
done:
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(c);
    Py_XDECREF(out);
    return result;
}

static PyMethodDef module_methods[] = {
    {"assemble", py_assemble, METH_VARARGS, "assemble(text, filename)"},
    {"load", py_load, METH_VARARGS, "load(path)"},
    {"init", py_init, METH_VARARGS, "init(backend)"},
    {"backend", py_backend, METH_NOARGS, "the direct API's backend"},
    {"op", py_op, METH_VARARGS, "op(kind, arrays...)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_adeadvm", "libadeadvm for Python", -1, module_methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__adeadvm(void)
{
    import_array();
    if (PyType_Ready(&ProgramType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&ProgramType);
    PyModule_AddObject(m, "Program", (PyObject *)&ProgramType);
    PyModule_AddStringConstant(m, "version", adead_version());
    return m;
}
