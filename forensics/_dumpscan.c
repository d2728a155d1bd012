/*
 * The compiled scanner of the SQL dump reader: the rows of INSERT statements.
 *
 * scan_tuples() reads as many plain tuples "(v, v, ...)" as it can from a window of a
 * dump, where each value is a quoted string, NULL, a number or a 0x hex literal (true and
 * false in PostgreSQL), and returns them column by column as Arrow buffers (values,
 * int64 offsets, validity bitmap), ready to be wrapped without copying. Anything else
 * (comments, introducers, casts, E'' strings, keywords...) stops it before that tuple,
 * and the Python reader (forensics/readers/sqldump.py) reads it with the general parser,
 * which gives the same values. The grammar and the escapes are those of the Python
 * reader's fast path (forensics/readers/fastrows.py); tests compare the two.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->data, (size_t)cap);  /* plain malloc: the scan runs without the GIL */
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static inline int buf_put(Buf *b, const char *src, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->data + b->len, src, (size_t)n);
    b->len += n;
    return 0;
}

static inline int buf_put64(Buf *b, int64_t v) { return buf_put(b, (const char *)&v, 8); }

static void buf_free(Buf *b) { free(b->data); b->data = NULL; b->len = b->cap = 0; }

typedef struct {
    Buf data;
    Buf offsets;   /* int64, rows + 1 */
    Buf valid;     /* one byte per row: 0 null, 1 value */
    int has_hex;
} Column;

static void free_columns(Column *cols, Py_ssize_t width);
static PyObject *build_result(Column *cols, Py_ssize_t width, Py_ssize_t rows, Py_ssize_t pos, int ended,
                              Buf *starts, Buf *lines, int64_t newlines);

enum { OK = 0, STOP = 1, NEED_MORE = 2, FAILED = -1 };

