/* cli/face_eval.h - what `fxrun features`, `verify` and `identify` share:
 * choosing the images (--images ROOT or the graph's data.test), the
 * occlusion window of --occlude, extracting one feature per image from the
 * checkpoint, and writing JSON. */
#ifndef FX_CLI_FACE_EVAL_H
#define FX_CLI_FACE_EVAL_H

#include <stdio.h>
#include "cli/cli.h"

/* The paper's FAD window: 32 x 12 in a 110 x 110 frontal face. The default
 * position (--occlude without --occlude-at) centres it on the mean face's
 * left eye in the image (points 36-41 of the 68-point template). */
#define CLI_OCCLUDE_FRAME 110
#define CLI_OCCLUDE_WIDTH 32
#define CLI_OCCLUDE_HEIGHT 12

typedef struct cli_face_features {
    fx_graph *g;
    fx_config cfg;
    fx_dataset *ds;
    char root[FX_PATH_MAX];      /* the ImageFolder root the images came from */
    fx_extracted feat;           /* one row per image, data set order */
    int64_t dim;                 /* numel of one feature */
    int32_t *labels;             /* [feat.n] identity index (fx_dataset_class_name) */
    int has_occlusion;
    fx_occlusion occlusion;
} cli_face_features;

/* Loads the graph, applies --box, opens `root` (NULL: --images, else the
 * graph's data.test, else data.train) with `landmarks` (NULL: --landmarks),
 * and extracts --feature (default: the feature before the classifier) from
 * the checkpoint, with the --occlude window when o->occlude. Prints the
 * error and returns non-zero on failure (out then holds nothing). */
int cli_face_extract(fx_context *ctx, const cli_options *o, const char *root, const char *landmarks,
                     cli_face_features *out);
void cli_face_features_free(cli_face_features *f);

/* JSON helpers: a string with escapes, a number (null when not finite). */
void cli_json_string(FILE *f, const char *s);
void cli_json_number(FILE *f, double v);
/* Writes the memstream text atomically to path; prints and returns
 * non-zero on failure. */
int cli_write_text(fx_context *ctx, const char *path, const char *text, size_t size);

#endif
