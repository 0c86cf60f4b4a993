/* cli/cmd_verify.c - `fxrun verify` (face verification on an LFW-style
 * pairs file: features from the checkpoint, cosine similarity, the k-fold
 * protocol, ROC, TAR at FAR, EER, AUC; a table, JSON and a ROC picture)
 * and `fxrun pairs` (a seeded, balanced, identity-disjoint pairs file).
 *
 * verify extracts features only for the images the pairs name: they are
 * linked into a temporary ImageFolder root (same identity/file names,
 * symbolic links to the originals; a --landmarks CSV is filtered to them),
 * which is removed afterwards. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/face_eval.h"

/* ---- the temporary root ------------------------------------------------- */

typedef struct image_tree {
    char dir[FX_PATH_MAX];
    char **rel;        /* sorted unique "identity/file" */
    int64_t n;
    char landmarks[FX_PATH_MAX + 32]; /* filtered CSV, "" = none */
} image_tree;

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int64_t find_rel(const image_tree *t, const char *rel)
{
    char *const *hit = bsearch(&rel, t->rel, (size_t)t->n, sizeof *t->rel, compare_strings);
    return hit ? hit - t->rel : -1;
}

static void tree_remove(image_tree *t)
{
    char path[FX_PATH_MAX * 2];
    if (t->dir[0]) {
        for (int64_t i = 0; i < t->n; i++) {
            snprintf(path, sizeof path, "%s/%s", t->dir, t->rel[i]);
            unlink(path);
        }
        for (int64_t i = 0; i < t->n; i++) {
            snprintf(path, sizeof path, "%s/%s", t->dir, t->rel[i]);
            char *slash = strrchr(path, '/');
            *slash = '\0';
            rmdir(path); /* fails harmlessly while the folder still holds links */
        }
        if (t->landmarks[0])
            unlink(t->landmarks);
        rmdir(t->dir);
    }
    for (int64_t i = 0; i < t->n; i++)
        free(t->rel[i]);
    free(t->rel);
    memset(t, 0, sizeof *t);
}

