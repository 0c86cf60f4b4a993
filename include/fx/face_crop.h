/* fx/face_crop.h - aligned face crops from landmark annotations.
 *
 * Reads an annotation file in dlib's imglab XML format (what dlib's
 * examples/faces/training_with_face_landmarks.xml is: <image file=...>
 * <box top left width height> with 68 <part name x y/> each), aligns every
 * annotated face to the mean 68-point face template with a least-squares
 * similarity transform (rotation, uniform scale, translation: the same
 * alignment as dlib's face chips), samples a size x size crop bilinearly,
 * and writes an ImageFolder root fx's loader reads directly:
 *
 *   OUT/<identity>/<image stem>_<k>.ppm     one crop per face (k: box index)
 *   OUT/landmarks.csv                        image,x1,y1,...,x68,y68 in crop pixels
 *
 * The template is placed like a dlib face chip with padding p: a template
 * point t (normalised, roughly [0, 1]) lands at size * (t + p) / (1 + 2p).
 * Pixel centres are at integer coordinates. Every file is written to a
 * temporary name and renamed, so a failed run leaves no half-written crop. */
#ifndef FX_FACE_CROP_H
#define FX_FACE_CROP_H

#include "fx/context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fx_face_crop_options {
    int size;              /* crop side in pixels (default 150, dlib's chips) */
    float padding;         /* template padding p (default 0.25, dlib's chips) */
    const char *identity;  /* folder name of the crops (default "faces") */
} fx_face_crop_options;

/* Crops every face of the n_xml files xml_paths (images are relative to
 * each XML file's folder) into out_dir, which is created if missing; one
 * landmarks.csv lists the crops of all of them. Faces whose box has no 68
 * parts are skipped and counted in *skipped. Errors name the file, the line
 * and the fix. */
fx_status fx_face_crop_dlib_xml(fx_context *ctx, const char *const *xml_paths, int n_xml, const char *out_dir,
                                const fx_face_crop_options *opt, int *written, int *skipped);

#ifdef __cplusplus
}
#endif
#endif
