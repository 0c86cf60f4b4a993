/* core/face/canvas.c - the RGB canvas of fx/canvas.h: shapes, colour maps,
 * float-image blits and the atomic PNG writer. The font lives in
 * canvas_font.c.
 *
 * Shapes are rasterised by testing pixel centres against the exact shape
 * (distance to a segment, to a centre), inside the shape's bounding box
 * clipped to the canvas: simple, exact, and fast enough for report
 * pictures of a few hundred thousand pixels. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <png.h>

#include "core/internal.h"
#include "fx/canvas.h"

fx_status fx_canvas_create(fx_context *ctx, int width, int height, fx_rgb background, fx_canvas **out)
{
    *out = NULL;
    if (width <= 0 || height <= 0 || width > FX_CANVAS_MAX_SIDE || height > FX_CANVAS_MAX_SIDE)
        return fx_fail(ctx, FX_ERR_INVALID, "canvas of %dx%d pixels: each side must be 1..%d", width, height,
                       FX_CANVAS_MAX_SIDE);
    fx_canvas *c = fx_calloc(ctx, 1, sizeof *c, "canvas");
    if (!c)
        return FX_ERR_NOMEM;
    c->pixels = fx_malloc(ctx, (size_t)width * (size_t)height * 3, "canvas pixels");
    if (!c->pixels) {
        free(c);
        return FX_ERR_NOMEM;
    }
    c->width = width;
    c->height = height;
    fx_canvas_fill(c, background);
    *out = c;
    return FX_OK;
}

void fx_canvas_destroy(fx_canvas *c)
{
    if (!c)
        return;
    free(c->pixels);
    free(c);
}

void fx_canvas_fill(fx_canvas *c, fx_rgb color)
{
    size_t n = (size_t)c->width * (size_t)c->height;
    for (size_t i = 0; i < n; i++) {
        c->pixels[3 * i] = color.r;
        c->pixels[3 * i + 1] = color.g;
        c->pixels[3 * i + 2] = color.b;
    }
}

void fx_canvas_set(fx_canvas *c, int x, int y, fx_rgb color)
{
    if (x < 0 || y < 0 || x >= c->width || y >= c->height)
        return;
    uint8_t *p = c->pixels + 3 * ((size_t)y * (size_t)c->width + (size_t)x);
    p[0] = color.r;
    p[1] = color.g;
    p[2] = color.b;
}

fx_rgb fx_canvas_get(const fx_canvas *c, int x, int y)
{
    fx_rgb black = {0, 0, 0};
    if (x < 0 || y < 0 || x >= c->width || y >= c->height)
        return black;
    const uint8_t *p = c->pixels + 3 * ((size_t)y * (size_t)c->width + (size_t)x);
    fx_rgb v = {p[0], p[1], p[2]};
    return v;
}

/* The pixel range [*lo, *hi] whose centres can lie in [a, b], clipped to
 * [0, n - 1]; empty when *lo > *hi. */
static void clip_span(float a, float b, int n, int *lo, int *hi)
{
    float fl = ceilf(a), fh = floorf(b);
    *lo = fl < 0.0f ? 0 : (fl > (float)n ? n : (int)fl);
    *hi = fh > (float)(n - 1) ? n - 1 : (fh < -1.0f ? -1 : (int)fh);
}

void fx_canvas_line(fx_canvas *c, float x0, float y0, float x1, float y1, float thickness, fx_rgb color)
{
    float r = thickness > 1.0f ? 0.5f * thickness : 0.5f;
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1) || !isfinite(r))
        return;
    int xa, xb, ya, yb;
    clip_span(fminf(x0, x1) - r, fmaxf(x0, x1) + r, c->width, &xa, &xb);
    clip_span(fminf(y0, y1) - r, fmaxf(y0, y1) + r, c->height, &ya, &yb);
    float dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    for (int y = ya; y <= yb; y++)
        for (int x = xa; x <= xb; x++) {
            /* distance from the pixel centre to the closest point of the segment */
            float px = (float)x - x0, py = (float)y - y0;
            float t = len2 > 0.0f ? (px * dx + py * dy) / len2 : 0.0f;
            t = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
            float ex = px - t * dx, ey = py - t * dy;
            if (ex * ex + ey * ey <= r * r)
                fx_canvas_set(c, x, y, color);
        }
}

/* Pixels whose centre's distance d from (cx, cy) is in [inner, outer]. */
static void draw_annulus(fx_canvas *c, float cx, float cy, float inner, float outer, fx_rgb color)
{
    if (!isfinite(cx) || !isfinite(cy) || !isfinite(outer) || outer < 0.0f)
        return;
    int xa, xb, ya, yb;
    clip_span(cx - outer, cx + outer, c->width, &xa, &xb);
    clip_span(cy - outer, cy + outer, c->height, &ya, &yb);
    float in2 = inner > 0.0f ? inner * inner : 0.0f, out2 = outer * outer;
    for (int y = ya; y <= yb; y++)
        for (int x = xa; x <= xb; x++) {
            float ex = (float)x - cx, ey = (float)y - cy, d2 = ex * ex + ey * ey;
            if (d2 <= out2 && (inner <= 0.0f || d2 >= in2))
                fx_canvas_set(c, x, y, color);
        }
}

