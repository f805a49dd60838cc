/*
 * gs_raise: the one C API function written in C, because it is variadic
 * (stable Rust cannot define a C-variadic function). It formats the
 * message and hands it to gs_raise_str, implemented in Rust with the rest
 * of the API.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "gilscope.h"

gs_object *gs_raise(const char *fmt, ...) {
    char small[256];
    va_list args;
    int needed;

    if (fmt == NULL) {
        return gs_raise_str("gs_raise was called with a NULL format");
    }
    va_start(args, fmt);
    needed = vsnprintf(small, sizeof small, fmt, args);
    va_end(args);
    if (needed < 0) {
        return gs_raise_str(fmt);
    }
    if ((size_t)needed < sizeof small) {
        return gs_raise_str(small);
    } else {
        char *big = malloc((size_t)needed + 1);
        gs_object *result;
        if (big == NULL) {
            return gs_raise_str(small); /* truncated, but still a message */
        }
        va_start(args, fmt);
        (void)vsnprintf(big, (size_t)needed + 1, fmt, args);
        va_end(args);
        result = gs_raise_str(big);
        free(big);
        return result;
    }
}
