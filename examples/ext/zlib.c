/*
 * zlib.c -- compress, decompress and crc32 over the system zlib, as a
 * gilscope extension.
 *
 *     gilscope ext build examples/ext/zlib.c -lz
 *     let z = load("zlib.so")
 *     let packed = z.compress(bytes("hello hello hello"))
 *     assert(str(z.decompress(packed)) == "hello hello hello")
 *
 * Like CPython's Modules/zlibmodule.c, it releases the lock around every
 * deflate() and inflate() call, which touch only zlib's own buffers, and
 * around crc32() of more than 5 KiB (CPython's threshold: below it, the
 * release costs more than it frees). An optional last argument `release`
 * (default true) keeps the lock when false, to measure what releasing buys.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <gilscope.h>

#define CRC32_RELEASE_MIN (5 * 1024)

/* The bytes of a bytes or string argument ("expected bytes or a string,
 * got T" otherwise). */
static const unsigned char *data_arg(gs_object *o, size_t *len) {
    return gs_as_data(o, len);
}

/* An optional true/false argument at `index`; 1 if absent. -1 on error. */
static int release_arg(gs_object *const *args, int nargs, int index) {
    int64_t value = 1;
    if (index < nargs && gs_as_int(args[index], &value) < 0) {
        return -1;
    }
    return value != 0;
}

/* compress(data [, level [, release]]) -> bytes */
static gs_object *zlib_compress(gs_object *const *args, int nargs) {
    size_t len = 0;
    const unsigned char *in = data_arg(args[0], &len);
    int64_t level = Z_DEFAULT_COMPRESSION;
    int release = release_arg(args, nargs, 2);
    z_stream zst;
    unsigned char *out;
    size_t bound, remaining = len;
    int err = Z_OK;
    gs_object *result;

    if (in == NULL || release < 0) {
        return NULL;
    }
    if (nargs > 1 && gs_as_int(args[1], &level) < 0) {
        return NULL;
    }
    if (level < -1 || level > 9) {
        return gs_raise("level must be -1..9, got %lld", (long long)level);
    }
    memset(&zst, 0, sizeof zst);
    if (deflateInit(&zst, (int)level) != Z_OK) {
        return gs_raise("deflateInit failed: %s", zst.msg ? zst.msg : "out of memory");
    }
    bound = deflateBound(&zst, (uLong)len);
    out = malloc(bound > 0 ? bound : 1);
    if (out == NULL) {
        deflateEnd(&zst);
        return gs_raise("out of memory for %zu bytes", bound);
    }
    zst.next_in = (unsigned char *)in; /* zlib does not write through it */
    zst.next_out = out;
    zst.avail_out = bound > UINT_MAX ? UINT_MAX : (uInt)bound;
    do {
        uInt chunk = remaining > UINT_MAX ? UINT_MAX : (uInt)remaining;
        int flush = chunk == remaining ? Z_FINISH : Z_NO_FLUSH;
        zst.avail_in = chunk;
        remaining -= chunk;
        /* `in` stays valid without the lock: args[0] is immutable and lives
         * until we return. Only zlib's buffers are touched here. */
        if (release) {
            GS_BEGIN_ALLOW_THREADS
            err = deflate(&zst, flush);
            GS_END_ALLOW_THREADS
        } else {
            err = deflate(&zst, flush);
        }
    } while (err == Z_OK && remaining > 0);
    if (err != Z_STREAM_END) {
        deflateEnd(&zst);
        free(out);
        return gs_raise("deflate failed (%d): %s", err, zst.msg ? zst.msg : "no detail");
    }
    result = gs_bytes(out, (size_t)zst.total_out);
    deflateEnd(&zst);
    free(out);
    return result;
}

