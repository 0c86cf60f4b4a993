/* core/face/face_window.c - geometry of the occlusion window: its corners in the
 * crop frame or warped through the face mesh, and the pixels a quad covers.
 * Shared by the loader (core/io/loader.c) and the occlude op's kernels, so the
 * loader, the CPU and the OpenCL backend paint the same pixels. */
#include <math.h>

#include "fx/face.h"

static void window_corners(int x, int y, int width, int height, float *cx, float *cy)
{
    float l = (float)x - 0.5f, r = (float)x + (float)width - 0.5f;
    float t = (float)y - 0.5f, b = (float)y + (float)height - 0.5f;
    cx[0] = l, cy[0] = t;
    cx[1] = r, cy[1] = t;
    cx[2] = r, cy[2] = b;
    cx[3] = l, cy[3] = b;
}

void fx_face_window_frame_quad(int x, int y, int width, int height, int frame, int out_w, int out_h, float *quad)
{
    float cx[4], cy[4];
    window_corners(x, y, width, height, cx, cy);
    for (int k = 0; k < 4; k++) {
        quad[2 * k] = (cx[k] + 0.5f) * (float)out_w / (float)frame - 0.5f;
        quad[2 * k + 1] = (cy[k] + 0.5f) * (float)out_h / (float)frame - 0.5f;
    }
}

int fx_face_window_warp_quad(const fx_face_mesh *m, const float *template_xy, const float *points, int x, int y,
                             int width, int height, float *quad)
{
    for (int p = 0; p < 2 * FX_FACE_POINTS68; p++)
        if (!isfinite(points[p]))
            return -1;
    float cx[4], cy[4], q[8];
    window_corners(x, y, width, height, cx, cy);
    for (int k = 0; k < 4; k++)
        if (fx_face_mesh_map(m, template_xy, points, cx[k], cy[k], &q[2 * k], &q[2 * k + 1]) != 0)
            return -1;
    for (int k = 0; k < 8; k++)
        quad[k] = q[k];
    return 0;
}

void fx_face_quad_row_spans(const float *quad, int row, int width, int *spans)
{
    float xs[4];
    int n = 0;
    const float yc = (float)row;
    for (int k = 0; k < 4; k++) {
        const float *a = quad + 2 * k, *b = quad + 2 * ((k + 1) % 4);
        if ((a[1] <= yc && yc < b[1]) || (b[1] <= yc && yc < a[1]))
            xs[n++] = a[0] + (yc - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
    }
    for (int u = 1; u < n; u++)
        for (int v = u; v > 0 && xs[v] < xs[v - 1]; v--) {
            float t = xs[v];
            xs[v] = xs[v - 1];
            xs[v - 1] = t;
        }
    for (int s = 0; s < 2; s++) {
        int j0 = 0, j1 = 0;
        if (2 * s + 1 < n && isfinite(xs[2 * s]) && isfinite(xs[2 * s + 1])) {
            float lo = ceilf(xs[2 * s]), hi = ceilf(xs[2 * s + 1]);
            lo = lo < 0 ? 0 : lo > (float)width ? (float)width : lo;
            hi = hi < 0 ? 0 : hi > (float)width ? (float)width : hi;
            j0 = (int)lo;
            j1 = (int)hi;
            if (j1 < j0)
                j1 = j0;
        }
        spans[2 * s] = j0;
        spans[2 * s + 1] = j1;
    }
}