void fx_canvas_fill_circle(fx_canvas *c, float cx, float cy, float radius, fx_rgb color)
{
    draw_annulus(c, cx, cy, 0.0f, radius, color);
}

void fx_canvas_stroke_circle(fx_canvas *c, float cx, float cy, float radius, float thickness, fx_rgb color)
{
    float h = thickness > 1.0f ? 0.5f * thickness : 0.5f;
    draw_annulus(c, cx, cy, radius - h, radius + h, color);
}

void fx_canvas_fill_rect(fx_canvas *c, fx_canvas_rect r, fx_rgb color)
{
    int x0 = r.x < 0 ? 0 : r.x, y0 = r.y < 0 ? 0 : r.y;
    long long x1 = (long long)r.x + r.width, y1 = (long long)r.y + r.height;
    if (x1 > c->width)
        x1 = c->width;
    if (y1 > c->height)
        y1 = c->height;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            fx_canvas_set(c, x, y, color);
}

void fx_canvas_stroke_rect(fx_canvas *c, fx_canvas_rect r, int thickness, fx_rgb color)
{
    int t = thickness < 1 ? 1 : thickness;
    if (r.width <= 0 || r.height <= 0)
        return;
    if (2 * t >= r.width || 2 * t >= r.height) {
        fx_canvas_fill_rect(c, r, color);
        return;
    }
    fx_canvas_fill_rect(c, (fx_canvas_rect){r.x, r.y, r.width, t}, color);
    fx_canvas_fill_rect(c, (fx_canvas_rect){r.x, r.y + r.height - t, r.width, t}, color);
    fx_canvas_fill_rect(c, (fx_canvas_rect){r.x, r.y + t, t, r.height - 2 * t}, color);
    fx_canvas_fill_rect(c, (fx_canvas_rect){r.x + r.width - t, r.y + t, t, r.height - 2 * t}, color);
}

/* ---- colour maps --------------------------------------------------------- */

typedef struct colormap_anchor {
    float t;
    fx_rgb rgb;
} colormap_anchor;

/* Viridis-like: five anchors sampled from the perceptually uniform ramp
 * (dark violet, blue, teal, green, yellow), interpolated linearly in RGB.
 * Lightness rises monotonically, so it reads in grey print too. */
static const colormap_anchor viridis_anchors[] = {
    {0.00f, {68, 1, 84}},   {0.25f, {59, 82, 139}},  {0.50f, {33, 145, 140}},
    {0.75f, {94, 201, 98}}, {1.00f, {253, 231, 37}},
};
/* Diverging: blue - white - red, symmetric around 0.5. */
static const colormap_anchor diverging_anchors[] = {
    {0.00f, {33, 102, 172}}, {0.25f, {146, 197, 222}}, {0.50f, {247, 247, 247}},
    {0.75f, {244, 165, 130}}, {1.00f, {178, 24, 43}},
};

static uint8_t lerp_u8(uint8_t a, uint8_t b, float w)
{
    float v = (float)a + w * ((float)b - (float)a);
    return (uint8_t)(v + 0.5f);
}

fx_rgb fx_colormap_rgb(fx_colormap map, float t)
{
    if (isnan(t)) {
        fx_rgb grey = {128, 128, 128};
        return grey;
    }
    t = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
    if (map == FX_COLORMAP_GREY) {
        uint8_t v = (uint8_t)(t * 255.0f + 0.5f);
        fx_rgb g = {v, v, v};
        return g;
    }
    const colormap_anchor *a = map == FX_COLORMAP_DIVERGING ? diverging_anchors : viridis_anchors;
    int n = 5;
    int k = 0;
    while (k < n - 2 && t > a[k + 1].t)
        k++;
    float w = (t - a[k].t) / (a[k + 1].t - a[k].t);
    fx_rgb v = {lerp_u8(a[k].rgb.r, a[k + 1].rgb.r, w), lerp_u8(a[k].rgb.g, a[k + 1].rgb.g, w),
                lerp_u8(a[k].rgb.b, a[k + 1].rgb.b, w)};
    return v;
}

void fx_canvas_colorbar(fx_canvas *c, fx_canvas_rect r, fx_colormap map, int vertical)
{
    if (r.width <= 0 || r.height <= 0)
        return;
    int n = vertical ? r.height : r.width;
    for (int i = 0; i < n; i++) {
        float t = n > 1 ? (float)i / (float)(n - 1) : 0.5f;
        fx_rgb col = fx_colormap_rgb(map, t);
        if (vertical)
            fx_canvas_fill_rect(c, (fx_canvas_rect){r.x, r.y + r.height - 1 - i, r.width, 1}, col);
        else
            fx_canvas_fill_rect(c, (fx_canvas_rect){r.x + i, r.y, 1, r.height}, col);
    }
    fx_rgb dark = {40, 40, 40};
    fx_canvas_stroke_rect(c, (fx_canvas_rect){r.x - 1, r.y - 1, r.width + 2, r.height + 2}, 1, dark);
}

