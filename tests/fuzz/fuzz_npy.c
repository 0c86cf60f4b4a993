/* tests/fuzz/fuzz_npy.c - the .npy reader (fx_npy_read) on any bytes. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[300];
    fuzz_write("in.npy", data, size, path, sizeof path);
    fx_context *ctx = fuzz_context();
    fx_array a;
    if (fx_npy_read(ctx, path, &a) == FX_OK)
        fx_array_free(&a);
    fx_context_destroy(ctx);
    return 0;
}
