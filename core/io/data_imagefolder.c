/* core/io/data_imagefolder.c - ImageFolder data sets: root/<class>/<image>.
 *
 * Classes are the sub-folders of root in byte order (strcmp, as Python's
 * sorted()), their index is the label; the images of each class are its
 * files with an image extension (.png .jpg .jpeg .pgm .ppm .pnm, any case)
 * in byte order. Hidden entries (leading '.') and plain files at the root
 * (README, CSV) are skipped; an empty class folder still counts as a class
 * so labels do not shift when one is emptied.
 *
 * Decoding: everything is decoded once at open, in parallel on
 * max(1, cfg->workers) threads, unless the decoded pixels would exceed the
 * cache limit (dataset.h); then the loader decodes lazily. Without
 * cfg->resize every image must have the size of the first one. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/io/dataset.h"

typedef struct name_list {
    char **names;
    size_t n, cap;
} name_list;

static void name_list_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static int name_list_add(name_list *l, const char *name)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 64;
        char **grown = realloc(l->names, ncap * sizeof(char *));
        if (!grown)
            return -1;
        l->names = grown;
        l->cap = ncap;
    }
    if (!(l->names[l->n] = strdup(name)))
        return -1;
    l->n++;
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_image_extension(const char *name)
{
    static const char *const exts[] = {".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".pnm"};
    const char *dot = strrchr(name, '.');
    if (!dot)
        return 0;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(dot, exts[i]) == 0)
            return 1;
    return 0;
}

/* Lists the entries of `dir` that are folders (want_dirs) or image files,
 * sorted. Follows symbolic links. */
static fx_status list_entries(fx_context *ctx, const char *dir, int want_dirs, name_list *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot open folder: %s%s", dir, strerror(errno),
                       want_dirs ? "; an ImageFolder root holds one sub-folder per class" : "");
    struct dirent *e;
    char path[2 * FX_PATH_MAX];
    fx_status st = FX_OK;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (!want_dirs && !has_image_extension(e->d_name))
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof path) {
            st = fx_fail(ctx, FX_ERR_INVALID, "%s/%s: path too long", dir, e->d_name);
            break;
        }
        struct stat sb;
        if (stat(path, &sb) != 0)
            continue; /* dangling link: not an entry we can use */
        if (want_dirs ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode))
            continue;
        if (name_list_add(out, e->d_name) != 0) {
            st = fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory listing the folder", dir);
            break;
        }
    }
    closedir(d);
    if (st != FX_OK) {
        name_list_free(out);
        return st;
    }
    if (out->n > 1)
        qsort(out->names, out->n, sizeof(char *), compare_names);
    return FX_OK;
}

/* ---- parallel decode at open --------------------------------------------- */

typedef struct decode_job {
    fx_dataset *ds;
    int check_size;        /* no resize: images must be ds->height x ds->width */
    atomic_llong next;     /* next example to decode */
} decode_job;

typedef struct decode_worker {
    decode_job *job;
    pthread_t thread;
    int64_t failed_at;     /* first failing example of this thread, or -1 */
    fx_status status;
    char error[FX_DATA_ERROR_MAX];
} decode_worker;

static fx_status decode_one(fx_dataset *ds, int64_t i, int check_size, char *err, size_t err_size)
{
    int region[4];
    fx_status st = fx_dataset_decode_example(ds, i, check_size, ds->pixels + (size_t)i * fx_dataset_example_bytes(ds),
                                             region, err, err_size);
    if (st == FX_OK && ds->source_box)
        for (int k = 0; k < 4; k++)
            ds->source_box[4 * i + k] = region[k];
    return st;
}

/* Indices are handed out in increasing order and a thread stops at its
 * first failure, so every index below the smallest failing one has been
 * decoded: the error reported is the first bad file, whatever the timing. */
static void *decode_worker_main(void *arg)
{
    decode_worker *w = arg;
    for (;;) {
        int64_t i = atomic_fetch_add(&w->job->next, 1);
        if (i >= w->job->ds->n)
            break;
        fx_status st = decode_one(w->job->ds, i, w->job->check_size, w->error, sizeof w->error);
        if (st != FX_OK) {
            w->status = st;
            w->failed_at = i;
            break;
        }
    }
    return NULL;
}

static fx_status decode_all(fx_context *ctx, fx_dataset *ds, int check_size, int threads)
{
    if (threads > 64)
        threads = 64;
    if (threads > ds->n)
        threads = (int)ds->n;
    if (threads < 1)
        threads = 1;
    decode_job job = {ds, check_size, 0};
    atomic_init(&job.next, 0);
    decode_worker *workers = fx_calloc(ctx, (size_t)threads, sizeof *workers, "decode threads");
    if (!workers)
        return FX_ERR_NOMEM;
    int started = 0;
    for (int t = 0; t < threads; t++) {
        workers[t].job = &job;
        workers[t].failed_at = -1;
        /* Thread 0 is this thread; others are extra. */
        if (t > 0 && pthread_create(&workers[t].thread, NULL, decode_worker_main, &workers[t]) != 0)
            break;
        started++;
    }
    decode_worker_main(&workers[0]);
    for (int t = 1; t < started; t++)
        pthread_join(workers[t].thread, NULL);
    fx_status st = FX_OK;
    int64_t first = -1;
    int worst = -1;
    for (int t = 0; t < started; t++)
        if (workers[t].failed_at >= 0 && (first < 0 || workers[t].failed_at < first)) {
            first = workers[t].failed_at;
            worst = t;
        }
    if (worst >= 0)
        st = fx_fail(ctx, workers[worst].status, "%s", workers[worst].error);
    free(workers);
    return st;
}

