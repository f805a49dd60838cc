/*
 * objects.c -- a test extension exercising every object function, and the
 * misuses not already in examples/ext/broken.c (tests/extensions.rs).
 */
#include <stdio.h>
#include <string.h>

#include <gilscope.h>

/* make() -> [1, 2.5, "text", b"\x00\x01", nil, true, {"k": 1}] */
static gs_object *make(gs_object *const *args, int nargs) {
    gs_object *list = gs_list_new();
    gs_object *items[7];
    gs_object *map, *key;
    int i;
    (void)args;
    (void)nargs;
    if (list == NULL) {
        return NULL;
    }
    map = gs_map_new();
    key = gs_str("k", 1);
    items[0] = gs_int(1);
    items[1] = gs_float(2.5);
    items[2] = gs_str("text", 4);
    items[3] = gs_bytes("\0\1", 2);
    items[4] = gs_nil();
    items[5] = gs_bool(1);
    items[6] = map;
    if (gs_map_set(map, key, items[0]) < 0) {
        return NULL;
    }
    gs_decref(key);
    for (i = 0; i < 7; i++) {
        if (gs_list_append(list, items[i]) < 0) {
            return NULL;
        }
        gs_decref(items[i]);
    }
    return list;
}

/* describe(x) -> "TYPE:VALUE" read back with the readers */
static gs_object *describe(gs_object *const *args, int nargs) {
    const char *type = gs_type_name(args[0]);
    char out[256];
    size_t len = 0;
    (void)nargs;
    if (type == NULL) {
        return NULL;
    }
    if (strcmp(type, "int") == 0 || strcmp(type, "bool") == 0) {
        int64_t v;
        if (gs_as_int(args[0], &v) < 0) {
            return NULL;
        }
        len = (size_t)snprintf(out, sizeof out, "%s:%lld", type, (long long)v);
    } else if (strcmp(type, "float") == 0) {
        double v;
        if (gs_as_float(args[0], &v) < 0) {
            return NULL;
        }
        len = (size_t)snprintf(out, sizeof out, "%s:%g", type, v);
    } else if (strcmp(type, "string") == 0) {
        size_t n;
        const char *s = gs_as_str(args[0], &n);
        if (s == NULL) {
            return NULL;
        }
        len = (size_t)snprintf(out, sizeof out, "%s:%s:%zu", type, s, n);
    } else if (strcmp(type, "bytes") == 0) {
        size_t n;
        if (gs_as_bytes(args[0], &n) == NULL) {
            return NULL;
        }
        len = (size_t)snprintf(out, sizeof out, "%s:%zu", type, n);
    } else if (strcmp(type, "list") == 0) {
        len = (size_t)snprintf(out, sizeof out, "%s:%lld", type, (long long)gs_list_len(args[0]));
    } else {
        len = (size_t)snprintf(out, sizeof out, "%s", type);
    }
    return gs_str(out, len < sizeof out ? len : sizeof out - 1);
}

/* data(x [, nul]) -> "LEN:TEXT", read with gs_as_data (bytes or a
 * string); with `nul` true (pass it only for a string) ":nul" is added
 * when the byte after the text is a NUL, as gs_as_str promises. */
static gs_object *data(gs_object *const *args, int nargs) {
    size_t n = 0;
    const char *d = gs_as_data(args[0], &n);
    int64_t nul = 0;
    char out[256];
    size_t len;
    if (d == NULL || (nargs > 1 && gs_as_int(args[1], &nul) < 0)) {
        return NULL;
    }
    len = (size_t)snprintf(out, sizeof out, "%zu:%.*s%s", n, (int)(n < 64 ? n : 64), d,
                           nul && d[n] == '\0' ? ":nul" : "");
    return gs_str(out, len < sizeof out ? len : sizeof out - 1);
}

/* WRONG: reads an object with gs_as_data after giving back its only
 * reference. */
static gs_object *data_after_free(gs_object *const *args, int nargs) {
    gs_object *o = gs_str("gone", 4);
    (void)args;
    (void)nargs;
    gs_decref(o);
    if (gs_as_data(o, NULL) == NULL) {
        return NULL;
    }
    return gs_nil();
}

/* data_without_lock(x): gs_as_data with the lock released (a misuse) */
static gs_object *data_without_lock(gs_object *const *args, int nargs) {
    const void *data;
    (void)nargs;
    GS_BEGIN_ALLOW_THREADS
    data = gs_as_data(args[0], NULL);
    GS_END_ALLOW_THREADS
    if (data == NULL) {
        return NULL;
    }
    return gs_nil();
}

/* int_without_lock(): gs_int of a small integer (an immediate, which needs
 * no table) with the lock released: still a misuse */
static gs_object *int_without_lock(gs_object *const *args, int nargs) {
    gs_object *made;
    (void)args;
    (void)nargs;
    GS_BEGIN_ALLOW_THREADS
    made = gs_int(7);
    GS_END_ALLOW_THREADS
    return made;
}

