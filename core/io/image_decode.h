/* core/io/image_decode.h - decoding PNG, JPEG and PNM (PGM/PPM) images into
 * 8-bit grey or RGB pixels, and converting between the two.
 *
 * These functions run on the data loader's worker threads, where no
 * fx_context may be touched (a context belongs to one host thread), so
 * errors are written into a caller-provided buffer instead of the context:
 * "<name>: what is wrong; what to do". The caller forwards it with fx_fail.
 *
 * Pixels are interleaved HWC (row-major, `channels` bytes per pixel). The
 * image owns its pixels (malloc'd); free them with fx_image_free. */
#ifndef FX_CORE_IMAGE_DECODE_H
#define FX_CORE_IMAGE_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include "fx/status.h"

typedef struct fx_image_u8 {
    int width, height;
    int channels;     /* 1 (grey) or 3 (RGB) */
    uint8_t *pixels;  /* height * width * channels bytes, HWC */
} fx_image_u8;

/* Largest image accepted (pixels): a corrupt header cannot make the
 * decoder allocate more than this many pixels times three bytes. */
#define FX_IMAGE_MAX_PIXELS (1ll << 28)

/* Decodes an image held in memory; the format is recognised from its first
 * bytes (PNG signature, JPEG SOI marker, PNM "P2"/"P3"/"P5"/"P6"), not from
 * a file name. `name` is only used in messages. Alpha is dropped, palettes
 * are expanded, 16-bit samples are reduced to 8 bits. Never crashes on
 * corrupt input: libpng/libjpeg errors (and libjpeg's "corrupt data" and
 * "premature end" warnings, which would otherwise return grey pixels) come
 * back as FX_ERR_PARSE. */
fx_status fx_image_decode_memory(const unsigned char *data, size_t size, const char *name,
                                 fx_image_u8 *out, char *err, size_t err_size);

/* Reads `path` and decodes it as above. */
fx_status fx_image_decode_file(const char *path, fx_image_u8 *out, char *err, size_t err_size);

/* Converts to `channels` (1 or 3) in place: grey -> RGB replicates, RGB ->
 * grey uses the ITU-R BT.601 luma weights 0.299, 0.587, 0.114 (what PIL's
 * convert("L") does). */
fx_status fx_image_convert_channels(fx_image_u8 *img, int channels, char *err, size_t err_size);

void fx_image_free(fx_image_u8 *img);

#endif
