/* fx/status.h - status codes returned by every fallible fx function.
 *
 * A function that fails returns a non-zero fx_status and writes a message
 * into its context's error buffer (fx_context_error). The message names the
 * user's file and position (YAML file:line:col, node name, tensor name) and
 * the fix; the status only classifies the failure. */
#ifndef FX_STATUS_H
#define FX_STATUS_H

typedef enum fx_status {
    FX_OK = 0,
    FX_ERR_INVALID,     /* bad argument or bad user input (YAML, CLI) */
    FX_ERR_NOMEM,       /* host or device allocation failed */
    FX_ERR_IO,          /* a file could not be opened, read or written */
    FX_ERR_PARSE,       /* malformed YAML, NPY, image or checkpoint */
    FX_ERR_SHAPE,       /* tensor shapes do not fit an op */
    FX_ERR_CORRUPT,     /* checksum or structure mismatch in stored data */
    FX_ERR_UNSUPPORTED, /* no kernel / feature on this backend or build */
    FX_ERR_BACKEND,     /* a backend (driver) call failed */
    FX_ERR_INTERNAL     /* a bug in fx: please report */
} fx_status;

/* Short name of a status ("invalid", "io", ...). Never NULL. */
const char *fx_status_name(fx_status status);

#endif
