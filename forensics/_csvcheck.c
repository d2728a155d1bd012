/*
 * The compiled proof of the delimited-file reader's fast path: one pass over a block.
 *
 * check_block() decides what forensics/readers/csvblocks.py's _check decides with NumPy
 * (that module's docstring states the proof) in a single pass over the bytes, without
 * the GIL: whether every line is one record that Python's csv module and Polars split
 * alike, the number of fields of each line, and the counts the "clean" verdict needs.
 * Tests compare the two on generated and hand-made blocks.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LF 10
#define CR 13
#define TAB 9

typedef struct {
    const unsigned char *a;
    Py_ssize_t size;
    int delimiter, quote;  /* quote < 0: no quote character */
    Py_ssize_t field_limit;
    /* results */
    int proven;
    Py_ssize_t lines;
    int32_t *widths;  /* one per line when proven */
    Py_ssize_t controls;  /* bytes below 32 other than LF, CR and TAB */
    int has_del;
    int failed_memory;
} Check;

/* Room for one more line's width; 0, or -1 when memory ran out. */
static int room_for_line(Check *c, Py_ssize_t line, Py_ssize_t *cap) {
    if (line < *cap) return 0;
    Py_ssize_t more = *cap ? *cap * 2 : 4096;
    int32_t *grown = realloc(c->widths, sizeof(int32_t) * (size_t)more);  /* plain realloc: no GIL held */
    if (!grown) {
        c->failed_memory = 1;
        return -1;
    }
    c->widths = grown;
    *cap = more;
    return 0;
}

static void check_loop(Check *c) {
    const unsigned char *a = c->a;
    const Py_ssize_t size = c->size;
    const int delimiter = c->delimiter, quote = c->quote;
    unsigned char special[256];  /* the bytes the loop must look at; the rest are skipped */
    for (int b = 0; b < 256; b++) special[b] = (b < 32 && b != TAB) || b == 127;
    special[delimiter] = 1;
    if (quote >= 0) special[quote] = 1;
    int inside = 0;  /* an odd number of quote characters so far */
    int failed = 0, has_del = 0;
    Py_ssize_t line = 0, cap = 0, line_start = 0, controls = 0;
    int32_t fields = 1;
    for (Py_ssize_t i = 0;; i++) {
        while (i < size && !special[a[i]]) i++;
        if (i >= size) break;
        unsigned char b = a[i];
        if (b < 32) controls += b != LF && b != CR && b != TAB;
        else if (b == 127) has_del = 1;
        if (quote >= 0 && b == quote) {
            if (!inside) {  /* opens: after D, LF, Q or at the block's start */
                if (i > 0) {
                    unsigned char before = a[i - 1];
                    if (before != delimiter && before != LF && before != quote) failed = 1;
                }
            } else if (i + 1 < size) {  /* closes: before D, CR, LF, Q or the block's end */
                unsigned char after = a[i + 1];
                if (after != delimiter && after != LF && after != CR && after != quote) failed = 1;
            }
            inside = !inside;
        } else if (b == LF) {
            Py_ssize_t length = i - line_start;
            if (inside || length == 0 || (length == 1 && a[line_start] == CR) || length >= c->field_limit)
                failed = 1;  /* a line feed inside quotes, a blank line, a line too long */
            if (room_for_line(c, line, &cap) < 0) return;
            c->widths[line++] = fields;
            fields = 1;
            line_start = i + 1;
        } else if (b == CR) {
            if (i + 1 >= size || a[i + 1] != LF) failed = 1;  /* a lone CR ends a line for Python's csv */
        } else if (b == delimiter && !inside) {
            fields++;
        }
    }
    if (size && a[size - 1] != LF) {  /* the last line has no line feed */
        if (size - line_start >= c->field_limit) failed = 1;
        if (room_for_line(c, line, &cap) < 0) return;
        c->widths[line++] = fields;
    }
    c->lines = line;
    c->controls = controls;
    c->has_del = has_del;
    c->proven = !failed && !inside;  /* an odd number of quote characters is not proven */
}

static PyObject *check_block(PyObject *self, PyObject *args) {
    Py_buffer view;
    Check c;
    memset(&c, 0, sizeof c);
    if (!PyArg_ParseTuple(args, "y*iin", &view, &c.delimiter, &c.quote, &c.field_limit)) return NULL;
    c.a = view.buf;
    c.size = view.len;
    if (c.size == 0 || c.delimiter < 0 || c.delimiter > 255 || c.quote > 255 || c.delimiter == c.quote) {
        PyBuffer_Release(&view);
        if (c.size == 0) return Py_BuildValue("(nOOnO)", (Py_ssize_t)0, Py_False, Py_None, (Py_ssize_t)0, Py_False);
        PyErr_SetString(PyExc_ValueError, "check_block: delimiter and quote must be distinct bytes");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    check_loop(&c);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (c.failed_memory) {
        free(c.widths);
        return PyErr_NoMemory();
    }
    PyObject *widths;
    if (c.proven) widths = PyBytes_FromStringAndSize((const char *)c.widths, (Py_ssize_t)sizeof(int32_t) * c.lines);
    else {
        widths = Py_None;
        Py_INCREF(widths);
    }
    free(c.widths);
    if (!widths) return NULL;
    return Py_BuildValue("(nONnO)", c.lines, c.proven ? Py_True : Py_False, widths, c.controls,
                         c.has_del ? Py_True : Py_False);
}

static PyMethodDef methods[] = {
    {"check_block", check_block, METH_VARARGS,
     "check_block(block, delimiter, quote, field_limit) -> (lines, proven, widths, controls, has_del)\n\n"
     "delimiter and quote are byte values (quote -1: none). widths: the fields of each line as native int32\n"
     "bytes when proven, else None; controls: bytes below 32 other than LF, CR and TAB (when proven);\n"
     "has_del: a 127 byte was seen. The check runs without the GIL."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_csvcheck",
                                    "The compiled proof of the delimited reader's fast path.", -1, methods};

PyMODINIT_FUNC PyInit__csvcheck(void) { return PyModule_Create(&module); }
