/* core/face/face_mesh.c - a triangle mesh over a landmark template and the
 * piecewise affine map it defines between two landmark sets.
 *
 * Triangulation: Delaunay by Bowyer-Watson (each point in turn: remove the
 * triangles whose circumcircle holds it, re-fill the hole with a fan to the
 * point), started from a super-triangle around all points, whose triangles
 * are dropped at the end. In double precision; O(n^2) for n points, which
 * is nothing for 68. Duplicate points are skipped (they add no triangle).
 *
 * Map: for a point p and a triangle (a, b, c) of `from`, barycentric
 *   l_b = cross(c - a, p - a) ... solved as
 *   [b - a, c - a] (u, v)^T = p - a,  l = (1 - u - v, u, v),
 * and the image is l_a A + l_b B + l_c C with (A, B, C) the same triangle of
 * `to`. p lies in the triangle when all three l >= -1e-9. Outside every
 * triangle (beyond the landmarks' hull: forehead, hair, background) the
 * least-squares affine map from all of `from` to all of `to` is used (so a
 * global affine change of the landmarks is still reproduced exactly). Extending the nearest
 * triangle's affine map instead is unstable there: the hull's triangles are
 * slivers along the jaw and brows, and a sliver's affine map, extended a
 * face-width away, sends points hundreds of pixels off. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fx/face.h"

struct fx_face_mesh {
    int n_points;
    int n_triangles;
    int (*triangles)[3];
};

typedef struct work_triangle {
    int v[3];
    double cx, cy, r2; /* circumcircle */
} work_triangle;

static int circumcircle(const double *px, const double *py, work_triangle *t)
{
    double ax = px[t->v[0]], ay = py[t->v[0]];
    double bx = px[t->v[1]], by = py[t->v[1]];
    double cx = px[t->v[2]], cy = py[t->v[2]];
    double d = 2.0 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by));
    if (fabs(d) < 1e-300)
        return -1;
    double a2 = ax * ax + ay * ay, b2 = bx * bx + by * by, c2 = cx * cx + cy * cy;
    t->cx = (a2 * (by - cy) + b2 * (cy - ay) + c2 * (ay - by)) / d;
    t->cy = (a2 * (cx - bx) + b2 * (ax - cx) + c2 * (bx - ax)) / d;
    t->r2 = (ax - t->cx) * (ax - t->cx) + (ay - t->cy) * (ay - t->cy);
    return 0;
}