/* ---- blitting ------------------------------------------------------------ */

/* Bilinear sample of plane `p` (w x h) at (sx, sy), clamped at the edges. */
static float sample_bilinear(const float *p, int w, int h, float sx, float sy)
{
    sx = sx < 0.0f ? 0.0f : (sx > (float)(w - 1) ? (float)(w - 1) : sx);
    sy = sy < 0.0f ? 0.0f : (sy > (float)(h - 1) ? (float)(h - 1) : sy);
    int x0 = (int)sx, y0 = (int)sy;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = sx - (float)x0, fy = sy - (float)y0;
    float top = p[(size_t)y0 * w + x0] + fx * (p[(size_t)y0 * w + x1] - p[(size_t)y0 * w + x0]);
    float bot = p[(size_t)y1 * w + x0] + fx * (p[(size_t)y1 * w + x1] - p[(size_t)y1 * w + x0]);
    return top + fy * (bot - top);
}

fx_status fx_canvas_blit(fx_context *ctx, fx_canvas *c, const fx_canvas_image *img, fx_canvas_rect dst)
{
    if (!img || !img->data || img->width <= 0 || img->height <= 0 ||
        (img->channels != 1 && img->channels != 3))
        return fx_fail(ctx, FX_ERR_INVALID,
                       "canvas blit: the image needs data, a positive size and 1 or 3 channels (got %dx%d, %d)",
                       img ? img->width : 0, img ? img->height : 0, img ? img->channels : 0);
    if (dst.width <= 0 || dst.height <= 0)
        return FX_OK;
    float range = img->hi - img->lo;
    float scale = range != 0.0f ? 1.0f / range : 0.0f;
    float alpha = img->alpha < 0.0f ? 0.0f : (img->alpha > 1.0f ? 1.0f : img->alpha);
    size_t plane = (size_t)img->width * (size_t)img->height;
    float kx = (float)img->width / (float)dst.width, ky = (float)img->height / (float)dst.height;
    for (int j = 0; j < dst.height; j++) {
        int y = dst.y + j;
        if (y < 0 || y >= c->height)
            continue;
        float sy = ((float)j + 0.5f) * ky - 0.5f;
        for (int i = 0; i < dst.width; i++) {
            int x = dst.x + i;
            if (x < 0 || x >= c->width)
                continue;
            float sx = ((float)i + 0.5f) * kx - 0.5f;
            fx_rgb col;
            if (img->channels == 1) {
                float v = sample_bilinear(img->data, img->width, img->height, sx, sy);
                col = fx_colormap_rgb(img->map, (v - img->lo) * scale);
            } else {
                float v[3];
                for (int k = 0; k < 3; k++) {
                    float t = (sample_bilinear(img->data + k * plane, img->width, img->height, sx, sy) - img->lo) *
                              scale;
                    v[k] = isnan(t) ? 0.5f : (t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t));
                }
                col = (fx_rgb){(uint8_t)(v[0] * 255.0f + 0.5f), (uint8_t)(v[1] * 255.0f + 0.5f),
                               (uint8_t)(v[2] * 255.0f + 0.5f)};
            }
            if (alpha < 1.0f) {
                fx_rgb under = fx_canvas_get(c, x, y);
                col = (fx_rgb){lerp_u8(under.r, col.r, alpha), lerp_u8(under.g, col.g, alpha),
                               lerp_u8(under.b, col.b, alpha)};
            }
            fx_canvas_set(c, x, y, col);
        }
    }
    return FX_OK;
}

/* ---- PNG ------------------------------------------------------------------ */

typedef struct png_write_state {
    char msg[256];
} png_write_state;

static void png_write_error(png_structp png, png_const_charp msg)
{
    png_write_state *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void png_write_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* warnings do not change the written file; a library must not print */
}

/* Encodes the canvas into the open file `f`. 0 or -1 with s->msg set.
 * Kept apart from the file handling so the setjmp covers only libpng. */
static int png_encode(const fx_canvas *c, FILE *f, png_write_state *s)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, png_write_error, png_write_warning);
    if (!png) {
        snprintf(s->msg, sizeof s->msg, "out of memory starting libpng");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(s->msg, sizeof s->msg, "out of memory starting libpng");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)c->width, (png_uint_32)c->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < c->height; y++)
        png_write_row(png, c->pixels + (size_t)y * (size_t)c->width * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

fx_status fx_canvas_write_png(fx_context *ctx, const fx_canvas *c, const char *path)
{
    if (!c || !c->pixels || !path || !*path)
        return fx_fail(ctx, FX_ERR_INVALID, "canvas PNG: a canvas and a file name are needed");
    char tmp[FX_PATH_MAX + 64];
    int tn = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (tn < 0 || (size_t)tn >= sizeof tmp)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot create: %s (check the folder exists and is writable)", tmp,
                       strerror(errno));
    png_write_state state = {{0}};
    const char *what = NULL;
    int err = 0;
    if (png_encode(c, f, &state) != 0)
        what = "encode";
    return fx_file_commit(ctx, f, tmp, path, what, err, "the PNG", state.msg);
}
