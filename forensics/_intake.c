/*
 * The compiled reader of small evidence files: open, stat, read, hash, in one call.
 *
 * A web root holds tens of thousands of files of a few kilobytes; in Python each costs
 * five system calls and three hash objects, which is more than hashing the bytes.
 * read_small() does the same steps as the Python reader (forensics/evidence.py) for one
 * regular file no larger than a limit: open read-only without following a link and, where
 * allowed, without updating the access time; fstat; read the whole file; fstat again;
 * close; MD5, SHA-1 and SHA-256 through OpenSSL. Whenever anything is not plain (not a
 * regular file, larger than the limit, an error), it returns None and the Python reader
 * does the file again, so every error message and every odd case is decided in one place;
 * a size or time that moved while it was read is said as such, so that the Python reader,
 * which reads it again, records that it moved. Tests compare the two.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#ifndef O_NOATIME
#define O_NOATIME 0
#endif

static EVP_MD *md5_md, *sha1_md, *sha256_md;

static void to_hex(const unsigned char *digest, unsigned int len, char *out) {
    static const char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < len; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
}

static int digest_hex(EVP_MD_CTX *ctx, const EVP_MD *md, const char *data, size_t len, char *out,
                      unsigned int *out_len) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_DigestInit_ex2(ctx, md, NULL) || !EVP_DigestUpdate(ctx, data, len) || !EVP_DigestFinal_ex(ctx, digest, &n))
        return -1;
    to_hex(digest, n, out);
    *out_len = 2 * n;
    return 0;
}

/* Plain ASCII (tab, LF, VT, FF, printable), at least one LF, no line longer than long_line.
   Line by line: memchr finds the end, then one branch-free pass over the line that the
   compiler can vectorise (a byte is bad when it is neither printable nor tab, VT or FF; LF
   cannot occur inside a line). */
static int plain_ascii_lines(const unsigned char *p, size_t n, size_t long_line) {
    int newline = 0;
    size_t start = 0;
    while (start < n) {
        const unsigned char *found = memchr(p + start, '\n', n - start);
        size_t end = found ? (size_t)(found - p) : n;
        if (end - start > long_line) return 0;
        unsigned char bad = 0;
        for (size_t i = start; i < end; i++) {
            unsigned char c = p[i];
            bad |= (unsigned char)((unsigned char)(c - 32) > 94) & (unsigned char)((unsigned char)(c - 9) > 3);
        }
        if (bad) return 0;
        if (!found) break;
        newline = 1;
        start = end + 1;
    }
    return newline;
}

static int ns_fits(struct timespec t) {
    return t.tv_sec > -9223372035LL && t.tv_sec < 9223372035LL;
}

static int open_read_only(const char *path) {
    int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    int fd = open(path, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM && O_NOATIME) fd = open(path, flags);
    return fd;
}

typedef struct {
    struct stat st;
    char *data;
    size_t len;
    char md5[32], sha1[40], sha256[64];
    unsigned int md5_len, sha1_len, sha256_len;
    int plain;
    long long size_after, bytes_read;  /* where the file moved while it was read */
} Small;

/* 0: read and hashed; 1: not plain, leave it to the Python reader; 2: its size or modification
   time moved while it was read (the Python reader reads it again, and records that it moved).
   Runs without the GIL. */