fx_status fx_face_mesh_create(fx_context *ctx, const float *template_xy, int n_points, fx_face_mesh **out)
{
    *out = NULL;
    if (!template_xy || n_points < 3 || n_points > 100000)
        return fx_fail(ctx, FX_ERR_INVALID, "face mesh: %d template points; give 3 to 100000 points (x, y)",
                       n_points);
    double minx = INFINITY, miny = INFINITY, maxx = -INFINITY, maxy = -INFINITY;
    for (int i = 0; i < n_points; i++) {
        float x = template_xy[2 * i], y = template_xy[2 * i + 1];
        if (!isfinite(x) || !isfinite(y))
            return fx_fail(ctx, FX_ERR_INVALID, "face mesh: template point %d is (%g, %g); points must be finite",
                           i, (double)x, (double)y);
        minx = fmin(minx, x);
        maxx = fmax(maxx, x);
        miny = fmin(miny, y);
        maxy = fmax(maxy, y);
    }
    /* Points plus the three corners of a super-triangle far outside. */
    int total = n_points + 3;
    size_t cap = (size_t)8 * (size_t)total + 16; /* a planar triangulation has < 2 total triangles */
    double *px = fx_malloc(ctx, (size_t)total * sizeof(double), "face mesh points");
    double *py = fx_malloc(ctx, (size_t)total * sizeof(double), "face mesh points");
    work_triangle *tri = fx_malloc(ctx, cap * sizeof *tri, "face mesh triangles");
    int(*edges)[2] = fx_malloc(ctx, 3 * cap * sizeof *edges, "face mesh edges");
    fx_face_mesh *m = fx_calloc(ctx, 1, sizeof *m, "face mesh");
    if (!px || !py || !tri || !edges || !m) {
        free(px);
        free(py);
        free(tri);
        free(edges);
        free(m);
        return FX_ERR_NOMEM;
    }
    double span = fmax(maxx - minx, maxy - miny);
    if (span <= 0)
        span = 1;
    double mx = 0.5 * (minx + maxx), my = 0.5 * (miny + maxy);
    for (int i = 0; i < n_points; i++) {
        px[i] = template_xy[2 * i];
        py[i] = template_xy[2 * i + 1];
    }
    px[n_points] = mx - 20 * span;
    py[n_points] = my - 20 * span;
    px[n_points + 1] = mx + 20 * span;
    py[n_points + 1] = my - 20 * span;
    px[n_points + 2] = mx;
    py[n_points + 2] = my + 20 * span;
    size_t nt = 1;
    tri[0] = (work_triangle){{n_points, n_points + 1, n_points + 2}, 0, 0, 0};
    circumcircle(px, py, &tri[0]);

    fx_status st = FX_OK;
    for (int p = 0; p < n_points && st == FX_OK; p++) {
        int duplicate = 0;
        for (int q = 0; q < p; q++)
            if (px[q] == px[p] && py[q] == py[p])
                duplicate = 1;
        if (duplicate)
            continue;
        /* Edges of the triangles whose circumcircle holds p; an edge shared
         * by two such triangles is inside the hole and is dropped. */
        size_t ne = 0;
        for (size_t t = 0; t < nt;) {
            double dx = px[p] - tri[t].cx, dy = py[p] - tri[t].cy;
            if (dx * dx + dy * dy <= tri[t].r2 * (1 + 1e-12)) {
                for (int e = 0; e < 3; e++) {
                    int a = tri[t].v[e], b = tri[t].v[(e + 1) % 3];
                    size_t k;
                    for (k = 0; k < ne; k++)
                        if ((edges[k][0] == b && edges[k][1] == a) || (edges[k][0] == a && edges[k][1] == b))
                            break;
                    if (k < ne)
                        edges[k][0] = edges[k][1] = -1; /* shared: interior */
                    else {
                        edges[ne][0] = a;
                        edges[ne][1] = b;
                        ne++;
                    }
                }
                tri[t] = tri[--nt];
            } else {
                t++;
            }
        }
        for (size_t k = 0; k < ne; k++) {
            if (edges[k][0] < 0)
                continue;
            if (nt == cap) {
                st = fx_fail(ctx, FX_ERR_INTERNAL, "face mesh: triangle buffer overflow at point %d", p);
                break;
            }
            tri[nt] = (work_triangle){{edges[k][0], edges[k][1], p}, 0, 0, 0};
            if (circumcircle(px, py, &tri[nt]) == 0)
                nt++;
        }
    }
    /* Keep the triangles of template points only, counter-clockwise in
     * image coordinates does not matter: the map uses signed areas. */
    size_t kept = 0;
    for (size_t t = 0; t < nt; t++)
        if (tri[t].v[0] < n_points && tri[t].v[1] < n_points && tri[t].v[2] < n_points)
            tri[kept++] = tri[t];
    if (st == FX_OK && kept == 0)
        st = fx_fail(ctx, FX_ERR_INVALID, "face mesh: the %d template points lie on one line; no triangle",
                     n_points);
    if (st == FX_OK) {
        m->triangles = fx_malloc(ctx, kept * sizeof *m->triangles, "face mesh triangles");
        if (!m->triangles)
            st = FX_ERR_NOMEM;
    }
    if (st == FX_OK) {
        for (size_t t = 0; t < kept; t++)
            memcpy(m->triangles[t], tri[t].v, sizeof m->triangles[t]);
        m->n_triangles = (int)kept;
        m->n_points = n_points;
    }
    free(px);
    free(py);
    free(tri);
    free(edges);
    if (st != FX_OK) {
        fx_face_mesh_destroy(m);
        return st;
    }
    *out = m;
    return FX_OK;
}

void fx_face_mesh_destroy(fx_face_mesh *m)
{
    if (!m)
        return;
    free(m->triangles);
    free(m);
}

int fx_face_mesh_triangles(const fx_face_mesh *m)
{
    return m ? m->n_triangles : 0;
}

const int *fx_face_mesh_triangle(const fx_face_mesh *m, int t)
{
    return m && t >= 0 && t < m->n_triangles ? m->triangles[t] : NULL;
}

/* Squared distance from p to segment ab. */
static double segment_distance2(double px, double py, double ax, double ay, double bx, double by)
{
    double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    double s = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
    s = s < 0 ? 0 : s > 1 ? 1 : s;
    double ex = ax + s * dx - px, ey = ay + s * dy - py;
    return ex * ex + ey * ey;
}