static inline int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static inline int is_ident(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
static inline int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One quoted string starting at *p (the quote). Appends the unescaped bytes. */
static int quoted(const char **p, const char *end, int eof, int mysql, Buf *out) {
    const char quote = **p;
    const char *s = *p + 1;
    for (;;) {
        const char *run = s;
        while (s < end && *s != quote && !(mysql && *s == '\\')) s++;
        if (s > run && buf_put(out, run, s - run) < 0) return FAILED;
        if (s >= end) return eof ? STOP : NEED_MORE;
        if (*s == '\\') {
            if (s + 1 >= end) return eof ? STOP : NEED_MORE;
            char c = s[1], r;
            switch (c) {
                case '0': r = '\0'; break;
                case 'b': r = '\b'; break;
                case 'n': r = '\n'; break;
                case 'r': r = '\r'; break;
                case 't': r = '\t'; break;
                case 'Z': r = '\x1a'; break;
                case '%': case '_':
                    if (buf_put(out, s, 2) < 0) return FAILED;  /* \% and \_ keep their backslash */
                    s += 2;
                    continue;
                default: r = c;
            }
            if (buf_put(out, &r, 1) < 0) return FAILED;
            s += 2;
            continue;
        }
        /* a quote: doubled, or the end of the string */
        if (s + 1 >= end) return eof ? (*p = s + 1, OK) : NEED_MORE;
        if (s[1] == quote) {
            if (buf_put(out, &quote, 1) < 0) return FAILED;
            s += 2;
            continue;
        }
        *p = s + 1;
        return OK;
    }
}

/* A number as the Python fast path takes it: -?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)? not followed by [\w.] */
static const char *number_end(const char *s, const char *end) {
    const char *q = s;
    if (q < end && *q == '-') q++;
    const char *digits = q;
    while (q < end && *q >= '0' && *q <= '9') q++;
    if (q > digits) {
        if (q < end && *q == '.') { q++; while (q < end && *q >= '0' && *q <= '9') q++; }
    } else {
        if (!(q < end && *q == '.')) return NULL;
        q++;
        const char *frac = q;
        while (q < end && *q >= '0' && *q <= '9') q++;
        if (q == frac) return NULL;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        const char *e = q + 1;
        if (e < end && (*e == '+' || *e == '-')) e++;
        const char *exp = e;
        while (e < end && *e >= '0' && *e <= '9') e++;
        if (e > exp) q = e;
    }
    return q;
}

static int word(const char *s, const char *end, const char *w, size_t n) {
    return (size_t)(end - s) > n && strncmp(s, w, n) == 0 && !is_ident(s[n]);
}

/* One value at *p into column col. */
static int value(const char **p, const char *end, int eof, int mysql, Column *col) {
    const char *s = *p;
    if (s >= end) return eof ? STOP : NEED_MORE;
    char c = *s;
    if (c == '\'' || (c == '"' && mysql)) {
        int r = quoted(&s, end, eof, mysql, &col->data);
        if (r != OK) return r;
    } else if (c == 'N') {
        if ((size_t)(end - s) <= 4) return eof ? STOP : NEED_MORE;
        if (!word(s, end, "NULL", 4)) return STOP;
        s += 4;
        *p = s;
        return buf_put(&col->valid, "\0", 1) < 0 ? FAILED : OK;
    } else if (mysql && c == '0' && s + 1 < end && s[1] == 'x') {
        const char *h = s + 2;
        while (h < end && hexval(*h) >= 0) h++;
        if (h >= end) return eof ? STOP : NEED_MORE;
        if (h == s + 2 || is_ident(*h)) return STOP;
        Py_ssize_t n = h - (s + 2);
        const char *d = s + 2;
        if (n % 2) {
            char b = (char)hexval(*d++);
            if (buf_put(&col->data, &b, 1) < 0) return FAILED;
        }
        for (; d < h; d += 2) {
            char b = (char)(hexval(d[0]) * 16 + hexval(d[1]));
            if (buf_put(&col->data, &b, 1) < 0) return FAILED;
        }
        col->has_hex = 1;
        s = h;
    } else if ((c >= '0' && c <= '9') || c == '-' || c == '.') {
        const char *q = number_end(s, end);
        if (q == NULL) return STOP;
        if (q >= end) return eof ? STOP : NEED_MORE;
        if (is_ident(*q) || *q == '.') return STOP;
        if (buf_put(&col->data, s, q - s) < 0) return FAILED;
        s = q;
    } else if (!mysql && (c == 't' || c == 'f')) {
        size_t n = c == 't' ? 4 : 5;
        if ((size_t)(end - s) <= n) return eof ? STOP : NEED_MORE;
        if (!word(s, end, c == 't' ? "true" : "false", n)) return STOP;
        if (buf_put(&col->data, s, (Py_ssize_t)n) < 0) return FAILED;
        s += n;
    } else {
        return STOP;
    }
    *p = s;
    return buf_put(&col->valid, "\1", 1) < 0 ? FAILED : OK;
}

static int valid_utf8(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) { i++; continue; }
        int len;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
        else return 0;
        if (i + len > n) return 0;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

typedef struct {
    const char *base, *end, *p;
    Py_ssize_t width, limit, rows;
    int eof, mysql, ended, failed;
    int64_t offset0, line0, newlines;
    Column *cols;
    Buf starts, lines;
} Scan;

/* Count the newlines in [from, to). */
static int64_t newlines(const char *from, const char *to) {
    int64_t n = 0;
    for (const char *q = from; q < to && (q = memchr(q, '\n', (size_t)(to - q))) != NULL; q++) n++;
    return n;
}

static int start_scan(Scan *sc, Py_buffer *view, Py_ssize_t pos) {
    if (pos < 0 || pos > view->len) pos = view->len;  /* nothing to read outside the buffer */
    sc->base = (const char *)view->buf;
    sc->end = sc->base + view->len;
    sc->p = sc->base + pos;
    sc->cols = calloc((size_t)(sc->width > 0 ? sc->width : 1), sizeof(Column));
    if (!sc->cols) return -1;
    for (Py_ssize_t i = 0; i < sc->width; i++)
        if (buf_put64(&sc->cols[i].offsets, 0) < 0) return -1;
    return 0;
}

/* The tuple loop: runs without the GIL, touching only its own buffers and the caller's bytes. */
static void tuples_loop(Scan *sc) {
    const char *base = sc->base, *end = sc->end, *p = sc->p, *from = sc->p, *counted = sc->p;
    Py_ssize_t width = sc->width;
    Column *cols = sc->cols;
    int64_t line = sc->line0;
    Py_ssize_t marks[3 * 64], *mark = width <= 64 ? marks : malloc(sizeof(Py_ssize_t) * 3 * (size_t)width);
    if (!mark) { sc->failed = 1; return; }
    while (sc->rows < sc->limit && p < end && *p == '(') {
        const char *start = p;
        for (Py_ssize_t i = 0; i < width; i++) {  /* to take back a tuple that does not finish */
            mark[3 * i] = cols[i].data.len;
            mark[3 * i + 1] = cols[i].offsets.len;
            mark[3 * i + 2] = cols[i].valid.len;
        }
        const char *q = p + 1;
        int r = OK;
        for (Py_ssize_t i = 0; i < width && r == OK; i++) {
            while (q < end && is_space(*q)) q++;
            r = value(&q, end, sc->eof, sc->mysql, &cols[i]);
            if (r != OK) break;
            if (buf_put64(&cols[i].offsets, (int64_t)cols[i].data.len) < 0) { r = FAILED; break; }
            while (q < end && is_space(*q)) q++;
            if (q >= end) { r = sc->eof ? STOP : NEED_MORE; break; }
            char want = i + 1 < width ? ',' : ')';
            if (*q != want) { r = STOP; break; }
            q++;
        }
        int last = 0;
        if (r == OK) {  /* the separator after the tuple */
            while (q < end && is_space(*q)) q++;
            if (q < end && *q == ',') {
                q++;
                while (q < end && is_space(*q)) q++;
            } else {
                last = 1;
            }
            if (q >= end && !sc->eof) r = NEED_MORE;
        }
        if (r != OK) {
            for (Py_ssize_t i = 0; i < width; i++) {
                cols[i].data.len = mark[3 * i];
                cols[i].offsets.len = mark[3 * i + 1];
                cols[i].valid.len = mark[3 * i + 2];
            }
            if (r == FAILED) sc->failed = 1;
            break;
        }
        line += newlines(counted, start);
        counted = start;
        if (buf_put64(&sc->starts, sc->offset0 + (int64_t)(start - base)) < 0 || buf_put64(&sc->lines, line) < 0) {
            sc->failed = 1;
            break;
        }
        sc->rows++;
        p = q;
        if (last) { sc->ended = 1; break; }
    }
    if (mark != marks) free(mark);
    sc->newlines = newlines(from, p);
    sc->p = p;
}

static PyObject *finish_scan(Scan *sc, Py_buffer *view) {
    PyObject *result = NULL;
    if (sc->failed) PyErr_NoMemory();
    else result = build_result(sc->cols, sc->width, sc->rows, sc->p - sc->base, sc->ended, &sc->starts, &sc->lines,
                               sc->newlines);
    free_columns(sc->cols, sc->width);
    buf_free(&sc->starts);
    buf_free(&sc->lines);
    PyBuffer_Release(view);
    return result;
}

static PyObject *scan_tuples(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos;
    Scan sc;
    memset(&sc, 0, sizeof sc);
    if (!PyArg_ParseTuple(args, "y*nnppnLL", &view, &pos, &sc.width, &sc.eof, &sc.mysql, &sc.limit, &sc.offset0,
                          &sc.line0))
        return NULL;
    if (start_scan(&sc, &view, pos) < 0) sc.failed = 1;
    else {
        Py_BEGIN_ALLOW_THREADS
        tuples_loop(&sc);
        Py_END_ALLOW_THREADS
    }
    return finish_scan(&sc, &view);
}

static void free_columns(Column *cols, Py_ssize_t width) {
    if (!cols) return;
    for (Py_ssize_t i = 0; i < width; i++) {
        buf_free(&cols[i].data);
        buf_free(&cols[i].offsets);
        buf_free(&cols[i].valid);
    }
    free(cols);
}

static PyObject *build_result(Column *cols, Py_ssize_t width, Py_ssize_t rows, Py_ssize_t pos, int ended,
                              Buf *starts, Buf *lines, int64_t newlines) {
    PyObject *columns = PyList_New(width);
    if (!columns) return NULL;
    for (Py_ssize_t i = 0; i < width; i++) {
        Column *c = &cols[i];
        /* the validity bitmap Arrow wants, from one byte per row */
        Py_ssize_t nbytes = (rows + 7) / 8, nulls = 0;
        PyObject *bitmap = PyBytes_FromStringAndSize(NULL, nbytes);
        if (!bitmap) { Py_DECREF(columns); return NULL; }
        unsigned char *bits = (unsigned char *)PyBytes_AS_STRING(bitmap);
        memset(bits, 0, (size_t)nbytes);
        for (Py_ssize_t k = 0; k < rows; k++) {
            if (c->valid.data[k]) bits[k / 8] |= (unsigned char)(1u << (k % 8));
            else nulls++;
        }
        int utf8 = valid_utf8((const unsigned char *)c->data.data, c->data.len);
        PyObject *item = Py_BuildValue("(y#y#Nnii)", c->data.data ? c->data.data : "", c->data.len,
                                       c->offsets.data, c->offsets.len, bitmap, nulls, c->has_hex, utf8);
        if (!item) { Py_DECREF(columns); return NULL; }
        PyList_SET_ITEM(columns, i, item);
    }
    return Py_BuildValue("(nniy#y#NL)", pos, rows, ended, starts->data ? starts->data : "", starts->len,
                         lines->data ? lines->data : "", lines->len, columns, (long long)newlines);
}

/* COPY ... FROM stdin text format: one row per line, fields split by tabs, \N null, backslash escapes. */
static void copy_loop(Scan *sc) {
    const char *base = sc->base, *end = sc->end, *p = sc->p, *from = sc->p;
    int64_t line = sc->line0;
    while (sc->rows < sc->limit && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;  /* an incomplete line: the caller reads more, or handles the cut */
        const char *stop = nl;
        if (stop > p && stop[-1] == '\r') stop--;
        if (stop - p == 2 && p[0] == '\\' && p[1] == '.') { p = nl + 1; sc->ended = 1; break; }
        Py_ssize_t fields = 1;
        for (const char *t = p; (t = memchr(t, '\t', (size_t)(stop - t))) != NULL; t++) fields++;
        if (fields != sc->width) break;  /* the caller records it */
        const char *f = p;
        for (Py_ssize_t i = 0; i < sc->width; i++) {
            Column *c = &sc->cols[i];
            const char *fe = memchr(f, '\t', (size_t)(stop - f));
            if (!fe) fe = stop;
            if (fe - f == 2 && f[0] == '\\' && f[1] == 'N') {
                if (buf_put(&c->valid, "\0", 1) < 0) { sc->failed = 1; goto out; }
            } else {
                const char *s = f;
                while (s < fe) {
                    const char *run = s;
                    while (s < fe && *s != '\\') s++;
                    if (s > run && buf_put(&c->data, run, s - run) < 0) { sc->failed = 1; goto out; }
                    if (s >= fe) break;
                    if (s + 1 >= fe) {  /* a backslash that ends the field stays */
                        if (buf_put(&c->data, s, 1) < 0) { sc->failed = 1; goto out; }
                        s++;
                        break;
                    }
                    char e = s[1], r;
                    s += 2;
                    if (e >= '0' && e <= '7') {
                        int v = e - '0', k = 1;
                        while (k < 3 && s < fe && *s >= '0' && *s <= '7') { v = v * 8 + (*s - '0'); s++; k++; }
                        r = (char)(v & 0xFF);
                    } else if (e == 'x' && s < fe && hexval(*s) >= 0) {
                        int v = hexval(*s++);
                        if (s < fe && hexval(*s) >= 0) v = v * 16 + hexval(*s++);
                        r = (char)v;
                    } else {
                        switch (e) {
                            case 'b': r = '\b'; break;
                            case 'f': r = '\f'; break;
                            case 'n': r = '\n'; break;
                            case 'r': r = '\r'; break;
                            case 't': r = '\t'; break;
                            case 'v': r = '\v'; break;
                            default: r = e;
                        }
                    }
                    if (buf_put(&c->data, &r, 1) < 0) { sc->failed = 1; goto out; }
                }
                if (buf_put(&c->valid, "\1", 1) < 0) { sc->failed = 1; goto out; }
            }
            if (buf_put64(&c->offsets, (int64_t)c->data.len) < 0) { sc->failed = 1; goto out; }
            f = fe + 1;
        }
        if (buf_put64(&sc->starts, sc->offset0 + (int64_t)(p - base)) < 0 || buf_put64(&sc->lines, line) < 0) { sc->failed = 1; goto out; }
        line++;
        sc->rows++;
        p = nl + 1;
    }
out:
    sc->newlines = newlines(from, p);
    sc->p = p;
}

/* COPY ... FROM stdin text format: one row per line, fields split by tabs, \\N null, backslash escapes. */
static PyObject *scan_copy(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos;
    Scan sc;
    memset(&sc, 0, sizeof sc);
    if (!PyArg_ParseTuple(args, "y*nnpnLL", &view, &pos, &sc.width, &sc.eof, &sc.limit, &sc.offset0, &sc.line0))
        return NULL;
    if (start_scan(&sc, &view, pos) < 0) sc.failed = 1;
    else {
        Py_BEGIN_ALLOW_THREADS
        copy_loop(&sc);
        Py_END_ALLOW_THREADS
    }
    return finish_scan(&sc, &view);
}

static PyMethodDef methods[] = {
    {"scan_tuples", scan_tuples, METH_VARARGS,
     "scan_tuples(buf, pos, width, eof, mysql, limit, offset0, line0)\n  -> (pos, rows, ended, starts, lines, columns, newlines)\n\n"
     "Read plain tuples of width values from buf at pos. columns holds, per column, (values, int64 offsets,\n"
     "validity bitmap, null count, has_hex, valid_utf8); starts the int64 offset of each tuple (offset0 + its\n"
     "place in buf), lines its line (line0 is the line of pos); newlines counts those read. Stops before\n"
     "anything that is not plain. The scan runs without the GIL."},
    {"scan_copy", scan_copy, METH_VARARGS,
     "scan_copy(buf, pos, width, eof, limit, offset0, line0)\n  -> (pos, rows, done, starts, lines, columns, newlines)\n\n"
     "Read the lines of a COPY ... FROM stdin block (text format) with width fields each; done is true when\n"
     "the \\. line ending the block was read. Stops before a line of another width or an incomplete line."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dumpscan", "The compiled scanner of dump rows.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__dumpscan(void) { return PyModule_Create(&module); }
