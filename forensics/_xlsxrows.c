/*
 * The compiled row writer of the exhibit sheets: the <row> elements of a chunk of rows.
 *
 * rows_xml() takes the chunk's columns as Arrow text arrays prepared by forensics/xlsx.py,
 * either large_string (validity bitmap, int64 offsets, UTF-8 data) or string_view
 * (validity bitmap, 16-byte views, data buffers: what Polars hands over without a copy),
 * and writes each row's cells without the GIL. The cell rules are those of the Polars expressions in xlsx.py, which
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

/* One Arrow text array: large_string (offsets, data) or string_view (views, data buffers). */
typedef struct {
    Py_buffer validity, offsets, data;  /* string_view: offsets holds the views, data is unused */
    Py_buffer *bufs;                    /* string_view: the data buffers the views point into */
    Py_ssize_t nbufs, offset, rows;
    int has_validity, views;
} Text;

static void text_close(Text *t) {
    if (t->has_validity && t->validity.obj) PyBuffer_Release(&t->validity);
    if (t->offsets.obj) PyBuffer_Release(&t->offsets);
    if (t->data.obj) PyBuffer_Release(&t->data);
    for (Py_ssize_t i = 0; i < t->nbufs; i++)
        if (t->bufs[i].obj) PyBuffer_Release(&t->bufs[i]);
    PyMem_Free(t->bufs);
    memset(t, 0, sizeof *t);
}

/* The value of row at (its place in the arrays, offset included) and its length. Only after text_open. */
static inline const unsigned char *text_value(const Text *t, Py_ssize_t at, Py_ssize_t *n) {
    if (!t->views) {
        const int64_t *ends = (const int64_t *)t->offsets.buf;
        *n = (Py_ssize_t)(ends[at + 1] - ends[at]);
        return (const unsigned char *)t->data.buf + ends[at];
    }
    const unsigned char *view = (const unsigned char *)t->offsets.buf + (size_t)at * 16;
    int32_t len, index, start;
    memcpy(&len, view, 4);
    *n = len;
    if (len <= 12) return view + 4;  /* short values are held in the view itself */
    memcpy(&index, view + 8, 4);
    memcpy(&start, view + 12, 4);
    return (const unsigned char *)t->bufs[index].buf + start;
}

static inline int text_valid(const Text *t, Py_ssize_t at) {
    return !t->has_validity || (((const unsigned char *)t->validity.buf)[at >> 3] >> (at & 7) & 1);
}

/* Take the buffers of an array (data: one buffer for large_string, a tuple of buffers for
 * string_view) and check that every value of rows [offset, offset + rows) lies inside them,
 * so that the loops without the GIL read nothing else. Sets a Python error and returns -1. */
static int text_open(Text *t, PyObject *validity, PyObject *offsets, PyObject *data, Py_ssize_t offset,
                     Py_ssize_t rows) {
    memset(t, 0, sizeof *t);
    t->offset = offset;
    t->rows = rows;
    t->views = PyTuple_Check(data);
    if (offset < 0 || rows < 0) goto short_buffers;
    if (validity != Py_None) {
        if (PyObject_GetBuffer(validity, &t->validity, PyBUF_SIMPLE) < 0) return -1;
        t->has_validity = 1;
        if (t->validity.len * 8 < offset + rows) goto short_buffers;
    }
    if (PyObject_GetBuffer(offsets, &t->offsets, PyBUF_SIMPLE) < 0) return -1;
    if (!t->views) {
        if (PyObject_GetBuffer(data, &t->data, PyBUF_SIMPLE) < 0) return -1;
        if (t->offsets.len < (Py_ssize_t)sizeof(int64_t) * (offset + rows + 1)) goto short_buffers;
        const int64_t *ends = (const int64_t *)t->offsets.buf;
        for (Py_ssize_t r = offset; r < offset + rows; r++)
            if (ends[r] < 0 || ends[r + 1] < ends[r] || ends[r + 1] > t->data.len) goto bad_values;
        return 0;
    }
    t->nbufs = PyTuple_GET_SIZE(data);
    t->bufs = PyMem_Calloc((size_t)(t->nbufs ? t->nbufs : 1), sizeof(Py_buffer));
    if (!t->bufs) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < t->nbufs; i++)
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(data, i), &t->bufs[i], PyBUF_SIMPLE) < 0) return -1;
    if (t->offsets.len < 16 * (offset + rows)) goto short_buffers;
    for (Py_ssize_t r = offset; r < offset + rows; r++) {
        const unsigned char *view = (const unsigned char *)t->offsets.buf + (size_t)r * 16;
        int32_t len, index, start;
        memcpy(&len, view, 4);
        if (len < 0) goto bad_values;
        if (len <= 12) continue;
        memcpy(&index, view + 8, 4);
        memcpy(&start, view + 12, 4);
        if (index < 0 || index >= t->nbufs || start < 0 || (Py_ssize_t)start + len > t->bufs[index].len)
            goto bad_values;
    }
    return 0;
