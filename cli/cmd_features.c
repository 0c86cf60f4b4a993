/* cli/cmd_features.c - `fxrun features`: one feature vector per image of
 * an ImageFolder root, from a trained checkpoint, written as .npy
 * ([images, feature shape...], float32) plus a list of the images
 * (index, file, identity) next to it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/face_eval.h"

/* feats.npy -> feats.txt; another name gets ".txt" appended. */
static void list_path(const char *npy, char *out, size_t size)
{
    size_t n = strlen(npy);
    if (n > 4 && !strcmp(npy + n - 4, ".npy"))
        snprintf(out, size, "%.*s.txt", (int)(n - 4), npy);
    else
        snprintf(out, size, "%s.txt", npy);
}

int cli_cmd_features(fx_context *ctx, const cli_options *o)
{
    if (!o->output) {
        fprintf(stderr, "fxrun: features needs --output FILE.npy (the list of images goes next to it, FILE.txt)\n");
        return 2;
    }
    cli_face_features ff;
    if (cli_face_extract(ctx, o, NULL, NULL, &ff) != 0)
        return 1;
    fx_array a;
    memset(&a, 0, sizeof a);
    a.dtype = FX_F32;
    a.shape.ndim = ff.feat.shape.ndim + 1;
    a.shape.dim[0] = ff.feat.n;
    for (int d = 0; d < ff.feat.shape.ndim; d++)
        a.shape.dim[d + 1] = ff.feat.shape.dim[d];
    a.data = ff.feat.data;
    int rc = 0;
    if (a.shape.ndim > FX_MAX_DIMS) {
        fprintf(stderr, "fxrun: feature '%s' has %d dimensions per image; .npy output allows %d\n", ff.feat.name,
                ff.feat.shape.ndim, FX_MAX_DIMS - 1);
        rc = 1;
    }
    if (rc == 0 && fx_npy_write(ctx, o->output, &a) != FX_OK)
        rc = cli_error(ctx);
    char txt[FX_PATH_MAX + 8];
    list_path(o->output, txt, sizeof txt);
    if (rc == 0) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        if (f) {
            fprintf(f, "index\tfile\tidentity\n");
            for (int64_t i = 0; i < ff.feat.n; i++)
                fprintf(f, "%lld\t%s\t%s\n", (long long)i, fx_dataset_file(ff.ds, i),
                        fx_dataset_class_name(ff.ds, ff.labels[i]));
            fclose(f);
        }
        rc = cli_write_text(ctx, txt, f ? text : NULL, size);
        free(text);
    }
    if (rc == 0 && o->verbose > 0) {
        char shape[64];
        printf("features '%s' %s of %lld images (%d identities) from %s -> %s, %s\n", ff.feat.name,
               fx_shape_str(&ff.feat.shape, shape, sizeof shape), (long long)ff.feat.n, fx_dataset_classes(ff.ds),
               ff.root, o->output, txt);
    }
    cli_face_features_free(&ff);
    return rc;
}
