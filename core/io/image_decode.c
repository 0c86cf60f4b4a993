/* core/io/image_decode.c - PNG (libpng), JPEG (libjpeg-turbo) and PNM (by
 * hand) decoding to 8-bit grey or RGB; see image_decode.h.
 *
 * libpng and libjpeg report fatal errors through callbacks that must not
 * return. Both callbacks here copy the library's message into our state and
 * longjmp back to the decoder, which frees what it allocated and returns
 * FX_ERR_PARSE. Pointers assigned between setjmp and longjmp are volatile
 * so their values are defined after the jump (C11 7.13.2.1). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "core/io/image_decode.h"
#include "core/internal.h"

static fx_status image_error(char *err, size_t err_size, fx_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static fx_status image_error(char *err, size_t err_size, fx_status status, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return status;
}

static fx_status check_dimensions(const char *name, long long width, long long height, char *err,
                                  size_t err_size)
{
    if (width <= 0 || height <= 0)
        return image_error(err, err_size, FX_ERR_PARSE, "%s: image has size %lldx%lld; the file is corrupt",
                           name, width, height);
    if (width * height > FX_IMAGE_MAX_PIXELS)
        return image_error(err, err_size, FX_ERR_UNSUPPORTED,
                           "%s: image of %lldx%lld pixels is larger than fx accepts (%lld pixels); "
                           "shrink it first",
                           name, width, height, (long long)FX_IMAGE_MAX_PIXELS);
    return FX_OK;
}

void fx_image_free(fx_image_u8 *img)
{
    if (!img)
        return;
    free(img->pixels);
    img->pixels = NULL;
    img->width = img->height = img->channels = 0;
}

/* ---- PNG --------------------------------------------------------------- */

typedef struct png_state {
    const unsigned char *data;
    size_t size, pos;
    char msg[256];
} png_state;

static void png_error_callback(png_structp png, png_const_charp msg)
{
    png_state *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

/* Warnings (e.g. "iCCP: known incorrect sRGB profile") are harmless for
 * pixels; libpng would print them to stderr, which a data loader must not. */
static void png_warning_callback(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_read_callback(png_structp png, png_bytep out, size_t length)
{
    png_state *s = png_get_io_ptr(png);
    if (length > s->size - s->pos)
        png_error(png, "file is truncated (unexpected end of data)");
    memcpy(out, s->data + s->pos, length);
    s->pos += length;
}

static fx_status decode_png(const unsigned char *data, size_t size, const char *name, fx_image_u8 *out,
                            char *err, size_t err_size)
{
    png_state state = {data, size, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, png_error_callback,
                                             png_warning_callback);
    if (!png)
        return image_error(err, err_size, FX_ERR_NOMEM, "%s: out of memory starting libpng", name);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return image_error(err, err_size, FX_ERR_NOMEM, "%s: out of memory starting libpng", name);
    }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    volatile fx_status status = FX_ERR_PARSE;
    if (setjmp(png_jmpbuf(png))) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        if (status == FX_ERR_PARSE)
            return image_error(err, err_size, FX_ERR_PARSE,
                               "%s: corrupt PNG: %s; re-export or remove the file", name, state.msg);
        return status;
    }
    png_set_read_fn(png, &state, png_read_callback);
    png_read_info(png, info);

    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int color = png_get_color_type(png, info);
    if (check_dimensions(name, width, height, err, err_size) != FX_OK) {
        status = FX_ERR_UNSUPPORTED;
        png_longjmp(png, 1);
    }
    png_set_strip_16(png);
    png_set_packing(png);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((channels != 1 && channels != 3) || rowbytes != (size_t)width * (size_t)channels) {
        snprintf(state.msg, sizeof state.msg, "unexpected layout after conversion (%d channels)", channels);
        png_longjmp(png, 1);
    }
    pixels = malloc((size_t)height * rowbytes);
    rows = malloc((size_t)height * sizeof(png_bytep));
    if (!pixels || !rows) {
        status = FX_ERR_NOMEM;
        image_error(err, err_size, FX_ERR_NOMEM, "%s: out of memory for a %ux%u image", name,
                    (unsigned)width, (unsigned)height);
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < height; y++)
        rows[y] = pixels + (size_t)y * rowbytes;
    png_read_image(png, rows);
    /* Reads up to IEND, so a file cut after the pixel data is still caught. */
    png_read_end(png, NULL);

    out->width = (int)width;
    out->height = (int)height;
    out->channels = channels;
    out->pixels = pixels;
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return FX_OK;
}

/* ---- JPEG -------------------------------------------------------------- */

