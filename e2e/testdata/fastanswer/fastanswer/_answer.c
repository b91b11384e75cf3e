/* fastanswer._answer: answer() returns 42, computed in C. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *answer(PyObject *self, PyObject *args) {
	(void)self;
	(void)args;
	return PyLong_FromLong(6 * 7);
}

static PyMethodDef methods[] = {
	{"answer", answer, METH_NOARGS, "The answer, from C."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_answer", NULL, -1, methods};

PyMODINIT_FUNC PyInit__answer(void) { return PyModule_Create(&module); }
