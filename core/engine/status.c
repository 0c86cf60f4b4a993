/* core/engine/status.c - names of status codes. */
#include "fx/status.h"

const char *fx_status_name(fx_status status)
{
    switch (status) {
    case FX_OK: return "ok";
    case FX_ERR_INVALID: return "invalid";
    case FX_ERR_NOMEM: return "out of memory";
    case FX_ERR_IO: return "i/o";
    case FX_ERR_PARSE: return "parse";
    case FX_ERR_SHAPE: return "shape";
    case FX_ERR_CORRUPT: return "corrupt";
    case FX_ERR_UNSUPPORTED: return "unsupported";
    case FX_ERR_BACKEND: return "backend";
    case FX_ERR_INTERNAL: return "internal";
    }
    return "unknown";
}