typedef struct jpeg_state {
    struct jpeg_error_mgr mgr; /* first: libjpeg hands us a pointer to it */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_state;

static void jpeg_error_exit_callback(j_common_ptr cinfo)
{
    jpeg_state *s = (jpeg_state *)(void *)cinfo->err;
    cinfo->err->format_message(cinfo, s->msg);
    longjmp(s->jump, 1);
}

/* libjpeg reports damaged entropy data and a missing end of file as
 * warnings and fills the rest of the image with grey. For training data a
 * silently grey image is worse than an error, so those warnings abort the
 * decode; other warnings (extraneous bytes between markers, unknown JFIF
 * revisions) are common in web images and harmless. */
static void jpeg_emit_message_callback(j_common_ptr cinfo, int level)
{
    if (level >= 0)
        return;
    int code = cinfo->err->msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE ||
        code == JWRN_ARITH_BAD_CODE || code == JWRN_MUST_RESYNC) {
        jpeg_state *s = (jpeg_state *)(void *)cinfo->err;
        cinfo->err->format_message(cinfo, s->msg);
        longjmp(s->jump, 1);
    }
    cinfo->err->num_warnings++;
}

static void jpeg_output_message_callback(j_common_ptr cinfo)
{
    (void)cinfo; /* never print to stderr */
}

static fx_status decode_jpeg(const unsigned char *data, size_t size, const char *name, fx_image_u8 *out,
                             char *err, size_t err_size)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_state state;
    uint8_t *volatile pixels = NULL;
    volatile fx_status status = FX_ERR_PARSE;

    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&state.mgr);
    state.mgr.error_exit = jpeg_error_exit_callback;
    state.mgr.emit_message = jpeg_emit_message_callback;
    state.mgr.output_message = jpeg_output_message_callback;
    state.msg[0] = '\0';
    if (setjmp(state.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        if (status == FX_ERR_PARSE)
            return image_error(err, err_size, FX_ERR_PARSE,
                               "%s: corrupt JPEG: %s; re-export or remove the file", name, state.msg);
        return status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        status = image_error(err, err_size, FX_ERR_UNSUPPORTED,
                             "%s: CMYK JPEG images are not supported; convert it to RGB", name);
        longjmp(state.jump, 1);
    }
    if (check_dimensions(name, cinfo.image_width, cinfo.image_height, err, err_size) != FX_OK) {
        status = FX_ERR_UNSUPPORTED;
        longjmp(state.jump, 1);
    }
    cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int channels = cinfo.output_components;
    if (channels != 1 && channels != 3) {
        snprintf(state.msg, sizeof state.msg, "unexpected %d output components", channels);
        longjmp(state.jump, 1);
    }
    size_t stride = (size_t)cinfo.output_width * (size_t)channels;
    pixels = malloc(stride * cinfo.output_height);
    if (!pixels) {
        status = image_error(err, err_size, FX_ERR_NOMEM, "%s: out of memory for a %ux%u image", name,
                             cinfo.output_width, cinfo.output_height);
        longjmp(state.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * stride;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            snprintf(state.msg, sizeof state.msg, "decoder returned no scanline");
            longjmp(state.jump, 1);
        }
    }
    jpeg_finish_decompress(&cinfo);
    out->width = (int)cinfo.output_width;
    out->height = (int)cinfo.output_height;
    out->channels = channels;
    out->pixels = pixels;
    jpeg_destroy_decompress(&cinfo);
    return FX_OK;
}

/* ---- PNM (P2, P3, P5, P6) ------------------------------------------------ */

typedef struct pnm_reader {
    const unsigned char *p, *end;
} pnm_reader;

/* Skips whitespace and '#' comments (which run to the end of the line). */
static void pnm_skip(pnm_reader *r)
{
    while (r->p < r->end) {
        if (*r->p == '#') {
            while (r->p < r->end && *r->p != '\n' && *r->p != '\r')
                r->p++;
        } else if (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r' || *r->p == '\v' ||
                   *r->p == '\f') {
            r->p++;
        } else {
            break;
        }
    }
}

/* Reads a decimal number; returns -1 if there is none or it is too big. */
static long pnm_number(pnm_reader *r)
{
    pnm_skip(r);
    if (r->p >= r->end || *r->p < '0' || *r->p > '9')
        return -1;
    long v = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        v = v * 10 + (*r->p++ - '0');
        if (v > 1000000000L)
            return -1;
    }
    return v;
}