short_buffers:
    PyErr_SetString(PyExc_ValueError, "text array: buffers shorter than the rows");
    return -1;
bad_values:
    PyErr_SetString(PyExc_ValueError, "text array: a value lies outside its buffers");
    return -1;
}

/* The bytes of all values of the rows (nulls included: their slots are empty or ignored). */
static Py_ssize_t text_bytes(const Text *t) {
    if (!t->views) {
        const int64_t *ends = (const int64_t *)t->offsets.buf;
        return (Py_ssize_t)(ends[t->offset + t->rows] - ends[t->offset]);
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t r = t->offset; r < t->offset + t->rows; r++) {
        int32_t len;
        memcpy(&len, (const unsigned char *)t->offsets.buf + (size_t)r * 16, 4);
        total += len;
    }
    return total;
}

typedef struct {
    int kind, style, ms_style, quoted_style;
    Head number, ms_number, quoted;  /* the cells' opening tags, made once per column */
    Text text;
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
    int in_bytes;  /* data is the body of a bytes object made for it (no copy at the end), not malloc'ed */
} Buf;

static int reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 1 << 20;
    while (cap < b->len + extra) cap *= 2;
    /* plain malloc/realloc: the rows are written without the GIL. Past the bytes object's
       room (the estimate fell short), the rows move to a buffer of their own. */
    char *p = b->in_bytes ? malloc((size_t)cap) : realloc(b->data, (size_t)cap);
    if (!p) return -1;
    if (b->in_bytes) memcpy(p, b->data, (size_t)b->len);
    b->in_bytes = 0;
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

/* The tags of a text cell: the opening with its style and xml:space, the closing. */
#define TEXT_OVERHEAD 96

/* Bytes a text cell writes otherwise than as they are: & < > CR, and _ (when an x follows). */
static unsigned char special[256];

static void init_special(void) {
    special['&'] = special['<'] = special['>'] = special['\r'] = special['_'] = 1;
}

static int text_cell(Buf *b, const unsigned char *s, Py_ssize_t n, const Head *quoted) {
    /* Room for the tags and the value as it is; each escape asks for its own room below, so that
       a value without escapes (most) never asks for more than it takes. */
    if (reserve(b, n + TEXT_OVERHEAD) < 0) return -1;
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
        if (rep) {  /* room for the text before it, the escape, and the rest as it is */
            if (reserve(b, (i - start) + rep_len + (n - i) + 16) < 0) return -1;
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
    Py_ssize_t at = c->text.offset + row, n;
    if (!text_valid(&c->text, at)) {
        if (reserve(b, 4) < 0) return -1;
        PUTS(b, "<c/>");
        return 0;
    }
    const unsigned char *s = text_value(&c->text, at, &n);
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
    for (Py_ssize_t i = 0; i < count; i++) text_close(&cols[i].text);
    PyMem_Free(cols);
}

/* rows_xml(columns, rows, first_row_number) -> bytes
 * columns: a sequence of (kind, style, ms_style, quoted_style, validity or None, offsets, data, offset):
 * a large_string array (offsets, data), or a string_view one (views as offsets, a tuple of data buffers). */
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
        Py_ssize_t offset;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "iiiiOOOn", &c->kind, &c->style, &c->ms_style,
                              &c->quoted_style, &validity, &offsets, &data, &offset)) goto fail;
        make_heads(c);
        if (text_open(&c->text, validity, offsets, data, offset, rows) < 0) goto fail;
    }
    Buf b = {0};
    int failed = 0;
    /* The rows are written straight into the bytes object returned (shrunk to fit at the
       end), so the sheet's XML is not copied once more; the estimate is the tags of each
       cell by its kind, and its value with room for a few escapes. */
    Py_ssize_t estimate = rows * 32 + 64;
    for (Py_ssize_t i = 0; i < count; i++) {
        int kind = cols[i].kind;
        estimate += rows * (kind == RAW ? 4 : kind == TEXT || kind == MIXED ? 48 : 28);
        estimate += text_bytes(&cols[i].text) * 11 / 10;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, estimate);
    if (!out) {
        release(cols, count);
        Py_DECREF(seq);
        return NULL;
    }
    b.data = PyBytes_AS_STRING(out);
    b.cap = estimate;
    b.in_bytes = 1;
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
    if (b.in_bytes) {
        if (failed) { Py_DECREF(out); return PyErr_NoMemory(); }
        if (_PyBytes_Resize(&out, b.len) < 0) return NULL;  /* shrinks in place */
        return out;
    }
    Py_DECREF(out);
    if (failed) { free(b.data); return PyErr_NoMemory(); }
    out = PyBytes_FromStringAndSize(b.data, b.len);
    free(b.data);
    return out;
fail:
    release(cols, count);
    Py_DECREF(seq);
    return NULL;
}