/* The least-squares affine map from `from` to `to` (n points each),
 * applied to (x, y): x' = [x y 1] cx, y' = [x y 1] cy with cx, cy solving
 * the normal equations A^T A c = A^T b over the rows [fx fy 1], in
 * coordinates centred on mean(from) for conditioning. -1 when the points
 * of `from` lie on one line. */
static int affine_fit_map(const float *from, const float *to, int n, float x, float y, float *ox, float *oy)
{
    double mx = 0, my = 0;
    for (int i = 0; i < n; i++) {
        mx += from[2 * i];
        my += from[2 * i + 1];
    }
    mx /= n, my /= n;
    /* With centred inputs the normal matrix is [[sxx sxy 0] [sxy syy 0] [0 0 n]]. */
    double sxx = 0, sxy = 0, syy = 0, bx[3] = {0, 0, 0}, by[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        double u = from[2 * i] - mx, v = from[2 * i + 1] - my, tx = to[2 * i], ty = to[2 * i + 1];
        sxx += u * u, sxy += u * v, syy += v * v;
        bx[0] += u * tx, bx[1] += v * tx, bx[2] += tx;
        by[0] += u * ty, by[1] += v * ty, by[2] += ty;
    }
    double det = sxx * syy - sxy * sxy;
    if (!(fabs(det) > 1e-12 * (sxx + syy) * (sxx + syy)) || !isfinite(det))
        return -1;
    double u = x - mx, v = y - my;
    double cx0 = (syy * bx[0] - sxy * bx[1]) / det, cx1 = (sxx * bx[1] - sxy * bx[0]) / det;
    double cy0 = (syy * by[0] - sxy * by[1]) / det, cy1 = (sxx * by[1] - sxy * by[0]) / det;
    *ox = (float)(cx0 * u + cx1 * v + bx[2] / n);
    *oy = (float)(cy0 * u + cy1 * v + by[2] / n);
    return 0;
}

int fx_face_mesh_map(const fx_face_mesh *m, const float *from, const float *to, float x, float y, float *ox,
                     float *oy)
{
    if (!m || !from || !to || !isfinite(x) || !isfinite(y))
        return -1;
    for (int i = 0; i < 2 * m->n_points; i++)
        if (!isfinite(from[i]))
            return -1;
    int best = -1;
    double best_d2 = INFINITY, best_l[3] = {0, 0, 0};
    for (int t = 0; t < m->n_triangles; t++) {
        const int *v = m->triangles[t];
        double ax = from[2 * v[0]], ay = from[2 * v[0] + 1];
        double bx = from[2 * v[1]], by = from[2 * v[1] + 1];
        double cx = from[2 * v[2]], cy = from[2 * v[2] + 1];
        double e1x = bx - ax, e1y = by - ay, e2x = cx - ax, e2y = cy - ay;
        double det = e1x * e2y - e1y * e2x;
        double scale = (e1x * e1x + e1y * e1y) + (e2x * e2x + e2y * e2y);
        if (!(fabs(det) > 1e-12 * scale) || scale == 0)
            continue; /* degenerate in `from`: no affine map */
        double qx = x - ax, qy = y - ay;
        double u = (qx * e2y - qy * e2x) / det, w = (e1x * qy - e1y * qx) / det;
        double l[3] = {1 - u - w, u, w};
        double d2;
        if (l[0] >= -1e-9 && l[1] >= -1e-9 && l[2] >= -1e-9)
            d2 = 0;
        else
            d2 = fmin(segment_distance2(x, y, ax, ay, bx, by),
                      fmin(segment_distance2(x, y, bx, by, cx, cy), segment_distance2(x, y, cx, cy, ax, ay)));
        if (d2 < best_d2) {
            best_d2 = d2;
            best = t;
            memcpy(best_l, l, sizeof best_l);
            if (d2 == 0)
                break; /* the first containing triangle */
        }
    }
    if (best < 0)
        return -1;
    if (best_d2 > 0)
        return affine_fit_map(from, to, m->n_points, x, y, ox, oy);
    const int *v = m->triangles[best];
    double rx = 0, ry = 0;
    for (int k = 0; k < 3; k++) {
        rx += best_l[k] * to[2 * v[k]];
        ry += best_l[k] * to[2 * v[k] + 1];
    }
    *ox = (float)rx;
    *oy = (float)ry;
    return 0;
}