static int read_one(const char *path, size_t limit, size_t head_size, size_t long_line, Small *out) {
    int fd = open_read_only(path);
    if (fd < 0) return 1;
    struct stat after;
    int result = 1;
    if (fstat(fd, &out->st) != 0 || !S_ISREG(out->st.st_mode) || (size_t)out->st.st_size > limit) goto done;
    size_t want = (size_t)out->st.st_size + 1; /* one more, to see a file that grew */
    out->data = malloc(want);
    if (!out->data) goto done;
    size_t got = 0;
    while (got < want) {
        ssize_t n = read(fd, out->data + got, want - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            goto done;
        }
        if (n == 0) break;
        got += (size_t)n;
        /* All that fstat promised: no read to see the end (a file that grew meanwhile is
           caught by the fstat after reading), as the Python reader does. */
        if (got == (size_t)out->st.st_size) break;
    }
    if (fstat(fd, &after) != 0) goto done;
    if (got != (size_t)out->st.st_size || after.st_size != out->st.st_size
        || after.st_mtim.tv_sec != out->st.st_mtim.tv_sec || after.st_mtim.tv_nsec != out->st.st_mtim.tv_nsec) {
        out->size_after = (long long)after.st_size;
        out->bytes_read = (long long)got;
        result = 2;
        goto done;
    }
    /* Times past what int64 nanoseconds hold (before 1677 or after 2262: forged or
       damaged) are left to the Python reader, which decides what to record. */
    if (!ns_fits(out->st.st_mtim) || !ns_fits(out->st.st_ctim) || !ns_fits(out->st.st_atim)) goto done;
    out->len = got;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int hashed = ctx && digest_hex(ctx, md5_md, out->data, got, out->md5, &out->md5_len) == 0
                 && digest_hex(ctx, sha1_md, out->data, got, out->sha1, &out->sha1_len) == 0
                 && digest_hex(ctx, sha256_md, out->data, got, out->sha256, &out->sha256_len) == 0;
    EVP_MD_CTX_free(ctx);
    if (!hashed) goto done;
    out->plain = plain_ascii_lines((const unsigned char *)out->data, got < head_size ? got : head_size, long_line);
    result = 0;
done:
    close(fd);
    if (result != 0) {  /* only a file read whole keeps its bytes */
        free(out->data);
        out->data = NULL;
    }
    return result;
}

static PyObject *ns(struct timespec t) {
    return PyLong_FromLongLong((long long)t.tv_sec * 1000000000LL + t.tv_nsec);
}

/* The Python value of one reading: as read_small returns it. Steals nothing; frees small.data. */
static PyObject *small_result(int status, Small *small) {
    PyObject *result;
    if (status == 2)
        result = Py_BuildValue("(sLLL)", "changed", (long long)small->st.st_size, small->size_after, small->bytes_read);
    else if (status != 0)
        result = Py_NewRef(Py_None);
    else
        result = Py_BuildValue(
            "(lLNNNkkKy#s#s#s#O)",
            (long)small->st.st_mode, (long long)small->st.st_size, ns(small->st.st_mtim), ns(small->st.st_ctim),
            ns(small->st.st_atim), (unsigned long)small->st.st_uid, (unsigned long)small->st.st_gid,
            (unsigned long long)small->st.st_ino, small->data, (Py_ssize_t)small->len,
            small->md5, (Py_ssize_t)small->md5_len, small->sha1, (Py_ssize_t)small->sha1_len,
            small->sha256, (Py_ssize_t)small->sha256_len, small->plain ? Py_True : Py_False);
    free(small->data);
    small->data = NULL;
    return result;
}

PyDoc_STRVAR(read_small_doc,
"read_small(path: bytes, limit: int, head_size: int, long_line: int) -> tuple | None\n\n"
"Read and hash one regular file of at most limit bytes. Returns (mode, size, mtime_ns,\n"
"ctime_ns, atime_ns, uid, gid, inode, data, md5, sha1, sha256, plain) where plain says the\n"
"first head_size bytes are plain ASCII lines no longer than long_line; ('changed', size before,\n"
"size after, bytes read) when its size or modification time moved while it was read; or None\n"
"when the file is anything else. In both last cases the caller reads it the general way.");

static PyObject *read_small(PyObject *self, PyObject *args) {
    PyObject *path_obj;
    Py_ssize_t limit, head_size, long_line;
    if (!PyArg_ParseTuple(args, "O&nnn", PyUnicode_FSConverter, &path_obj, &limit, &head_size, &long_line))
        return NULL;
    Small small;
    memset(&small, 0, sizeof small);
    int status;
    const char *path = PyBytes_AS_STRING(path_obj);
    Py_BEGIN_ALLOW_THREADS
    status = read_one(path, (size_t)limit, (size_t)head_size, (size_t)long_line, &small);
    Py_END_ALLOW_THREADS
    Py_DECREF(path_obj);
    return small_result(status, &small);
}

