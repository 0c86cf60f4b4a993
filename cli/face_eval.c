/* cli/face_eval.c - shared by `fxrun features`, `verify` and `identify`
 * (cli/face_eval.h): the images, the occlusion window, feature extraction
 * through fx_extract_values, identity labels, JSON output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/face_eval.h"

void cli_face_features_free(cli_face_features *f)
{
    if (!f)
        return;
    fx_extracted_free(&f->feat, 1);
    free(f->labels);
    fx_dataset_close(f->ds);
    fx_graph_destroy(f->g);
    memset(f, 0, sizeof *f);
}

/* The window of --occlude: --occlude-at X,Y or the default over the mean
 * face's left eye (in the image), drawn black in the graph's units. */
static int occlusion_window(fx_context *ctx, const cli_options *o, const fx_config *cfg, fx_occlusion *occ)
{
    occ->frame = CLI_OCCLUDE_FRAME;
    occ->width = CLI_OCCLUDE_WIDTH;
    occ->height = CLI_OCCLUDE_HEIGHT;
    /* Black: pixel 0 through the data's normalisation (x/255 - mean) / std. */
    occ->value = cfg->data.n_norm ? -cfg->data.mean[0] / cfg->data.std[0] : 0.0f;
    if (o->has_occlude_at) {
        occ->x = o->occlude_at[0];
        occ->y = o->occlude_at[1];
    } else {
        float xy[2 * FX_FACE_POINTS68];
        if (fx_face_template68(ctx, CLI_OCCLUDE_FRAME, xy) != FX_OK)
            return cli_error(ctx);
        double cx = 0, cy = 0;
        for (int i = 36; i <= 41; i++) {
            cx += xy[2 * i] / 6.0;
            cy += xy[2 * i + 1] / 6.0;
        }
        occ->x = (int)lround(cx - CLI_OCCLUDE_WIDTH / 2.0);
        occ->y = (int)lround(cy - CLI_OCCLUDE_HEIGHT / 2.0);
    }
    if (occ->x < 0 || occ->y < 0 || occ->x + occ->width > occ->frame || occ->y + occ->height > occ->frame) {
        fprintf(stderr,
                "fxrun: --occlude-at %d,%d puts the %dx%d window outside the %dx%d mean face; use 0 <= X <= %d and "
                "0 <= Y <= %d\n",
                occ->x, occ->y, occ->width, occ->height, occ->frame, occ->frame, occ->frame - occ->width,
                occ->frame - occ->height);
        return 1;
    }
    return 0;
}

typedef struct class_index {
    const char *name;
    int index;
} class_index;

static int compare_class(const void *a, const void *b)
{
    return strcmp(((const class_index *)a)->name, ((const class_index *)b)->name);
}

/* Identity of each example from its file (root/<identity>/<file>). */
static int labels_from_files(fx_dataset *ds, int64_t n, int32_t *labels)
{
    int nc = fx_dataset_classes(ds);
    class_index *idx = malloc((size_t)(nc > 0 ? nc : 1) * sizeof *idx);
    if (!idx) {
        fprintf(stderr, "fxrun: out of memory\n");
        return 1;
    }
    for (int c = 0; c < nc; c++)
        idx[c] = (class_index){ fx_dataset_class_name(ds, c), c };
    qsort(idx, (size_t)nc, sizeof *idx, compare_class);
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i++) {
        const char *file = fx_dataset_file(ds, i);
        const char *slash = file ? strrchr(file, '/') : NULL;
        const char *start = slash ? slash - 1 : NULL;
        while (start && start > file && start[-1] != '/')
            start--;
        char name[FX_PATH_MAX];
        if (!slash || !start || (size_t)(slash - start) >= sizeof name) {
            fprintf(stderr, "fxrun: example %lld has no ImageFolder path; these commands need --images ROOT with "
                            "ROOT/<identity>/<image> files\n", (long long)i);
            rc = 1;
            break;
        }
        snprintf(name, sizeof name, "%.*s", (int)(slash - start), start);
        class_index key = { name, 0 };
        class_index *hit = bsearch(&key, idx, (size_t)nc, sizeof *idx, compare_class);
        if (!hit) {
            fprintf(stderr, "fxrun: internal: %s is not in a known identity folder\n", file);
            rc = 1;
        } else {
            labels[i] = hit->index;
        }
    }
    free(idx);
    return rc;
}