/* ---- open ---------------------------------------------------------------- */

fx_status fx_data_imagefolder_open(fx_context *ctx, const fx_data_source *src, const fx_data_config *cfg,
                                   fx_dataset *ds)
{
    if (!src->root[0])
        return fx_fail(ctx, FX_ERR_INVALID, "ImageFolder data needs a root folder (root/<class>/<image>)");
    snprintf(ds->source, sizeof ds->source, "%s", src->root);
    name_list classes = {0};
    fx_status st = list_entries(ctx, src->root, 1, &classes);
    if (st != FX_OK)
        return st;
    if (classes.n == 0) {
        name_list_free(&classes);
        return fx_fail(ctx, FX_ERR_INVALID,
                       "%s: no class folders; an ImageFolder root holds one sub-folder per class "
                       "with the images inside",
                       src->root);
    }
    if (classes.n > 1000000) {
        name_list_free(&classes);
        return fx_fail(ctx, FX_ERR_INVALID, "%s: too many class folders", src->root);
    }
    if (src->part != FX_DATA_PART_ALL) {
        /* data.split: keep the classes of this part, renumbered in order. */
        unsigned char *keep = fx_calloc(ctx, classes.n, 1, "split");
        if (!keep) {
            name_list_free(&classes);
            return FX_ERR_NOMEM;
        }
        st = fx_data_split_classes(ctx, src->root, classes.names, (int)classes.n, cfg->split_holdout,
                                   cfg->split_seed, src->part, keep);
        size_t kept = 0;
        for (size_t c = 0; c < classes.n; c++) {
            if (st == FX_OK && keep[c])
                classes.names[kept++] = classes.names[c];
            else
                free(classes.names[c]);
        }
        classes.n = kept;
        free(keep);
        if (st != FX_OK) {
            name_list_free(&classes);
            return st;
        }
    }
    ds->n_classes = (int)classes.n;
    ds->class_names = classes.names; /* ownership moves to ds */
    classes.names = NULL;

    /* Collect the files of every class (sorted), up to the limit. */
    size_t cap = 0;
    int64_t limit = src->limit > 0 ? src->limit : INT64_MAX;
    char path[3 * FX_PATH_MAX];
    for (int c = 0; c < ds->n_classes && ds->n < limit; c++) {
        snprintf(path, sizeof path, "%s/%s", src->root, ds->class_names[c]);
        name_list files = {0};
        if ((st = list_entries(ctx, path, 0, &files)) != FX_OK)
            return st;
        for (size_t k = 0; k < files.n && ds->n < limit; k++) {
            if ((size_t)ds->n == cap) {
                size_t ncap = cap ? 2 * cap : 256;
                char **grown = realloc(ds->files, ncap * sizeof(char *));
                int32_t *glabels = grown ? realloc(ds->labels, ncap * sizeof(int32_t)) : NULL;
                if (grown)
                    ds->files = grown;
                if (glabels)
                    ds->labels = glabels;
                if (!grown || !glabels) {
                    name_list_free(&files);
                    return fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory listing images", src->root);
                }
                cap = ncap;
            }
            size_t len = strlen(path) + 1 + strlen(files.names[k]) + 1;
            char *full = malloc(len);
            if (!full) {
                name_list_free(&files);
                return fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory listing images", src->root);
            }
            snprintf(full, len, "%s/%s", path, files.names[k]);
            ds->files[ds->n] = full;
            ds->labels[ds->n] = c;
            ds->n++;
        }
        name_list_free(&files);
    }
    if (ds->n == 0)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "%s: no images in its %d class folders (fx reads .png .jpg .jpeg .pgm .ppm .pnm)",
                       src->root, ds->n_classes);

    if (src->landmarks[0] && (st = fx_data_landmarks_read(ctx, src, ds)) != FX_OK)
        return st;

    /* Geometry: channels from the config (default RGB); size from resize,
     * else the box, else the first image. */
    ds->channels = cfg->channels ? cfg->channels : 3;
    memcpy(ds->box, cfg->box, sizeof ds->box);
    ds->landmark_box = cfg->landmark_box;
    char err[FX_DATA_ERROR_MAX];
    if (cfg->resize) {
        ds->height = ds->width = cfg->resize;
    } else if (cfg->box[2]) {
        ds->width = cfg->box[2];
        ds->height = cfg->box[3];
    } else {
        fx_image_u8 first;
        if ((st = fx_image_decode_file(ds->files[0], &first, err, sizeof err)) != FX_OK)
            return fx_fail(ctx, st, "%s", err);
        ds->height = first.height;
        ds->width = first.width;
        fx_image_free(&first);
    }

    size_t bytes = (size_t)ds->n * fx_dataset_example_bytes(ds);
    /* With a box and no resize every image yields box-sized pixels. */
    int same_size_needed = cfg->resize == 0 && cfg->box[2] == 0;
    size_t cache_limit = 0;
    if ((st = fx_dataset_cache_limit(ctx, &cache_limit)) != FX_OK)
        return st;
    if (bytes > cache_limit) {
        ds->resize_on_load = !same_size_needed;
        return FX_OK; /* lazy: the loader decodes each example when needed */
    }
    ds->pixels = fx_malloc(ctx, bytes ? bytes : 1, "decoded images");
    if (!ds->pixels)
        return FX_ERR_NOMEM;
    if (ds->n_points > 0) {
        ds->source_box = fx_malloc(ctx, (size_t)ds->n * 4 * sizeof(int32_t), "image regions");
        if (!ds->source_box)
            return FX_ERR_NOMEM;
    }
    return decode_all(ctx, ds, same_size_needed, cfg->workers);
}
