/* fx/face.h - face geometry: the mean 68-point landmark template and a
 * triangle mesh over landmark sets (piecewise affine maps between faces).
 *
 * Point sets are n_points x 2 floats (x, y) in pixel coordinates of their
 * frame, the centre of pixel (column j, row i) being (j, i). The 68-point
 * order is the iBUG-300W / dlib scheme (0-16 jaw, 17-26 brows, 27-35 nose,
 * 36-47 eyes, 48-67 mouth). Code: core/face_mesh.c, core/face_template68.c;
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

/* Triangulates the template (Delaunay, Bowyer-Watson; core/face_mesh.c).
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
 * outside every triangle: the nearest triangle's affine map (barycentric
 * extrapolation). Returns 0, or -1 when `from` has non-finite points or
 * every triangle of it is degenerate (zero area) or (x, y) is not finite;
 * *ox, *oy are untouched then. */
int fx_face_mesh_map(const fx_face_mesh *m, const float *from, const float *to, float x, float y, float *ox,
                     float *oy);

/* The mean 68-point face template scaled to a size x size frame (xy[136]):
 * OpenFace's mean dlib shape (configs/landmarks/mean68.csv, coordinates
 * about 0..1) times `size`. */
fx_status fx_face_template68(fx_context *ctx, int size, float *xy);

/* For 68-point sets: the index of the mirror image of point i under a
 * horizontal flip (left eye corner <-> right eye corner, ...). */
int fx_face_mirror68(int i);

#ifdef __cplusplus
}
#endif
#endif
