/*
 * sha256.c -- SHA-256 over OpenSSL's libcrypto, as a gilscope extension.
 *
 *     gilscope ext build examples/ext/sha256.c -lcrypto
 *     let h = load("sha256.so")
 *     print(h.hexdigest("abc"))   # ba7816bf...
 *
 * Like CPython's hashlib (HASHLIB_GIL_MINSIZE in Modules/hashlib.h), it
 * releases the lock only for inputs of at least 2048 bytes: below that,
 * hashing is so quick that giving the lock away and taking it back costs
 * more than it frees (docs/c-api.md has gilscope's own measurement).
 * An optional last argument `release` overrides the rule: true always
 * releases, false never does.
 */
#include <string.h>

#include <openssl/evp.h>

#include <gilscope.h>

#define GIL_MINSIZE 2048

static const unsigned char *data_arg(gs_object *o, size_t *len) {
    return gs_as_data(o, len);
}

/* Hash args[0] into `md`; 0, or -1 with an error set. */
static int hash(gs_object *const *args, int nargs, unsigned char md[32]) {
    size_t len = 0;
    const unsigned char *data = data_arg(args[0], &len);
    int64_t release;
    unsigned int md_len = 0;
    int ok;

    if (data == NULL) {
        return -1;
    }
    release = len >= GIL_MINSIZE;
    if (nargs > 1 && gs_as_int(args[1], &release) < 0) {
        return -1;
    }
    if (release) {
        /* `data` stays valid: args[0] is immutable and lives until we
         * return. OpenSSL touches only its own state and `md`. */
        GS_BEGIN_ALLOW_THREADS
        ok = EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
        GS_END_ALLOW_THREADS
    } else {
        ok = EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
    }
    if (!ok || md_len != 32) {
        gs_raise("EVP_Digest failed");
        return -1;
    }
    return 0;
}

/* digest(data [, release]) -> bytes (32 of them) */
static gs_object *sha256_digest(gs_object *const *args, int nargs) {
    unsigned char md[32];
    if (hash(args, nargs, md) < 0) {
        return NULL;
    }
    return gs_bytes(md, sizeof md);
}

/* hexdigest(data [, release]) -> string of 64 hex digits */
static gs_object *sha256_hexdigest(gs_object *const *args, int nargs) {
    static const char digits[] = "0123456789abcdef";
    unsigned char md[32];
    char hex[64];
    int i;
    if (hash(args, nargs, md) < 0) {
        return NULL;
    }
    for (i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    return gs_str(hex, sizeof hex);
}

int gs_init_module(gs_module *m) {
    /* No state outside the calls: safe in every interpreter. */
    if (gs_module_set_multiple_interpreters(m, GS_MOD_PER_INTERPRETER_LOCK_SUPPORTED) < 0) {
        return -1;
    }
    if (gs_module_add(m, "digest", sha256_digest, 1, 2) < 0 ||
        gs_module_add(m, "hexdigest", sha256_hexdigest, 1, 2) < 0) {
        return -1;
    }
    return 0;
}
