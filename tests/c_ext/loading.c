/*
 * loading.c -- one test extension, built in several variants with -D, for
 * every way loading can fail (tests/extensions.rs):
 *
 *   (none)              a good module; inits() counts gs_init_module calls
 *   -DNO_INIT           exports no gs_init_module
 *   -DINIT_FAILS        gs_init_module returns -1 without raising
 *   -DINIT_RAISES       gs_init_module raises an error
 *   -DWRONG_VERSION     registers for another API version
 *   -DTWICE             registers the same name twice
 */
#include <gilscope.h>

#ifndef NO_INIT
static int inits;
#endif

#if !defined(NO_INIT) && !defined(INIT_FAILS) && !defined(INIT_RAISES)
static gs_object *count_inits(gs_object *const *args, int nargs) {
    (void)args;
    (void)nargs;
    return gs_int(inits);
}
#endif

#ifdef NO_INIT
int not_an_init(void);
int not_an_init(void) {
    return 0;
}
#else
int gs_init_module(gs_module *m) {
    inits++;
#if defined(INIT_FAILS)
    (void)m;
    return -1;
#elif defined(INIT_RAISES)
    (void)m;
    gs_raise("the configuration file %s is missing", "ext.conf");
    return -1;
#elif defined(WRONG_VERSION)
    return gs_module_add_api(m, GS_API_VERSION + 1, "inits", count_inits, 0, 0);
#elif defined(TWICE)
    if (gs_module_add(m, "inits", count_inits, 0, 0) < 0) {
        return -1;
    }
    return gs_module_add(m, "inits", count_inits, 0, 0);
#else
    return gs_module_add(m, "inits", count_inits, 0, 0);
#endif
}
#endif