PyDoc_STRVAR(read_many_doc,
"read_many(paths: list[str | bytes], start: int, limit: int, head_size: int, long_line: int,\n"
"          max_bytes: int) -> list\n\n"
"read_small for paths[start:], read and hashed without the GIL, so that other threads run Python\n"
"meanwhile: one result per path, in order. It stops after the file that brings the bytes read\n"
"to max_bytes, so the list may be shorter than the paths left: call it again from there.");

static PyObject *read_many(PyObject *self, PyObject *args) {
    PyObject *paths;
    Py_ssize_t start, limit, head_size, long_line, max_bytes;
    if (!PyArg_ParseTuple(args, "O!nnnnn", &PyList_Type, &paths, &start, &limit, &head_size, &long_line, &max_bytes))
        return NULL;
    Py_ssize_t total = PyList_GET_SIZE(paths);
    if (start < 0 || start > total) {
        PyErr_SetString(PyExc_IndexError, "start outside the list of paths");
        return NULL;
    }
    if (max_bytes < 1) {
        PyErr_SetString(PyExc_ValueError, "max_bytes must be at least 1");
        return NULL;
    }
    /* A copy of the paths: converting one may run Python code (__fspath__) that changes the list. */
    PyObject *wanted = PyList_GetSlice(paths, start, total);
    if (!wanted) return NULL;
    Py_ssize_t count = PyList_GET_SIZE(wanted);
    PyObject **encoded = PyMem_Calloc((size_t)(count ? count : 1), sizeof(PyObject *));
    Small *found = PyMem_Calloc((size_t)(count ? count : 1), sizeof(Small));
    int *status = PyMem_Calloc((size_t)(count ? count : 1), sizeof(int));
    PyObject *results = NULL;
    if (!encoded || !found || !status) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++)
        if (!PyUnicode_FSConverter(PyList_GET_ITEM(wanted, i), &encoded[i])) goto done;
    Py_ssize_t done_count = 0;
    size_t bytes = 0;
    Py_BEGIN_ALLOW_THREADS
    while (done_count < count && bytes < (size_t)max_bytes) {  /* at least one file a call */
        Small *one = &found[done_count];
        status[done_count] = read_one(PyBytes_AS_STRING(encoded[done_count]), (size_t)limit, (size_t)head_size,
                                      (size_t)long_line, one);
        if (status[done_count] == 0) bytes += one->len;
        done_count++;
    }
    Py_END_ALLOW_THREADS
    results = PyList_New(done_count);
    for (Py_ssize_t i = 0; results && i < done_count; i++) {
        PyObject *item = small_result(status[i], &found[i]);
        if (!item) Py_CLEAR(results);
        else PyList_SET_ITEM(results, i, item);
    }
done:
    if (encoded)
        for (Py_ssize_t i = 0; i < count; i++) Py_XDECREF(encoded[i]);
    if (found)
        for (Py_ssize_t i = 0; i < count; i++) free(found[i].data);
    PyMem_Free(encoded);
    PyMem_Free(found);
    PyMem_Free(status);
    Py_DECREF(wanted);
    return results;
}

static PyMethodDef methods[] = {
    {"read_small", read_small, METH_VARARGS, read_small_doc},
    {"read_many", read_many, METH_VARARGS, read_many_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_intake", "Compiled reading and hashing of small evidence files.", -1, methods,
};

PyMODINIT_FUNC PyInit__intake(void) {
    /* Where OpenSSL refuses one (a FIPS-only system refuses MD5), the import fails and the
       Python reader, through hashlib, does every file. */
    md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!md5_md || !sha1_md || !sha256_md) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL offers no MD5, SHA-1 or SHA-256 here");
        return NULL;
    }
    return PyModule_Create(&module);
}