/* Keeps the header and the rows of `src` whose image is in the tree. */
static int filter_landmarks(const char *src, image_tree *t)
{
    FILE *in = fopen(src, "r");
    if (!in) {
        fprintf(stderr, "fxrun: --landmarks %s: cannot open: %s\n", src, strerror(errno));
        return 1;
    }
    snprintf(t->landmarks, sizeof t->landmarks, "%s/landmarks.csv", t->dir);
    FILE *out = fopen(t->landmarks, "w");
    if (!out) {
        fprintf(stderr, "fxrun: %s: cannot create: %s\n", t->landmarks, strerror(errno));
        fclose(in);
        t->landmarks[0] = '\0';
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    int first = 1;
    while (getline(&line, &cap, in) > 0) {
        char *comma = strchr(line, ',');
        if (!comma)
            continue;
        char key[FX_PATH_MAX];
        snprintf(key, sizeof key, "%.*s", (int)(comma - line), line);
        if ((first && !strcmp(key, "image")) || find_rel(t, key) >= 0)
            fputs(line, out);
        first = 0;
    }
    free(line);
    fclose(in);
    if (fclose(out) != 0) {
        fprintf(stderr, "fxrun: %s: write failed\n", t->landmarks);
        return 1;
    }
    return 0;
}

/* Resolves every pair's images under root and links them into a new
 * temporary folder. rel_of[2 i + s] receives the index of pair i's image s
 * in t->rel. */
static int tree_build(fx_context *ctx, const char *root, const char *pairs_path, const fx_pairs *p,
                      const char *landmarks, image_tree *t, int64_t *rel_of)
{
    memset(t, 0, sizeof *t);
    char **all = calloc((size_t)p->n * 2, sizeof *all);
    if (!all) {
        fprintf(stderr, "fxrun: out of memory\n");
        return 1;
    }
    int rc = 0;
    for (int64_t i = 0; i < p->n && rc == 0; i++)
        for (int s = 0; s < 2 && rc == 0; s++) {
            char path[FX_PATH_MAX * 3];
            if (fx_pairs_image_path(ctx, root, p->pair[i].name[s], p->pair[i].number[s], path, sizeof path) !=
                FX_OK) {
                fx_fail_prefix(ctx, FX_ERR_IO, "%s:%d", pairs_path, p->pair[i].line);
                rc = cli_error(ctx);
                break;
            }
            const char *base = strrchr(path, '/') + 1;
            size_t len = strlen(p->pair[i].name[s]) + strlen(base) + 2;
            all[2 * i + s] = malloc(len);
            if (!all[2 * i + s]) {
                fprintf(stderr, "fxrun: out of memory\n");
                rc = 1;
                break;
            }
            snprintf(all[2 * i + s], len, "%s/%s", p->pair[i].name[s], base);
        }
    if (rc == 0) {
        t->rel = malloc((size_t)p->n * 2 * sizeof *t->rel);
        if (!t->rel) {
            fprintf(stderr, "fxrun: out of memory\n");
            rc = 1;
        }
    }
    if (rc == 0) {
        memcpy(t->rel, all, (size_t)p->n * 2 * sizeof *t->rel);
        qsort(t->rel, (size_t)p->n * 2, sizeof *t->rel, compare_strings);
        for (int64_t i = 0; i < p->n * 2; i++) /* unique, keeping one copy of each string */
            if (t->n == 0 || strcmp(t->rel[t->n - 1], t->rel[i]) != 0)
                t->rel[t->n++] = t->rel[i];
        for (int64_t i = 0; i < p->n * 2; i++)
            rel_of[i] = find_rel(t, all[i]);
        /* Own exactly the unique strings: free the duplicates. */
        for (int64_t i = 0; i < p->n * 2; i++)
            if (t->rel[rel_of[i]] != all[i])
                free(all[i]);
        free(all);
        all = NULL;
    }
    if (all) {
        for (int64_t i = 0; i < p->n * 2; i++)
            free(all[i]);
        free(all);
        if (t->rel)
            free(t->rel);
        t->rel = NULL;
        return rc;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(t->dir, sizeof t->dir, "%s/fxverify.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(t->dir)) {
        fprintf(stderr, "fxrun: cannot create a temporary folder %s: %s (set TMPDIR)\n", t->dir, strerror(errno));
        t->dir[0] = '\0';
        return 1;
    }
    for (int64_t i = 0; i < t->n && rc == 0; i++) {
        char src[FX_PATH_MAX * 2], real[PATH_MAX], dst[FX_PATH_MAX * 2];
        snprintf(src, sizeof src, "%s/%s", root, t->rel[i]);
        snprintf(dst, sizeof dst, "%s/%s", t->dir, t->rel[i]);
        char *slash = strrchr(dst, '/');
        *slash = '\0';
        if (mkdir(dst, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "fxrun: cannot create %s: %s\n", dst, strerror(errno));
            rc = 1;
            break;
        }
        *slash = '/';
        if (!realpath(src, real) || symlink(real, dst) != 0) {
            fprintf(stderr, "fxrun: cannot link %s into %s: %s\n", src, t->dir, strerror(errno));
            rc = 1;
        }
    }
    if (rc == 0 && landmarks)
        rc = filter_landmarks(landmarks, t);
    return rc;
}

/* ---- the ROC picture ----------------------------------------------------- */

static int write_roc_png(fx_context *ctx, const char *path, const fx_verify_result *r, const char *title)
{
    const int W = 560, H = 570, left = 70, top = 60, side = 440;
    const fx_rgb white = { 255, 255, 255 }, black = { 0, 0, 0 }, grid = { 220, 220, 220 }, blue = { 31, 90, 180 },
                 red = { 200, 40, 40 }, grey = { 150, 150, 150 };
    fx_canvas *c = NULL;
    if (fx_canvas_create(ctx, W, H, white, &c) != FX_OK)
        return cli_error(ctx);
    fx_canvas_text(c, left, 12, title, 1, black);
    char line[160];
    snprintf(line, sizeof line, "accuracy %.2f%% ± %.2f%%   AUC %.4f   EER %.2f%%", 100 * r->accuracy_mean,
             100 * r->accuracy_std, r->auc, 100 * r->eer);
    fx_canvas_text(c, left, 30, line, 1, black);
    for (int k = 0; k <= 5; k++) {
        float v = k / 5.0f;
        float x = left + v * side, y = top + side - v * side;
        fx_canvas_line(c, x, (float)top, x, (float)(top + side), 1, grid);
        fx_canvas_line(c, (float)left, y, (float)(left + side), y, 1, grid);
        snprintf(line, sizeof line, "%.1f", v);
        fx_canvas_text(c, (int)x - 8, top + side + 6, line, 1, black);
        fx_canvas_text(c, left - 28, (int)y - 4, line, 1, black);
    }
    fx_canvas_line(c, (float)left, (float)(top + side), (float)(left + side), (float)top, 1, grey); /* chance */
    fx_canvas_stroke_rect(c, (fx_canvas_rect){ left, top, side + 1, side + 1 }, 1, black);
    for (int64_t i = 1; i < r->n_roc; i++)
        fx_canvas_line(c, left + (float)r->roc[i - 1].far * side, top + side - (float)r->roc[i - 1].tar * side,
                       left + (float)r->roc[i].far * side, top + side - (float)r->roc[i].tar * side, 2.5f, blue);
    if (isfinite(r->eer))
        fx_canvas_stroke_circle(c, left + (float)r->eer * side, top + side - (float)(1 - r->eer) * side, 5, 2, red);
    fx_canvas_text(c, left + side / 2 - 90, top + side + 24, "false accept rate (FAR)", 1, black);
    fx_canvas_text(c, 8, top - 16, "true accept rate (TAR)", 1, black);
    fx_canvas_text(c, left + side - 150, top + side - 20, "o equal error rate", 1, red);
    int rc = fx_canvas_write_png(ctx, c, path) == FX_OK ? 0 : cli_error(ctx);
    fx_canvas_destroy(c);
    return rc;
}

/* ---- verify ------------------------------------------------------------- */

static void print_table(const fx_verify_result *r, const fx_pairs *p)
{
    printf("  %4s %7s %10s %9s\n", "fold", "pairs", "threshold", "accuracy");
    for (int f = 0; f < r->folds; f++)
        printf("  %4d %7lld %10.4f %8.2f%%\n", f + 1, (long long)r->fold[f].pairs, r->fold[f].threshold,
               100 * r->fold[f].accuracy);
    if (r->folds > 1)
        printf("  accuracy      %.2f%% +- %.2f%% (mean +- std over %d folds; standard error %.2f%%)\n",
               100 * r->accuracy_mean, 100 * r->accuracy_std, r->folds, 100 * r->accuracy_sem);
    else
        printf("  accuracy      %.2f%% (one fold: threshold chosen on the same pairs, optimistic)\n",
               100 * r->accuracy_mean);
    for (int k = 0; k < 2; k++) {
        const fx_tar_at_far *t = &r->tar_at_far[k];
        printf("  TAR@FAR=%-5g %.2f%% (threshold %.4f, FAR %.2g)", t->far_target, 100 * t->tar, t->threshold,
               t->far);
        if (!t->resolved)
            printf("  [%lld mismatched pairs cannot resolve FAR %g: FAR 0 used]", (long long)r->mismatched,
                   t->far_target);
        printf("\n");
    }
    printf("  EER           %.2f%% (threshold %.4f)\n", 100 * r->eer, r->eer_threshold);
    printf("  AUC           %.4f\n", r->auc);
    (void)p;
}

static void write_json(FILE *f, const cli_options *o, const cli_face_features *ff, const fx_pairs *p,
                       const double *scores, const fx_verify_result *r)
{
    fprintf(f, "{\"command\":\"verify\",\"graph\":");
    cli_json_string(f, ff->cfg.path);
    fprintf(f, ",\"checkpoint\":");
    cli_json_string(f, ff->cfg.train.checkpoint);
    fprintf(f, ",\"pairs_file\":");
    cli_json_string(f, o->pairs);
    fprintf(f, ",\"images\":");
    cli_json_string(f, o->images);
    fprintf(f, ",\"feature\":");
    cli_json_string(f, ff->feat.name);
    fprintf(f, ",\"feature_size\":%lld,\"similarity\":\"cosine\",\"box\":", (long long)ff->dim);
    if (ff->cfg.data.box[2] > 0)
        fprintf(f, "[%d,%d,%d,%d]", ff->cfg.data.box[0], ff->cfg.data.box[1], ff->cfg.data.box[2],
                ff->cfg.data.box[3]);
    else
        fprintf(f, "null");
    fprintf(f, ",\"occlusion\":");
    if (ff->has_occlusion) {
        fprintf(f, "{\"x\":%d,\"y\":%d,\"width\":%d,\"height\":%d,\"frame\":%d,\"value\":", ff->occlusion.x,
                ff->occlusion.y, ff->occlusion.width, ff->occlusion.height, ff->occlusion.frame);
        cli_json_number(f, ff->occlusion.value);
        fprintf(f, "}");
    } else {
        fprintf(f, "null");
    }
    fprintf(f, ",\"images_used\":%lld,\"pairs\":%lld,\"matched\":%lld,\"mismatched\":%lld,\"folds\":%d,"
               "\"per_fold\":%d,\"accuracy_mean\":",
            (long long)ff->feat.n, (long long)r->pairs, (long long)r->matched, (long long)r->mismatched, r->folds,
            p->per_fold);
    cli_json_number(f, r->accuracy_mean);
    fprintf(f, ",\"accuracy_std\":");
    cli_json_number(f, r->accuracy_std);
    fprintf(f, ",\"accuracy_sem\":");
    cli_json_number(f, r->accuracy_sem);
    fprintf(f, ",\"best_threshold\":");
    cli_json_number(f, r->best_threshold);
    fprintf(f, ",\"best_accuracy\":");
    cli_json_number(f, r->best_accuracy);
    fprintf(f, ",\"per_fold\":[");
    for (int k = 0; k < r->folds; k++) {
        fprintf(f, "%s{\"fold\":%d,\"pairs\":%lld,\"threshold\":", k ? "," : "", k + 1, (long long)r->fold[k].pairs);
        cli_json_number(f, r->fold[k].threshold);
        fprintf(f, ",\"train_accuracy\":");
        cli_json_number(f, r->fold[k].train_accuracy);
        fprintf(f, ",\"accuracy\":");
        cli_json_number(f, r->fold[k].accuracy);
        fprintf(f, "}");
    }
    fprintf(f, "],\"tar_at_far\":[");
    for (int k = 0; k < 2; k++) {
        const fx_tar_at_far *t = &r->tar_at_far[k];
        fprintf(f, "%s{\"far_target\":", k ? "," : "");
        cli_json_number(f, t->far_target);
        fprintf(f, ",\"tar\":");
        cli_json_number(f, t->tar);
        fprintf(f, ",\"far\":");
        cli_json_number(f, t->far);
        fprintf(f, ",\"threshold\":");
        cli_json_number(f, t->threshold);
        fprintf(f, ",\"resolved\":%s}", t->resolved ? "true" : "false");
    }
    fprintf(f, "],\"eer\":");
    cli_json_number(f, r->eer);
    fprintf(f, ",\"eer_threshold\":");
    cli_json_number(f, r->eer_threshold);
    fprintf(f, ",\"auc\":");
    cli_json_number(f, r->auc);
    fprintf(f, ",\"roc\":[");
    for (int64_t i = 0; i < r->n_roc; i++) {
        fprintf(f, "%s[", i ? "," : "");
        cli_json_number(f, r->roc[i].far);
        fputc(',', f);
        cli_json_number(f, r->roc[i].tar);
        fputc(',', f);
        cli_json_number(f, r->roc[i].threshold);
        fputc(']', f);
    }
    fprintf(f, "],\"scores\":[");
    for (int64_t i = 0; i < p->n; i++) {
        fprintf(f, "%s{\"line\":%d,\"fold\":%d,\"matched\":%s,\"score\":", i ? "," : "", p->pair[i].line,
                p->pair[i].fold + 1, p->pair[i].matched ? "true" : "false");
        cli_json_number(f, scores[i]);
        fputc('}', f);
    }
    fprintf(f, "]}\n");
}

int cli_cmd_verify(fx_context *ctx, const cli_options *o)
{
    if (!o->pairs || !o->images) {
        fprintf(stderr, "fxrun: verify needs --pairs FILE (LFW pairs.txt format) and --images ROOT (the folder "
                        "holding ROOT/<name>/<images>); see fxrun --help\n");
        return 2;
    }
    fx_pairs p;
    if (fx_pairs_read(ctx, o->pairs, &p) != FX_OK)
        return cli_error(ctx);
    int64_t *rel_of = malloc((size_t)p.n * 2 * sizeof *rel_of);
    double *scores = malloc((size_t)p.n * sizeof *scores);
    int *matched = malloc((size_t)p.n * sizeof *matched), *fold = malloc((size_t)p.n * sizeof *fold);
    int64_t *row = NULL;
    if (!rel_of || !scores || !matched || !fold) {
        fprintf(stderr, "fxrun: out of memory\n");
        free(rel_of);
        free(scores);
        free(matched);
        free(fold);
        fx_pairs_free(&p);
        return 1;
    }
    image_tree tree;
    cli_face_features ff;
    memset(&ff, 0, sizeof ff);
    int have_ff = 0;
    int rc = tree_build(ctx, o->images, o->pairs, &p, o->landmarks, &tree, rel_of);
    if (rc == 0) {
        rc = cli_face_extract(ctx, o, tree.dir, tree.landmarks[0] ? tree.landmarks : NULL, &ff);
        have_ff = rc == 0;
    }
    /* Feature row of each unique image. */
    if (rc == 0) {
        row = malloc((size_t)tree.n * sizeof *row);
        if (!row) {
            fprintf(stderr, "fxrun: out of memory\n");
            rc = 1;
        }
        for (int64_t u = 0; row && u < tree.n; u++)
            row[u] = -1;
        size_t dl = strlen(tree.dir);
        for (int64_t i = 0; rc == 0 && i < ff.feat.n; i++) {
            const char *file = fx_dataset_file(ff.ds, i);
            int64_t u = file && strlen(file) > dl + 1 ? find_rel(&tree, file + dl + 1) : -1;
            if (u >= 0)
                row[u] = i;
        }
        for (int64_t u = 0; rc == 0 && u < tree.n; u++)
            if (row[u] < 0) {
                fprintf(stderr, "fxrun: %s/%s: the image was not loaded (is it a readable image?)\n", o->images,
                        tree.rel[u]);
                rc = 1;
            }
    }
    if (rc == 0) {
        for (int64_t i = 0; i < p.n; i++) {
            const float *a = ff.feat.data + row[rel_of[2 * i]] * ff.dim;
            const float *b = ff.feat.data + row[rel_of[2 * i + 1]] * ff.dim;
            scores[i] = fx_cosine_similarity(a, b, ff.dim);
            matched[i] = p.pair[i].matched;
            fold[i] = p.pair[i].fold;
        }
    }
    fx_verify_result r;
    memset(&r, 0, sizeof r);
    if (rc == 0 && fx_verify_evaluate(ctx, scores, matched, fold, p.n, p.folds, &r) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0 && o->verbose > 0) {
        printf("verification on %s: %lld pairs (%lld matched, %lld mismatched) of %lld images in %d fold%s\n",
               o->pairs, (long long)r.pairs, (long long)r.matched, (long long)r.mismatched, (long long)ff.feat.n,
               r.folds, r.folds == 1 ? "" : "s");
        printf("  feature '%s' (%lld values), cosine similarity, checkpoint %s\n", ff.feat.name, (long long)ff.dim,
               ff.cfg.train.checkpoint);
        if (ff.has_occlusion)
            printf("  occluded: a %dx%d window at (%d, %d) of the %dx%d mean face on both images of every pair\n",
                   ff.occlusion.width, ff.occlusion.height, ff.occlusion.x, ff.occlusion.y, ff.occlusion.frame,
                   ff.occlusion.frame);
        print_table(&r, &p);
    }
    if (rc == 0 && o->json) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        if (f) {
            write_json(f, o, &ff, &p, scores, &r);
            fclose(f);
        }
        rc = cli_write_text(ctx, o->json, f ? text : NULL, size);
        free(text);
    }
    if (rc == 0 && o->roc) {
        char title[FX_NAME_MAX + 80];
        snprintf(title, sizeof title, "ROC: %s, feature %s, %lld pairs%s", fx_graph_name(ff.g), ff.feat.name,
                 (long long)r.pairs, ff.has_occlusion ? ", occluded" : "");
        rc = write_roc_png(ctx, o->roc, &r, title);
    }
    fx_verify_result_free(&r);
    if (have_ff)
        cli_face_features_free(&ff);
    tree_remove(&tree);
    free(row);
    free(rel_of);
    free(scores);
    free(matched);
    free(fold);
    fx_pairs_free(&p);
    return rc;
}

/* ---- pairs -------------------------------------------------------------- */

int cli_cmd_pairs(fx_context *ctx, const cli_options *o)
{
    if (!o->output) {
        fprintf(stderr, "fxrun: pairs needs --output FILE (the pairs file to write)\n");
        return 2;
    }
    int folds = o->folds > 0 ? o->folds : 10, per_fold = o->per_fold > 0 ? o->per_fold : 300;
    uint64_t seed = o->has_seed ? o->seed : 1;
    char root[FX_PATH_MAX];
    const char **people = NULL;
    int n_people = 0;
    fx_dataset *ds = NULL;
    int rc = 0;
    if (o->images) {
        snprintf(root, sizeof root, "%s", o->images);
    } else {
        /* The graph's test images: with data.split, its held-out people. */
        fx_config cfg;
        if (fx_graph_load_yaml(ctx, o->graph_path, NULL, &cfg) != FX_OK)
            return cli_error(ctx);
        if (cfg.data.test.kind != FX_DATA_IMAGEFOLDER) {
            fprintf(stderr, "fxrun: %s: no data.test ImageFolder to draw pairs from; pass --images ROOT\n", cfg.path);
            return 1;
        }
        snprintf(root, sizeof root, "%s", cfg.data.test.root);
        cfg.data.test.landmarks[0] = '\0';
        if (fx_dataset_open(ctx, &cfg.data.test, &cfg.data, &ds) != FX_OK)
            return cli_error(ctx);
        n_people = fx_dataset_classes(ds);
        people = malloc((size_t)(n_people > 0 ? n_people : 1) * sizeof *people);
        if (!people) {
            fprintf(stderr, "fxrun: out of memory\n");
            rc = 1;
        }
        for (int c = 0; rc == 0 && c < n_people; c++)
            people[c] = fx_dataset_class_name(ds, c);
    }
    fx_pairs p;
    memset(&p, 0, sizeof p);
    if (rc == 0 && fx_pairs_generate(ctx, root, people, n_people, folds, per_fold, seed, &p) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0 && fx_pairs_write(ctx, o->output, &p) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0 && o->verbose > 0)
        printf("pairs: %d folds x (%d matched + %d mismatched) from %s%s, seed %llu -> %s\n", folds, per_fold,
               per_fold, root, people ? " (the graph's test identities)" : "", (unsigned long long)seed, o->output);
    fx_pairs_free(&p);
    free(people);
    fx_dataset_close(ds);
    return rc;
}
