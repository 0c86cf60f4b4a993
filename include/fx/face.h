/* fx/face.h - face geometry: the mean 68-point landmark template and a
 * triangle mesh over landmark sets (piecewise affine maps between faces).
 *
 * Point sets are n_points x 2 floats (x, y) in pixel coordinates of their
 * frame, the centre of pixel (column j, row i) being (j, i). The 68-point
 * order is the iBUG-300W / dlib scheme (0-16 jaw, 17-26 brows, 27-35 nose,
 * 36-47 eyes, 48-67 mouth). Code: core/face/face_mesh.c, core/face/face_template68.c;
 * documented in docs/data.md ("Faces"). */
#ifndef FX_FACE_H
#define FX_FACE_H

#include "fx/context.h"
#include "fx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FX_FACE_POINTS68 68

typedef struct fx_face_mesh fx_face_mesh;

/* Triangulates the template (Delaunay, Bowyer-Watson; core/face/face_mesh.c).
 * The mesh keeps only the triangles (vertex indices), not the points, so
 * one mesh serves every landmark set with the template's point order.
 * Fails on fewer than 3 points, non-finite coordinates or points all on a
 * line. Free with fx_face_mesh_destroy. */
fx_status fx_face_mesh_create(fx_context *ctx, const float *template_xy, int n_points, fx_face_mesh **out);
void fx_face_mesh_destroy(fx_face_mesh *m);
int fx_face_mesh_triangles(const fx_face_mesh *m);            /* number of triangles */
const int *fx_face_mesh_triangle(const fx_face_mesh *m, int t); /* its 3 point indices */

/* Maps (x, y) from the frame of landmark set `from` to the frame of `to`
 * (n_points x 2 each, same point order) through the triangle of the mesh
 * that contains it in `from` (same barycentric coordinates in `to`);
 * outside every triangle: the least-squares affine map between all the
 * points of `from` and `to` (stable far from the face, unlike extending
 * the nearest sliver triangle along the jaw). Returns 0, or -1 when `from` has non-finite points or
 * every triangle of it is degenerate (zero area) or (x, y) is not finite;
 * *ox, *oy are untouched then. */
int fx_face_mesh_map(const fx_face_mesh *m, const float *from, const float *to, float x, float y, float *ox,
                     float *oy);

/* The mean 68-point face template scaled to a size x size frame (xy[136]):
 * OpenFace's mean dlib shape (configs/landmarks/mean68.csv, coordinates
 * about 0..1) times `size`. */
fx_status fx_face_template68(fx_context *ctx, int size, float *xy);

/* ---- the occlusion window (docs/data.md "Occlusion") ----------------------
 * A window covers pixels x .. x+width-1, y .. y+height-1 of a frame x frame
 * frame: the square with corners (x - 1/2, y - 1/2) and
 * (x + width - 1/2, y + height - 1/2). Quads are 4 corners (x, y) in the
 * order top-left, top-right, bottom-right, bottom-left: quad[8]. */

/* The window with the frame taken to be an out_w x out_h image: corners
 * resampled by the resize rule u' = (u + 1/2) out / frame - 1/2. */
void fx_face_window_frame_quad(int x, int y, int width, int height, int frame, int out_w, int out_h, float *quad);

/* The window on the mean face `template_xy` (68 points in the frame,
 * fx_face_template68) warped to a face with landmarks `points` (68 x 2):
 * each corner through the mesh. Returns 0, or -1 when a point is not
 * finite or the mesh cannot map (quad untouched then). */
int fx_face_window_warp_quad(const fx_face_mesh *m, const float *template_xy, const float *points, int x, int y,
                             int width, int height, float *quad);

/* Row `row` of the filled quad in an image `width` wide: pixel (j, row) is
 * inside when its centre is (crossing rule, half-open edges), i.e. when
 * spans[0] <= j < spans[1] or spans[2] <= j < spans[3] (clipped to
 * [0, width); empty spans are 0, 0). An axis-aligned window with edges at
 * a and b gives a <= j < b. */
void fx_face_quad_row_spans(const float *quad, int row, int width, int *spans);

/* For 68-point sets: the index of the mirror image of point i under a
 * horizontal flip (left eye corner <-> right eye corner, ...). */
int fx_face_mirror68(int i);

#ifdef __cplusplus
}
#endif
#endif
