/*
 * error.c - how the runtime reports errors: kdl_status_str for a status and
 * kdl_fail, the one-line message every failing runtime function writes into
 * its caller's err buffer. The compiler links this file too (with
 * runtime/summary.c), so it depends on nothing else in the runtime.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

kdl_Status kdl_fail(char *err, size_t errlen, kdl_Status st, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

const char *kdl_status_str(kdl_Status s) {
    switch (s) {
    case KDL_OK: return "ok";
    case KDL_ERR_INDEX: return "embedding index out of range";
    case KDL_ERR_SHAPE: return "shape does not fit the model";
    case KDL_ERR_IO: return "I/O error";
    case KDL_ERR_FORMAT: return "malformed weights or data file";
    case KDL_ERR_NOMEM: return "out of memory";
    case KDL_ERR_NOT_FOUND: return "no such layer";
    case KDL_ERR_NUMERIC: return "the loss is not a finite number";
    case KDL_ERR_ARG: return "an option cannot be honoured";
    }
    return "unknown error";
}
