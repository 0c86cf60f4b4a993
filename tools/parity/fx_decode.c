/* tools/parity/fx_decode.c - writes images exactly as fx's loader stores
 * them (fx_image_decode_file, then the area resize of core/io/image_resize.c
 * to S x S, grey replicated to 3 channels) as one .npy [N, 3, S, S] of
 * the 8-bit values (float32, fx_npy_write's dtype; 0..255 exactly),
 * so the PyTorch reference can train on fx's pixels (torch_train.py
 * --pixels) instead of Pillow's. A development tool, built by hand:
 *   gcc -O2 -I. -Iinclude tools/parity/fx_decode.c build/libfx.so \
 *       -Wl,-rpath,$PWD/build -o build/fx_decode
 *   build/fx_decode 55 OUT.npy FILE... */
#include <stdio.h>
#include <stdlib.h>

#include "core/io/image_decode.h"
#include "core/io/image_resize.h"
#include "fx/npy.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: fx_decode SIZE OUT.npy FILE...\n");
        return 2;
    }
    int s = atoi(argv[1]), n = argc - 3;
    if (s < 1 || s > 4096) {
        fprintf(stderr, "fx_decode: SIZE must be 1..4096\n");
        return 2;
    }
    size_t per = (size_t)3 * s * s;
    float *all = malloc(per * (size_t)n * sizeof(float));
    if (!all) {
        fprintf(stderr, "fx_decode: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        fx_image_u8 im = {0};
        char err[512];
        if (fx_image_decode_file(argv[3 + i], &im, err, sizeof err) != FX_OK) {
            fprintf(stderr, "fx_decode: %s\n", err);
            return 1;
        }
        int c = im.channels;
        size_t plane = (size_t)im.width * im.height;
        uint8_t *chw = malloc(plane * (size_t)c), *small = malloc((size_t)c * s * s);
        if (!chw || !small) {
            fprintf(stderr, "fx_decode: out of memory\n");
            return 1;
        }
        for (size_t p = 0; p < plane; p++)
            for (int k = 0; k < c; k++)
                chw[(size_t)k * plane + p] = im.pixels[p * (size_t)c + (size_t)k];
        if (fx_image_resize_u8(chw, c, im.height, im.width, small, s, s) != 0) {
            fprintf(stderr, "fx_decode: %s: resize failed\n", argv[3 + i]);
            return 1;
        }
        for (int k = 0; k < 3; k++)
            for (size_t p = 0; p < (size_t)s * s; p++)
                all[(size_t)i * per + (size_t)k * s * s + p] = small[(size_t)(c == 3 ? k : 0) * s * s + p];
        free(chw);
        free(small);
        fx_image_free(&im);
    }
    fx_context *ctx = NULL;
    char err[512];
    if (fx_context_create(NULL, &ctx, err, sizeof err) != FX_OK) {
        fprintf(stderr, "fx_decode: %s\n", err);
        return 1;
    }
    int64_t dims[4] = {n, 3, s, s};
    fx_array a = {FX_F32, fx_shape_make(4, dims), all};
    if (fx_npy_write(ctx, argv[2], &a) != FX_OK) {
        fprintf(stderr, "fx_decode: %s\n", fx_context_error(ctx));
        return 1;
    }
    fx_context_destroy(ctx);
    free(all);
    return 0;
}