static fx_status decode_pnm(const unsigned char *data, size_t size, const char *name, fx_image_u8 *out,
                            char *err, size_t err_size)
{
    pnm_reader r = {data + 2, data + size};
    char kind = (char)data[1];
    int channels = (kind == '2' || kind == '5') ? 1 : 3;
    int ascii = kind == '2' || kind == '3';
    long width = pnm_number(&r), height = pnm_number(&r), maxval = pnm_number(&r);
    if (width < 0 || height < 0 || maxval < 0)
        return image_error(err, err_size, FX_ERR_PARSE,
                           "%s: corrupt PNM header (width, height and maximum value expected)", name);
    if (maxval < 1 || maxval > 65535)
        return image_error(err, err_size, FX_ERR_PARSE, "%s: PNM maximum value %ld is outside 1..65535",
                           name, maxval);
    fx_status st = check_dimensions(name, width, height, err, err_size);
    if (st != FX_OK)
        return st;
    size_t count = (size_t)width * (size_t)height * (size_t)channels;
    uint8_t *pixels = malloc(count);
    if (!pixels)
        return image_error(err, err_size, FX_ERR_NOMEM, "%s: out of memory for a %ldx%ld image", name, width,
                           height);
    if (ascii) {
        for (size_t i = 0; i < count; i++) {
            long v = pnm_number(&r);
            if (v < 0 || v > maxval) {
                free(pixels);
                return image_error(err, err_size, FX_ERR_PARSE,
                                   "%s: PNM sample %zu of %zu is %s; the file is truncated or corrupt", name,
                                   i, count, v < 0 ? "missing" : "above the maximum value");
            }
            pixels[i] = (uint8_t)((v * 255 + maxval / 2) / maxval);
        }
    } else {
        /* Exactly one whitespace byte separates the header from the samples. */
        if (r.p >= r.end || !(*r.p == ' ' || *r.p == '\t' || *r.p == '\n' || *r.p == '\r')) {
            free(pixels);
            return image_error(err, err_size, FX_ERR_PARSE, "%s: corrupt PNM header (no whitespace after it)",
                               name);
        }
        r.p++;
        size_t bytes_per = maxval > 255 ? 2 : 1;
        size_t have = (size_t)(r.end - r.p);
        if (have < count * bytes_per) {
            free(pixels);
            return image_error(err, err_size, FX_ERR_PARSE,
                               "%s: PNM file is truncated: %zu pixel bytes expected, %zu present", name,
                               count * bytes_per, have);
        }
        if (bytes_per == 1 && maxval == 255) {
            memcpy(pixels, r.p, count);
        } else {
            for (size_t i = 0; i < count; i++) {
                long v = bytes_per == 2 ? (long)r.p[2 * i] << 8 | r.p[2 * i + 1] : r.p[i];
                if (v > maxval)
                    v = maxval;
                pixels[i] = (uint8_t)((v * 255 + maxval / 2) / maxval);
            }
        }
    }
    out->width = (int)width;
    out->height = (int)height;
    out->channels = channels;
    out->pixels = pixels;
    return FX_OK;
}

/* ---- dispatch ---------------------------------------------------------- */

fx_status fx_image_decode_memory(const unsigned char *data, size_t size, const char *name,
                                 fx_image_u8 *out, char *err, size_t err_size)
{
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memset(out, 0, sizeof *out);
    if (size >= 8 && memcmp(data, png_sig, 8) == 0)
        return decode_png(data, size, name, out, err, err_size);
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return decode_jpeg(data, size, name, out, err, err_size);
    if (size >= 3 && data[0] == 'P' && (data[1] == '2' || data[1] == '3' || data[1] == '5' || data[1] == '6'))
        return decode_pnm(data, size, name, out, err, err_size);
    if (size >= 2 && data[0] == 'P' && (data[1] == '1' || data[1] == '4' || data[1] == '7'))
        return image_error(err, err_size, FX_ERR_UNSUPPORTED,
                           "%s: PBM/PAM images are not supported; convert to PGM, PPM or PNG", name);
    return image_error(err, err_size, FX_ERR_PARSE,
                       "%s: not a PNG, JPEG, PGM or PPM image (unrecognised first bytes)", name);
}

fx_status fx_image_decode_file(const char *path, fx_image_u8 *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    const char *why = "";
    FILE *f = fx_fopen_regular(path, &why);
    if (!f)
        return image_error(err, err_size, FX_ERR_IO, "%s: cannot open: %s", path, why);
    unsigned char *data = NULL;
    size_t size = 0, cap = 0;
    fx_status st = FX_OK;
    /* Reads in growing chunks rather than trusting fstat, so pipes and
     * files that change size while read still work. */
    for (;;) {
        if (size == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            unsigned char *grown = realloc(data, ncap);
            if (!grown) {
                st = image_error(err, err_size, FX_ERR_NOMEM, "%s: out of memory reading the file", path);
                break;
            }
            data = grown;
            cap = ncap;
        }
        size_t got = fread(data + size, 1, cap - size, f);
        size += got;
        if (got == 0) {
            if (ferror(f))
                st = image_error(err, err_size, FX_ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == FX_OK)
        st = fx_image_decode_memory(data, size, path, out, err, err_size);
    free(data);
    return st;
}

fx_status fx_image_convert_channels(fx_image_u8 *img, int channels, char *err, size_t err_size)
{
    if (channels != 1 && channels != 3)
        return image_error(err, err_size, FX_ERR_INVALID, "channels must be 1 or 3, not %d", channels);
    if (img->channels == channels)
        return FX_OK;
    size_t n = (size_t)img->width * (size_t)img->height;
    uint8_t *dst = malloc(n * (size_t)channels);
    if (!dst)
        return image_error(err, err_size, FX_ERR_NOMEM, "out of memory converting a %dx%d image",
                           img->width, img->height);
    const uint8_t *src = img->pixels;
    if (channels == 3) {
        for (size_t i = 0; i < n; i++)
            dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = src[i];
    } else {
        /* Fixed point with weights summing to 2^16 (19595 + 38470 + 7471). */
        for (size_t i = 0; i < n; i++)
            dst[i] = (uint8_t)((19595u * src[3 * i] + 38470u * src[3 * i + 1] + 7471u * src[3 * i + 2] +
                                32768u) >> 16);
    }
    free(img->pixels);
    img->pixels = dst;
    img->channels = channels;
    return FX_OK;
}
