/* first.c -- a first gilscope extension: sum(list of ints) -> int. */
#include <gilscope.h>

static gs_object *sum(gs_object *const *args, int nargs) {
    int64_t total = 0, n, i;
    (void)nargs;                      /* gilscope checked it: exactly 1 */
    n = gs_list_len(args[0]);         /* args are borrowed references */
    if (n < 0) {
        return NULL;                  /* not a list: the error is set */
    }
    for (i = 0; i < n; i++) {
        int64_t value;
        gs_object *item = gs_list_get(args[0], i);   /* borrowed */
        if (item == NULL || gs_as_int(item, &value) < 0) {
            return NULL;
        }
        if ((value > 0 && total > INT64_MAX - value) ||
            (value < 0 && total < INT64_MIN - value)) {
            return gs_raise("sum overflows at item %lld", (long long)i);
        }
        total += value;
    }
    return gs_int(total);             /* a new reference, handed over */
}

int gs_init_module(gs_module *m) {
    return gs_module_add(m, "sum", sum, 1, 1);
}