int cli_face_extract(fx_context *ctx, const cli_options *o, const char *root, const char *landmarks,
                     cli_face_features *out)
{
    memset(out, 0, sizeof *out);
    if (cli_load(ctx, o, &out->g, &out->cfg) != 0)
        return 1;
    fx_config *cfg = &out->cfg;
    fx_backend *be = NULL;
    if (cli_backend(ctx, o, cfg, &be) != 0) {
        cli_face_features_free(out);
        return 1;
    }
    if (o->has_box)
        memcpy(cfg->data.box, o->box, sizeof cfg->data.box);
    if (!root)
        root = o->images;
    if (!landmarks)
        landmarks = o->landmarks;
    fx_data_source src;
    if (root) {
        memset(&src, 0, sizeof src);
        src.kind = FX_DATA_IMAGEFOLDER;
        snprintf(src.root, sizeof src.root, "%s", root);
        if (landmarks)
            snprintf(src.landmarks, sizeof src.landmarks, "%s", landmarks);
        cfg->data.split_holdout = 0; /* an explicit root: every identity in it */
    } else {
        src = cfg->data.test.kind != FX_DATA_NONE ? cfg->data.test : cfg->data.train;
        if (src.kind != FX_DATA_IMAGEFOLDER) {
            fprintf(stderr, "fxrun: %s: no face images: pass --images ROOT (ROOT/<identity>/<image>) or set "
                            "data.test to {imagefolder: ROOT}\n", cfg->path);
            cli_face_features_free(out);
            return 1;
        }
        if (landmarks)
            snprintf(src.landmarks, sizeof src.landmarks, "%s", landmarks);
    }
    snprintf(out->root, sizeof out->root, "%s", src.root);
    const char *checkpoint = cfg->train.checkpoint;
    char feature[FX_NAME_MAX];
    int rc = 0;
    if (!checkpoint[0]) {
        fprintf(stderr, "fxrun: %s: features need trained weights: set train.checkpoint or pass --checkpoint FILE\n",
                cfg->path);
        rc = 1;
    }
    if (rc == 0 && o->feature)
        snprintf(feature, sizeof feature, "%s", o->feature);
    else if (rc == 0 && fx_extract_default_feature(ctx, out->g, cfg, feature, sizeof feature) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0 && o->occlude) {
        rc = occlusion_window(ctx, o, cfg, &out->occlusion);
        out->has_occlusion = rc == 0;
    }
    if (rc == 0 && fx_dataset_open(ctx, &src, &cfg->data, &out->ds) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0) {
        const char *names[1] = { feature };
        fx_extract_options eo = { .backend = be, .batch = o->batch, .progress = o->progress,
                                  .occlude = out->has_occlusion ? &out->occlusion : NULL,
                                  .log = o->verbose > 1 ? stderr : NULL };
        if (fx_extract_values(ctx, out->g, cfg, checkpoint, out->ds, names, 1, &eo, &out->feat) != FX_OK)
            rc = cli_error(ctx);
    }
    if (rc == 0) {
        out->dim = fx_shape_numel(&out->feat.shape);
        out->labels = malloc((size_t)(out->feat.n > 0 ? out->feat.n : 1) * sizeof *out->labels);
        if (!out->labels) {
            fprintf(stderr, "fxrun: out of memory\n");
            rc = 1;
        }
    }
    if (rc == 0)
        rc = labels_from_files(out->ds, out->feat.n, out->labels);
    if (rc != 0)
        cli_face_features_free(out);
    return rc;
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void cli_json_number(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.10g", v);
    else
        fputs("null", f);
}

int cli_write_text(fx_context *ctx, const char *path, const char *text, size_t size)
{
    if (!text) {
        fprintf(stderr, "fxrun: %s: out of memory formatting the output\n", path);
        return 1;
    }
    if (fx_file_write_atomic(ctx, path, text, size) != FX_OK)
        return cli_error(ctx);
    return 0;
}
