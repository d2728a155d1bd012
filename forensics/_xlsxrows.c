/*
 * The compiled row writer of the exhibit sheets: the <row> elements of a chunk of rows.
 *
 * rows_xml() takes the chunk's columns as Arrow large_string arrays (validity bitmap,
 * int64 offsets, UTF-8 data) prepared by forensics/xlsx.py, and writes each row's cells
 * without the GIL. The cell rules are those of the Polars expressions in xlsx.py, which
 * stay the reference; tests compare the two byte for byte:
 *
 *   TEXT   an inline string: & < > escaped, CR as &#13;, every "_x" as "_x005F_x" (so
 *          Excel's _xHHHH_ escapes stay literal), the quote-prefix style when it starts
 *          with = + - @ TAB CR, xml:space="preserve" when it starts or ends with white space;
 *   MIXED  a value prefixed n (a number in the column's style), m (a number in the
 *          millisecond style) or t (text, as TEXT);
 *   NUMBER a number in the column's style;  BOOL  a boolean;  RAW  the cell as given
 *          (shared strings, rendered in Python).
 *
 * A null is an empty <c/>, which keeps the place of the cells after it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { TEXT = 0, MIXED = 1, NUMBER = 2, BOOL = 3, RAW = 4 };

typedef struct {
    char text[48];
    int len;
} Head;

typedef struct {
    int kind, style, ms_style, quoted_style;
    Head number, ms_number, quoted;  /* the cells' opening tags, made once per column */
    Py_buffer validity, offsets, data;
    int has_validity;
    Py_ssize_t offset;
} Column;

static void make_heads(Column *c) {
    c->number.len = c->style ? snprintf(c->number.text, sizeof c->number.text, "<c s=\"%d\"><v>", c->style)
                             : snprintf(c->number.text, sizeof c->number.text, "<c><v>");
    c->ms_number.len = c->ms_style ? snprintf(c->ms_number.text, sizeof c->ms_number.text, "<c s=\"%d\"><v>", c->ms_style)
                                   : snprintf(c->ms_number.text, sizeof c->ms_number.text, "<c><v>");
    c->quoted.len = snprintf(c->quoted.text, sizeof c->quoted.text, "<c t=\"inlineStr\" s=\"%d\">", c->quoted_style);
}

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

static int reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 1 << 20;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->data, (size_t)cap);  /* plain realloc: the rows are written without the GIL */
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static inline void put(Buf *b, const char *s, Py_ssize_t n) {
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
}

#define PUTS(b, s) put((b), (s), (Py_ssize_t)(sizeof(s) - 1))

static inline int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static inline Py_ssize_t put_int(char *out, long value) {
    char tmp[24];
    Py_ssize_t n = 0;
    unsigned long v = value < 0 ? (unsigned long)(-value) : (unsigned long)value;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    Py_ssize_t len = 0;
    if (value < 0) out[len++] = '-';
    while (n) out[len++] = tmp[--n];
    return len;
}

/* The worst case of a text cell: every byte escaped as "&#13;" or "_x005F_x" (8 bytes for 2). */
#define TEXT_OVERHEAD 96

/* Bytes a text cell writes otherwise than as they are: & < > CR, and _ (when an x follows). */
static unsigned char special[256];

static void init_special(void) {
    special['&'] = special['<'] = special['>'] = special['\r'] = special['_'] = 1;
}

static int text_cell(Buf *b, const unsigned char *s, Py_ssize_t n, const Head *quoted) {
    if (reserve(b, n * 5 + TEXT_OVERHEAD) < 0) return -1;
    if (n > 0 && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r')) {
        put(b, quoted->text, quoted->len);
    } else {
        PUTS(b, "<c t=\"inlineStr\">");
    }
    if (n > 0 && (is_space(s[0]) || is_space(s[n - 1])))
        PUTS(b, "<is><t xml:space=\"preserve\">");
    else
        PUTS(b, "<is><t>");
    Py_ssize_t start = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!special[s[i]]) continue;
        const char *rep = NULL;
        Py_ssize_t rep_len = 0, skip = 1;
        switch (s[i]) {
        case '&': rep = "&amp;"; rep_len = 5; break;
        case '<': rep = "&lt;"; rep_len = 4; break;
        case '>': rep = "&gt;"; rep_len = 4; break;
        case '\r': rep = "&#13;"; rep_len = 5; break;
        case '_':
            if (i + 1 < n && s[i + 1] == 'x') { rep = "_x005F_x"; rep_len = 8; skip = 2; }
            break;
        default: break;
        }
        if (rep) {
            put(b, (const char *)s + start, i - start);
            put(b, rep, rep_len);
            i += skip - 1;
            start = i + 1;
        }
    }
    put(b, (const char *)s + start, n - start);
    PUTS(b, "</t></is></c>");
    return 0;
}

static int number_cell(Buf *b, const unsigned char *s, Py_ssize_t n, const Head *head) {
    if (reserve(b, n + 64) < 0) return -1;
    put(b, head->text, head->len);
    put(b, (const char *)s, n);
    PUTS(b, "</v></c>");
    return 0;
}

