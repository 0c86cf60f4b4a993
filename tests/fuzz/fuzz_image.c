/* tests/fuzz/fuzz_image.c - the image decoders (PNG through libpng, JPEG
 * through libjpeg, PGM/PPM by fx) on any bytes, then the channel
 * conversions the data loaders apply. */
#include "fuzz_common.h"
#include "core/io/image_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fx_image_u8 img;
    char err[512];
    if (fx_image_decode_memory(data, size, "fuzz", &img, err, sizeof err) == FX_OK) {
        fx_image_convert_channels(&img, size % 2 ? 1 : 3, err, sizeof err);
        fx_image_free(&img);
    }
    return 0;
}
