/* fx/canvas.h - a small RGB raster canvas for the pictures fx writes (ROC
 * curves, filter-peak maps, heat maps): filled and outlined shapes, lines
 * with a thickness, text in a built-in bitmap font, float images blitted
 * scaled into a rectangle (grey, RGB, or through a colour map), and PNG
 * output through libpng, written atomically.
 *
 * Coordinates are pixels, x to the right and y down; (0, 0) is the centre
 * of the top-left pixel, so a pixel (i, j) covers [i - 0.5, i + 0.5] x
 * [j - 0.5, j + 0.5]. Everything drawn is clipped to the canvas; nothing is
 * anti-aliased (a pixel is painted when its centre is inside the shape).
 *
 * Memory: fx_canvas_create allocates the canvas and its pixels; free both
 * with fx_canvas_destroy. Drawing functions never allocate. */
#ifndef FX_CANVAS_H
#define FX_CANVAS_H

#include <stdint.h>
#include "fx/context.h"
#include "fx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fx_rgb {
    uint8_t r, g, b;
} fx_rgb;

typedef struct fx_canvas {
    int width, height;
    uint8_t *pixels; /* height * width * 3 bytes, rows top to bottom, RGB interleaved */
} fx_canvas;

typedef struct fx_canvas_rect {
    int x, y, width, height; /* top-left pixel and size */
} fx_canvas_rect;

/* Largest canvas accepted, in pixels (a side of 16384 at most). */
#define FX_CANVAS_MAX_SIDE 16384

/* Creates a width x height canvas filled with `background`. */
fx_status fx_canvas_create(fx_context *ctx, int width, int height, fx_rgb background, fx_canvas **out);
void fx_canvas_destroy(fx_canvas *canvas);

void fx_canvas_fill(fx_canvas *c, fx_rgb color);
/* Sets one pixel; outside the canvas nothing happens. */
void fx_canvas_set(fx_canvas *c, int x, int y, fx_rgb color);
/* The pixel at (x, y); black outside the canvas. */
fx_rgb fx_canvas_get(const fx_canvas *c, int x, int y);

/* A segment from (x0, y0) to (x1, y1) with round ends: every pixel whose
 * centre lies within thickness/2 of the segment (thickness <= 1 draws the
 * pixels within 0.5, a one-pixel line). */
void fx_canvas_line(fx_canvas *c, float x0, float y0, float x1, float y1, float thickness, fx_rgb color);
/* Pixels whose centre lies within `radius` of (cx, cy). */
void fx_canvas_fill_circle(fx_canvas *c, float cx, float cy, float radius, fx_rgb color);
/* A ring: pixels whose centre's distance d to (cx, cy) has |d - radius| <= thickness/2. */
void fx_canvas_stroke_circle(fx_canvas *c, float cx, float cy, float radius, float thickness, fx_rgb color);
void fx_canvas_fill_rect(fx_canvas *c, fx_canvas_rect r, fx_rgb color);
/* An outline `thickness` pixels wide (at least 1), inside the rectangle. */
void fx_canvas_stroke_rect(fx_canvas *c, fx_canvas_rect r, int thickness, fx_rgb color);

/* ---- text ------------------------------------------------------------- */
/* The built-in font: every glyph is a 5 x 9 bitmap (7 rows above the
 * baseline, 2 for descenders) in a 6 x 10 cell, scaled by an integer
 * factor. It covers printable ASCII and a few signs used in reports
 * (UTF-8 "±", "×", "·", "°", "σ", "μ"); other characters draw as a box. */
#define FX_FONT_CELL_WIDTH 6
#define FX_FONT_CELL_HEIGHT 10
/* Draws UTF-8 `text` with its top-left corner at (x, y); '\n' starts a new
 * line. Returns the width in pixels of the widest line. */
int fx_canvas_text(fx_canvas *c, int x, int y, const char *text, int scale, fx_rgb color);
/* The width and height `text` would take (no drawing). */
void fx_canvas_text_size(const char *text, int scale, int *width, int *height);

/* ---- colour maps ------------------------------------------------------ */
typedef enum fx_colormap {
    FX_COLORMAP_GREY = 0,   /* black to white */
    FX_COLORMAP_VIRIDIS,    /* perceptually ordered dark blue - teal - green - yellow */
    FX_COLORMAP_DIVERGING   /* blue - white - red, for signed values (0.5 = white) */
} fx_colormap;
/* The colour at t in [0, 1] (clamped; NaN gives mid grey). */
fx_rgb fx_colormap_rgb(fx_colormap map, float t);

/* ---- images ----------------------------------------------------------- */
/* A float image to blit. `data` is planar, channel-major (CHW, as a batch
 * item of an NCHW tensor): channels 1 (through `map`) or 3 (RGB, `map`
 * ignored). Values are mapped linearly from [lo, hi] to [0, 1] and
 * clamped. alpha in [0, 1] blends over what is on the canvas (1 = opaque). */
typedef struct fx_canvas_image {
    const float *data;
    int width, height, channels;
    float lo, hi;
    fx_colormap map;
    float alpha;
} fx_canvas_image;
/* Draws `img` scaled into `dst` with bilinear sampling (pixel centres
 * aligned: source x = (dst x + 0.5) * width / dst.width - 0.5). Refuses
 * (FX_ERR_INVALID) an image with no data, a size <= 0 or a channel count
 * other than 1 or 3. */
fx_status fx_canvas_blit(fx_context *ctx, fx_canvas *c, const fx_canvas_image *img, fx_canvas_rect dst);
/* A colour bar of `map` filling `r`, low values at the left (or at the
 * bottom when vertical), with a 1-pixel dark outline. */
void fx_canvas_colorbar(fx_canvas *c, fx_canvas_rect r, fx_colormap map, int vertical);

/* Writes the canvas as an 8-bit RGB PNG: to "path.tmp.<pid>", fsync'd,
 * then renamed over `path`, so `path` is either the old file or the
 * complete new one. */
fx_status fx_canvas_write_png(fx_context *ctx, const fx_canvas *c, const char *path);

#ifdef __cplusplus
}
#endif

#endif