static int cell(Buf *b, const Column *c, Py_ssize_t row) {
    Py_ssize_t at = c->offset + row;
    if (c->has_validity) {
        const unsigned char *bits = (const unsigned char *)c->validity.buf;
        if (!(bits[at >> 3] & (1u << (at & 7)))) {
            if (reserve(b, 4) < 0) return -1;
            PUTS(b, "<c/>");
            return 0;
        }
    }
    const int64_t *offsets = (const int64_t *)c->offsets.buf;
    const unsigned char *s = (const unsigned char *)c->data.buf + offsets[at];
    Py_ssize_t n = (Py_ssize_t)(offsets[at + 1] - offsets[at]);
    switch (c->kind) {
    case TEXT: return text_cell(b, s, n, &c->quoted);
    case NUMBER: return number_cell(b, s, n, &c->number);
    case BOOL:
        if (reserve(b, n + 32) < 0) return -1;
        PUTS(b, "<c t=\"b\"><v>");
        put(b, (const char *)s, n);
        PUTS(b, "</v></c>");
        return 0;
    case RAW:
        if (reserve(b, n) < 0) return -1;
        put(b, (const char *)s, n);
        return 0;
    default:  /* MIXED */
        if (n > 0 && s[0] == 't') return text_cell(b, s + 1, n - 1, &c->quoted);
        if (n > 0 && s[0] == 'm') return number_cell(b, s + 1, n - 1, &c->ms_number);
        return number_cell(b, n > 0 ? s + 1 : s, n > 0 ? n - 1 : 0, &c->number);
    }
}

static void release(Column *cols, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; i++) {
        if (cols[i].has_validity) PyBuffer_Release(&cols[i].validity);
        if (cols[i].offsets.obj) PyBuffer_Release(&cols[i].offsets);
        if (cols[i].data.obj) PyBuffer_Release(&cols[i].data);
    }
    PyMem_Free(cols);
}

/* rows_xml(columns, rows, first_row_number) -> bytes
 * columns: a sequence of (kind, style, ms_style, quoted_style, validity or None, offsets, data, offset). */
static PyObject *rows_xml(PyObject *self, PyObject *args) {
    PyObject *specs;
    Py_ssize_t rows, first;
    if (!PyArg_ParseTuple(args, "Onn", &specs, &rows, &first)) return NULL;
    PyObject *seq = PySequence_Fast(specs, "columns must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    Column *cols = PyMem_Calloc((size_t)(count ? count : 1), sizeof(Column));
    if (!cols) { Py_DECREF(seq); return PyErr_NoMemory(); }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *validity, *offsets, *data;
        Column *c = &cols[i];
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "iiiiOOOn", &c->kind, &c->style, &c->ms_style,
                              &c->quoted_style, &validity, &offsets, &data, &c->offset)) goto fail;
        make_heads(c);
        if (validity != Py_None) {
            if (PyObject_GetBuffer(validity, &c->validity, PyBUF_SIMPLE) < 0) goto fail;
            c->has_validity = 1;
        }
        if (PyObject_GetBuffer(offsets, &c->offsets, PyBUF_SIMPLE) < 0) goto fail;
        if (PyObject_GetBuffer(data, &c->data, PyBUF_SIMPLE) < 0) goto fail;
        if (c->offsets.len < (Py_ssize_t)sizeof(int64_t) * (c->offset + rows + 1)) {
            PyErr_SetString(PyExc_ValueError, "offsets buffer shorter than the rows");
            goto fail;
        }
    }
    Buf b = {0};
    int failed = 0;
    Py_ssize_t estimate = rows * (16 + count * 24);  /* tags; the values come on top */
    for (Py_ssize_t i = 0; i < count; i++) {
        const int64_t *offsets = (const int64_t *)cols[i].offsets.buf;
        estimate += (Py_ssize_t)(offsets[cols[i].offset + rows] - offsets[cols[i].offset]) * 11 / 10;
    }
    if (reserve(&b, estimate) < 0) {
        release(cols, count);
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < rows && !failed; r++) {
        if (reserve(&b, 48) < 0) { failed = 1; break; }
        PUTS(&b, "<row r=\"");
        b.len += put_int(b.data + b.len, (long)(first + r));
        PUTS(&b, "\">");
        for (Py_ssize_t i = 0; i < count && !failed; i++)
            if (cell(&b, &cols[i], r) < 0) failed = 1;
        if (!failed && reserve(&b, 8) == 0) PUTS(&b, "</row>");
        else failed = 1;
    }
    Py_END_ALLOW_THREADS
    release(cols, count);
    Py_DECREF(seq);
    if (failed) { free(b.data); return PyErr_NoMemory(); }
    PyObject *out = PyBytes_FromStringAndSize(b.data ? b.data : "", b.len);
    free(b.data);
    return out;
fail:
    release(cols, count);
    Py_DECREF(seq);
    return NULL;
}

static PyMethodDef methods[] = {
    {"rows_xml", rows_xml, METH_VARARGS,
     "rows_xml(columns, rows, first_row_number) -> bytes: the <row> elements of a chunk of an exhibit sheet."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_xlsxrows", "The compiled row writer of exhibit sheets.",
                                    -1, methods};

PyMODINIT_FUNC PyInit__xlsxrows(void) {
    init_special();
    return PyModule_Create(&module);
}
