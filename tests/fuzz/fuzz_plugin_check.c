/* tests/fuzz/fuzz_plugin_check.c - the check a plugin file passes before
 * dlopen (core/engine/plugin_elf.c: a whole ELF shared object for this machine)
 * on any bytes. The file is never loaded: only the check runs. */
#include "fuzz_common.h"
#include "core/engine/plugin_elf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[300];
    fuzz_write("in.so", data, size, path, sizeof path);
    fx_context *ctx = fuzz_context();
    fx_plugin_check_elf(ctx, path);
    fx_context_destroy(ctx);
    return 0;
}
