/*
 * Optional accelerator for the share-file key derivation (EVP_BytesToKey with MD5
 * and 10,000,000 rounds): hashes a 16-byte MD5 digest again and again.
 *
 * MD5 is implemented from its definition in RFC 1321.  A 16-byte message always
 * fills exactly one padded block (message, 0x80, zeros, bit length 128), so every
 * round is one compression with the standard initial value.  The GIL is released
 * while hashing, so a GUI thread stays responsive.  The Python fallback in
 * keymanager/dkek/kdf.py computes the same values with hashlib; the tests compare
 * the two.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static uint32_t md5_k[64];
static const unsigned char md5_s[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
static unsigned char md5_g[64];

static inline uint32_t rotate_left(uint32_t x, unsigned int c)
{
    return (x << c) | (x >> (32u - c));
}

static void md5_tables_init(void)
{
    for (int i = 0; i < 64; i++) {
        /* RFC 1321: T[i] = floor(2^32 * |sin(i + 1)|) */
        md5_k[i] = (uint32_t)floor(fabs(sin((double)(i + 1))) * 4294967296.0);
        if (i < 16)
            md5_g[i] = (unsigned char)i;
        else if (i < 32)
            md5_g[i] = (unsigned char)((5 * i + 1) % 16);
        else if (i < 48)
            md5_g[i] = (unsigned char)((3 * i + 5) % 16);
        else
            md5_g[i] = (unsigned char)((7 * i) % 16);
    }
}

/* One MD5 of a 16-byte message held as four little-endian words, in place. */
static inline void md5_of_16_bytes(uint32_t w[4])
{
    uint32_t m[16] = {w[0], w[1], w[2], w[3], 0x80u, 0, 0, 0, 0, 0, 0, 0, 0, 0, 128u, 0};
    uint32_t a = 0x67452301u, b = 0xefcdab89u, c = 0x98badcfeu, d = 0x10325476u;
#define MD5_STEP(f_expression)                                                 \
    do {                                                                       \
        uint32_t f = (f_expression);                                           \
        uint32_t t = d;                                                        \
        d = c;                                                                 \
        c = b;                                                                 \
        b = b + rotate_left(a + f + md5_k[i] + m[md5_g[i]], md5_s[i]);         \
        a = t;                                                                 \
    } while (0)
    int i;
    for (i = 0; i < 16; i++)
        MD5_STEP((b & c) | (~b & d));
    for (; i < 32; i++)
        MD5_STEP((d & b) | (~d & c));
    for (; i < 48; i++)
        MD5_STEP(b ^ c ^ d);
    for (; i < 64; i++)
        MD5_STEP(c ^ (b | ~d));
#undef MD5_STEP
    w[0] = 0x67452301u + a;
    w[1] = 0xefcdab89u + b;
    w[2] = 0x98badcfeu + c;
    w[3] = 0x10325476u + d;
}

static PyObject *md5chain_iterate(PyObject *self, PyObject *args)
{
    Py_buffer digest;
    unsigned long long count;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*K", &digest, &count))
        return NULL;
    if (digest.len != 16) {
        PyBuffer_Release(&digest);
        PyErr_SetString(PyExc_ValueError, "digest must be 16 bytes");
        return NULL;
    }
    uint32_t w[4];
    unsigned char out[16];
    const unsigned char *in = (const unsigned char *)digest.buf;
    for (int i = 0; i < 4; i++)
        w[i] = (uint32_t)in[4 * i] | ((uint32_t)in[4 * i + 1] << 8) |
               ((uint32_t)in[4 * i + 2] << 16) | ((uint32_t)in[4 * i + 3] << 24);
    PyBuffer_Release(&digest);

    Py_BEGIN_ALLOW_THREADS
    for (unsigned long long n = 0; n < count; n++)
        md5_of_16_bytes(w);
    Py_END_ALLOW_THREADS

    for (int i = 0; i < 4; i++) {
        out[4 * i] = (unsigned char)w[i];
        out[4 * i + 1] = (unsigned char)(w[i] >> 8);
        out[4 * i + 2] = (unsigned char)(w[i] >> 16);
        out[4 * i + 3] = (unsigned char)(w[i] >> 24);
    }
    PyObject *result = PyBytes_FromStringAndSize((const char *)out, 16);
    /* best-effort clearing of intermediate key material */
    volatile unsigned char *vo = out;
    volatile uint32_t *vw = w;
    for (int i = 0; i < 16; i++)
        vo[i] = 0;
    for (int i = 0; i < 4; i++)
        vw[i] = 0;
    return result;
}

static PyMethodDef md5chain_methods[] = {
    {"iterate", md5chain_iterate, METH_VARARGS,
     "iterate(digest, count) -> bytes: apply MD5 count times to a 16-byte digest."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef md5chain_module = {
    PyModuleDef_HEAD_INIT, "_md5chain",
    "Iterated MD5 over a 16-byte digest (share-file key derivation accelerator).", -1,
    md5chain_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__md5chain(void)
{
    md5_tables_init();
    return PyModule_Create(&md5chain_module);
}
