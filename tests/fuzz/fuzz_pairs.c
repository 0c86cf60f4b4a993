/* tests/fuzz/fuzz_pairs.c - the LFW pairs-file parser (fx_pairs_parse,
 * core/face/pairs.c) on any text. */
#include "fuzz_common.h"
#include "fx/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    fx_context *ctx = fuzz_context();
    fx_pairs p;
    memset(&p, 0, sizeof p);
    if (fx_pairs_parse(ctx, text, "fuzz", &p) == FX_OK)
        fx_pairs_free(&p);
    fx_context_destroy(ctx);
    free(text);
    return 0;
}