/* data_foreign(): gs_as_data of an address gilscope never handed out */
static gs_object *data_foreign(gs_object *const *args, int nargs) {
    static long not_an_object[4];
    (void)args;
    (void)nargs;
    if (gs_as_data((gs_object *)(void *)not_an_object, NULL) == NULL) {
        return NULL;
    }
    return gs_nil();
}

/* get(map, key) -> the value or nil (gs_map_get is borrowed: incref it) */
static gs_object *get(gs_object *const *args, int nargs) {
    gs_object *found = gs_map_get(args[0], args[1]);
    (void)nargs;
    if (found == NULL) {
        return gs_error_message() != NULL ? NULL : gs_nil();
    }
    gs_incref(found);
    return found;
}

/* item(list, i) -> list[i], correctly increfed */
static gs_object *item(gs_object *const *args, int nargs) {
    int64_t i;
    gs_object *found;
    (void)nargs;
    if (gs_as_int(args[1], &i) < 0 || (found = gs_list_get(args[0], i)) == NULL) {
        return NULL;
    }
    gs_incref(found);
    return found;
}

/* call(f, x) -> f(x), through gs_call */
static gs_object *call(gs_object *const *args, int nargs) {
    (void)nargs;
    return gs_call(args[0], &args[1], 1);
}

/* as_int(x) -> x read with gs_as_int (a wrong type is an ordinary error) */
static gs_object *as_int(gs_object *const *args, int nargs) {
    int64_t v;
    (void)nargs;
    return gs_as_int(args[0], &v) < 0 ? NULL : gs_int(v);
}

/* bad_utf8() -> error: gs_str refuses invalid UTF-8 */
static gs_object *bad_utf8(gs_object *const *args, int nargs) {
    (void)args;
    (void)nargs;
    return gs_str("\xff", 1);
}

/* WRONG: gives back a reference it only borrowed (an argument). */
static gs_object *decref_borrowed(gs_object *const *args, int nargs) {
    (void)nargs;
    if (gs_decref(args[0]) < 0) {
        return NULL;
    }
    return gs_nil();
}

/* WRONG: uses an object after giving back its only reference. */
static gs_object *use_after_free(gs_object *const *args, int nargs) {
    gs_object *o = gs_bytes("gone", 4);
    size_t len;
    (void)args;
    (void)nargs;
    gs_decref(o);
    if (gs_as_bytes(o, &len) == NULL) {
        return NULL;
    }
    return gs_nil();
}

/* WRONG: returns a result with an error still set. */
static gs_object *result_with_error(gs_object *const *args, int nargs) {
    (void)args;
    (void)nargs;
    gs_raise("forgotten error %d", 7);
    return gs_nil();
}

/* WRONG: returns with the lock released. */
static gs_object *return_released(gs_object *const *args, int nargs) {
    (void)args;
    (void)nargs;
    (void)gs_save_thread();
    return NULL;
}

static gs_module *saved_module;

/* WRONG: registers a function after gs_init_module returned. */
static gs_object *add_late(gs_object *const *args, int nargs) {
    (void)args;
    (void)nargs;
    if (gs_module_add(saved_module, "late", add_late, 0, 0) < 0) {
        return NULL;
    }
    return gs_nil();
}

int gs_init_module(gs_module *m) {
    saved_module = m;
    if (gs_module_add(m, "make", make, 0, 0) < 0 ||
        gs_module_add(m, "describe", describe, 1, 1) < 0 ||
        gs_module_add(m, "data", data, 1, 2) < 0 ||
        gs_module_add(m, "data_after_free", data_after_free, 0, 0) < 0 ||
        gs_module_add(m, "data_without_lock", data_without_lock, 1, 1) < 0 ||
        gs_module_add(m, "int_without_lock", int_without_lock, 0, 0) < 0 ||
        gs_module_add(m, "data_foreign", data_foreign, 0, 0) < 0 ||
        gs_module_add(m, "get", get, 2, 2) < 0 || gs_module_add(m, "item", item, 2, 2) < 0 ||
        gs_module_add(m, "call", call, 2, 2) < 0 || gs_module_add(m, "as_int", as_int, 1, 1) < 0 ||
        gs_module_add(m, "bad_utf8", bad_utf8, 0, 0) < 0 ||
        gs_module_add(m, "decref_borrowed", decref_borrowed, 1, 1) < 0 ||
        gs_module_add(m, "use_after_free", use_after_free, 0, 0) < 0 ||
        gs_module_add(m, "result_with_error", result_with_error, 0, 0) < 0 ||
        gs_module_add(m, "return_released", return_released, 0, 0) < 0 ||
        gs_module_add(m, "add_late", add_late, 0, 0) < 0) {
        return -1;
    }
    return 0;
}