/* Whether a UTF-8 value holds a character XML 1.0 forbids: C0 controls other than TAB, LF and CR,
 * U+FFFE and U+FFFF (the reference is FORBIDDEN in xlsx.py). */
static int forbidden(const unsigned char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c < 0x20) {
            if (c != '\t' && c != '\n' && c != '\r') return 1;
        } else if (c == 0xEF && i + 2 < n && s[i + 1] == 0xBF && (s[i + 2] == 0xBE || s[i + 2] == 0xBF)) {
            return 1;
        }
    }
    return 0;
}

/* Whether any of the 8 bytes at s is below 0x20 or is 0xEF (U+FFFE and U+FFFF start with it). */
static inline int word_has_rare_byte(const unsigned char *s) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t x, y;
    memcpy(&x, s, 8);
    y = x ^ (ones * 0xEF);
    return (((x - ones * 0x20) & ~x & highs) | ((y - ones) & ~y & highs)) != 0;
}

/* Whether any of the n bytes at s is below 0x20 or is 0xEF, 8 bytes at a time: most values
 * have neither, and are passed over at that speed. */
static int has_rare_byte(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8)
        if (word_has_rare_byte(s + i)) return 1;
    for (; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0xEF) return 1;
    return 0;
}

static PyObject *rare_rows(PyObject *self, PyObject *args) {
    PyObject *validity_obj, *offsets_obj, *data_obj;
    Py_ssize_t offset, rows, max_bytes;
    if (!PyArg_ParseTuple(args, "OOOnnn", &validity_obj, &offsets_obj, &data_obj, &offset, &rows, &max_bytes))
        return NULL;
    Text t;
    PyObject *found = NULL;
    if (text_open(&t, validity_obj, offsets_obj, data_obj, offset, rows) < 0) goto done;
    unsigned char *flags = calloc((size_t)(rows ? rows : 1), 1);
    if (!flags) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    if (t.views) {  /* values anywhere in their buffers: each looked at on its own */
        for (Py_ssize_t r = 0; r < rows; r++) {
            Py_ssize_t n;
            const unsigned char *s = text_value(&t, offset + r, &n);
            flags[r] = n > max_bytes || (has_rare_byte(s, n) && forbidden(s, n));
        }
    } else {
        const int64_t *ends = (const int64_t *)t.offsets.buf;
        const unsigned char *bytes = t.data.buf;
        for (Py_ssize_t r = 0; r < rows; r++) flags[r] = ends[offset + r + 1] - ends[offset + r] > max_bytes;
        /* The values lie end to end: scan them 8 bytes at a time for a byte below 0x20 or 0xEF; only where
         * one is met is its row found and looked at closely. */
        Py_ssize_t at = (Py_ssize_t)ends[offset], stop = (Py_ssize_t)ends[offset + rows], row = 0;
        while (at < stop) {
            if (at + 8 <= stop && !word_has_rare_byte(bytes + at)) {
                at += 8;
                continue;
            }
            unsigned char c = bytes[at];
            if (c >= 0x20 && c != 0xEF) {
                at++;
                continue;
            }
            while (ends[offset + row + 1] <= at) row++;  /* the row this byte belongs to (rows only move forward) */
            Py_ssize_t start = (Py_ssize_t)ends[offset + row], n = (Py_ssize_t)(ends[offset + row + 1] - start);
            if (forbidden(bytes + start, n)) flags[row] = 1;
            at = start + n;  /* the row is decided: go on after it */
        }
    }
    for (Py_ssize_t r = 0; r < rows; r++)  /* a null is never flagged, whatever its slot holds */
        if (!text_valid(&t, offset + r)) flags[r] = 0;
    Py_END_ALLOW_THREADS
    found = PyList_New(0);
    for (Py_ssize_t r = 0; found && r < rows; r++) {
        if (!flags[r]) continue;
        PyObject *index = PyLong_FromSsize_t(r);
        if (!index || PyList_Append(found, index) < 0) Py_CLEAR(found);
        Py_XDECREF(index);
    }
    free(flags);
done:
    text_close(&t);
    return found;
}

static PyMethodDef methods[] = {
    {"rows_xml", rows_xml, METH_VARARGS,
     "rows_xml(columns, rows, first_row_number) -> bytes: the <row> elements of a chunk of an exhibit sheet."},
    {"rare_rows", rare_rows, METH_VARARGS,
     "rare_rows(validity, offsets, data, offset, rows, max_bytes) -> list of int\n\n"
     "The rows of an Arrow large_string array, or string_view array (views as offsets, a tuple of data\n"
     "buffers as data; validity None: no nulls), whose value is longer than max_bytes\n"
     "or holds a character XML forbids. The scan runs without the GIL."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_xlsxrows", "The compiled row writer of exhibit sheets.",
                                    -1, methods};

PyMODINIT_FUNC PyInit__xlsxrows(void) {
    init_special();
    return PyModule_Create(&module);
}