/* decompress(data [, release]) -> bytes */
static gs_object *zlib_decompress(gs_object *const *args, int nargs) {
    size_t len = 0;
    const unsigned char *in = data_arg(args[0], &len);
    int release = release_arg(args, nargs, 1);
    z_stream zst;
    unsigned char *out;
    size_t capacity, produced = 0, remaining = len;
    int err = Z_OK;
    gs_object *result;

    if (in == NULL || release < 0) {
        return NULL;
    }
    memset(&zst, 0, sizeof zst);
    if (inflateInit(&zst) != Z_OK) {
        return gs_raise("inflateInit failed: %s", zst.msg ? zst.msg : "out of memory");
    }
    capacity = len < 1024 ? 4096 : len * 4;
    out = malloc(capacity);
    if (out == NULL) {
        inflateEnd(&zst);
        return gs_raise("out of memory for %zu bytes", capacity);
    }
    zst.next_in = (unsigned char *)in;
    while (err == Z_OK) {
        uInt in_chunk, out_chunk;
        if (produced == capacity) {
            unsigned char *bigger = realloc(out, capacity * 2);
            if (bigger == NULL) {
                inflateEnd(&zst);
                free(out);
                return gs_raise("out of memory for %zu bytes", capacity * 2);
            }
            out = bigger;
            capacity *= 2;
        }
        in_chunk = remaining > UINT_MAX ? UINT_MAX : (uInt)remaining;
        out_chunk = capacity - produced > UINT_MAX ? UINT_MAX : (uInt)(capacity - produced);
        zst.avail_in = in_chunk;
        zst.next_out = out + produced;
        zst.avail_out = out_chunk;
        if (release) {
            GS_BEGIN_ALLOW_THREADS
            err = inflate(&zst, Z_NO_FLUSH);
            GS_END_ALLOW_THREADS
        } else {
            err = inflate(&zst, Z_NO_FLUSH);
        }
        remaining -= in_chunk - zst.avail_in;
        produced += out_chunk - zst.avail_out;
        if (err == Z_BUF_ERROR && remaining == 0 && zst.avail_out != 0) {
            break; /* input ended before the stream did */
        }
        if (err == Z_BUF_ERROR) {
            err = Z_OK; /* needs more room: loop grows the buffer */
        }
    }
    if (err != Z_STREAM_END) {
        const char *why = err == Z_BUF_ERROR ? "incomplete or truncated stream"
                          : zst.msg          ? zst.msg
                                             : "invalid input data";
        inflateEnd(&zst);
        free(out);
        return gs_raise("invalid compressed data: %s", why);
    }
    result = gs_bytes(out, produced);
    inflateEnd(&zst);
    free(out);
    return result;
}

/* crc32(data [, start]) -> int */
static gs_object *zlib_crc32(gs_object *const *args, int nargs) {
    size_t len = 0;
    const unsigned char *buf = data_arg(args[0], &len);
    int64_t start = 0;
    uLong value;

    if (buf == NULL) {
        return NULL;
    }
    if (nargs > 1 && gs_as_int(args[1], &start) < 0) {
        return NULL;
    }
    if (start < 0 || start > 0xFFFFFFFFLL) {
        return gs_raise("start must be 0..4294967295, got %lld", (long long)start);
    }
    value = (uLong)start;
    if (len > CRC32_RELEASE_MIN) {
        GS_BEGIN_ALLOW_THREADS
        while (len > 0) {
            uInt chunk = len > UINT_MAX ? UINT_MAX : (uInt)len;
            value = crc32(value, buf, chunk);
            buf += chunk;
            len -= chunk;
        }
        GS_END_ALLOW_THREADS
    } else {
        value = crc32(value, buf, (uInt)len);
    }
    return gs_int((int64_t)value);
}

int gs_init_module(gs_module *m) {
    /* No state outside the calls: safe in every interpreter. */
    if (gs_module_set_multiple_interpreters(m, GS_MOD_PER_INTERPRETER_LOCK_SUPPORTED) < 0) {
        return -1;
    }
    if (gs_module_add(m, "compress", zlib_compress, 1, 3) < 0 ||
        gs_module_add(m, "decompress", zlib_decompress, 1, 2) < 0 ||
        gs_module_add(m, "crc32", zlib_crc32, 1, 2) < 0) {
        return -1;
    }
    return 0;
}
