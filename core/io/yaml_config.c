/* core/io/yaml_config.c - the non-graph sections of a graph file: task,
 * backend, plugins, data and train, into fx_config; and fx_config_default.
 *
 * Every key is validated (unknown keys, types, ranges) with the position of
 * the offending text. A key written without a value (`lr:`) keeps its
 * default, the same as leaving it out. */
#include "core/io/yaml_loader.h"

#include <stdio.h>
#include <string.h>

void fx_config_default(fx_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->task, sizeof cfg->task, "train");
    snprintf(cfg->backend, sizeof cfg->backend, "cpu");

    fx_data_config *d = &cfg->data;
    d->channels = 1;
    d->resize = 0;
    d->size = 0;
    d->crop = FX_CROP_NONE;
    d->flip = 0;
    d->n_norm = 0;
    snprintf(d->image_input, sizeof d->image_input, "image");
    snprintf(d->label_input, sizeof d->label_input, "label");
    snprintf(d->landmarks_input, sizeof d->landmarks_input, "landmarks");
    d->workers = 2;

    fx_train_config *t = &cfg->train;
    snprintf(t->optimizer, sizeof t->optimizer, "adam");
    t->lr = 1e-3f;
    t->momentum = 0.9f;
    t->weight_decay = 0.0f;
    t->beta1 = 0.9f;
    t->beta2 = 0.999f;
    t->eps = 1e-8f;
    t->nesterov = 0;
    t->schedule = FX_SCHEDULE_CONSTANT;
    t->step_epochs = 10;
    t->gamma = 0.1f;
    t->min_lr = 0.0f;
    t->warmup_steps = 0;
    t->batch = 64;
    t->epochs = 1;
    t->max_steps = 0;
    t->seed = 1;
    t->checkpoint_every = 0;
    t->log_every = 50;
}

fx_status fx_yaml_config_set_path(fx_context *ctx, fx_config *cfg, const char *path)
{
    size_t len = strlen(path);
    if (len == 0)
        return fx_fail(ctx, FX_ERR_INVALID, "graph file: the path is empty; name a .yaml file");
    if (len >= sizeof cfg->path)
        return fx_fail(ctx, FX_ERR_INVALID, "%.64s...: the path is longer than %zu characters", path,
                       sizeof cfg->path - 1);
    memcpy(cfg->path, path, len + 1);
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(cfg->dir, sizeof cfg->dir, ".");
    else if (slash == path)
        snprintf(cfg->dir, sizeof cfg->dir, "/");
    else
        snprintf(cfg->dir, sizeof cfg->dir, "%.*s", (int)(slash - path), path);
    return FX_OK;
}

fx_status fx_yaml_read_path(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what, const char *dir,
                            char *out, size_t size)
{
    char raw[FX_PATH_MAX];
    fx_status st = fx_yaml_read_string(doc, node, what, raw, sizeof raw);
    if (st != FX_OK)
        return st;
    int n;
    if (raw[0] == '/' || strcmp(dir, ".") == 0)
        n = snprintf(out, size, "%s", raw);
    else if (dir[strlen(dir) - 1] == '/')
        n = snprintf(out, size, "%s%s", dir, raw);
    else
        n = snprintf(out, size, "%s/%s", dir, raw);
    if (n < 0 || (size_t)n >= size)
        return fx_yaml_fail(doc, node, FX_ERR_INVALID, "%s: the path (joined to '%s') is longer than %zu characters",
                            what, dir, size - 1);
    return FX_OK;
}

/* Small typed setters: read into a temporary, then narrow. A null or absent
 * node keeps the default. */
static fx_status set_int(const fx_yaml_doc *doc, const fx_yaml_node *map, const char *key, const char *section,
                         int64_t min, int64_t max, int64_t *out)
{
    const fx_yaml_node *v = fx_yaml_get(map, key);
    if (!v || fx_yaml_is_null(v))
        return FX_OK;
    char what[96];
    snprintf(what, sizeof what, "%s.%s", section, key);
    return fx_yaml_read_int(doc, v, what, min, max, out);
}

static fx_status set_small_int(const fx_yaml_doc *doc, const fx_yaml_node *map, const char *key,
                               const char *section, int64_t min, int64_t max, int *out)
{
    int64_t v = *out;
    fx_status st = set_int(doc, map, key, section, min, max, &v);
    if (st == FX_OK)
        *out = (int)v;
    return st;
}

static fx_status set_float(const fx_yaml_doc *doc, const fx_yaml_node *map, const char *key, const char *section,
                           double min, double max, int min_exclusive, float *out)
{
    const fx_yaml_node *v = fx_yaml_get(map, key);
    if (!v || fx_yaml_is_null(v))
        return FX_OK;
    char what[96];
    snprintf(what, sizeof what, "%s.%s", section, key);
    double d;
    fx_status st = fx_yaml_read_float(doc, v, what, min, max, &d);
    if (st != FX_OK)
        return st;
    if (min_exclusive && d <= min)
        return fx_yaml_fail(doc, v, FX_ERR_INVALID, "%s: must be greater than %g, got %s", what, min, v->text);
    *out = (float)d;
    return FX_OK;
}

static fx_status set_bool(const fx_yaml_doc *doc, const fx_yaml_node *map, const char *key, const char *section,
                          int *out)
{
    const fx_yaml_node *v = fx_yaml_get(map, key);
    if (!v || fx_yaml_is_null(v))
        return FX_OK;
    char what[96];
    snprintf(what, sizeof what, "%s.%s", section, key);
    return fx_yaml_read_bool(doc, v, what, out);
}

static fx_status set_string(const fx_yaml_doc *doc, const fx_yaml_node *map, const char *key,
                            const char *section, char *out, size_t size)
{
    const fx_yaml_node *v = fx_yaml_get(map, key);
    if (!v || fx_yaml_is_null(v))
        return FX_OK;
    char what[96];
    snprintf(what, sizeof what, "%s%s%s", section ? section : "", section ? "." : "", key);
    return fx_yaml_read_string(doc, v, what, out, size);
}

static fx_status set_enum(const fx_yaml_doc *doc, const fx_yaml_node *map, const char *key, const char *section,
                          const char *const *names, int *out)
{
    const fx_yaml_node *v = fx_yaml_get(map, key);
    if (!v || fx_yaml_is_null(v))
        return FX_OK;
    char what[96];
    snprintf(what, sizeof what, "%s%s%s", section ? section : "", section ? "." : "", key);
    return fx_yaml_read_enum(doc, v, what, names, out);
}

#define TRY(expr)                  \
    do {                           \
        fx_status st_ = (expr);    \
        if (st_ != FX_OK)          \
            return st_;            \
    } while (0)

static fx_status read_plugins(const fx_yaml_doc *doc, const fx_yaml_node *v, fx_config *cfg)
{
    if (!v || fx_yaml_is_null(v))
        return FX_OK;
    if (v->kind == FX_YAML_SCALAR) {
        /* `plugins: libfoo.so` is a list of one. */
        TRY(fx_yaml_read_path(doc, v, "plugins", cfg->dir, cfg->plugins[0], sizeof cfg->plugins[0]));
        cfg->n_plugins = 1;
        return FX_OK;
    }
    TRY(fx_yaml_expect_sequence(doc, v, "plugins"));
    if (v->n > FX_MAX_PLUGINS)
        return fx_yaml_fail(doc, v->items[FX_MAX_PLUGINS], FX_ERR_INVALID,
                            "plugins: %d plugins listed; at most %d are supported", v->n, FX_MAX_PLUGINS);
    for (int i = 0; i < v->n; i++) {
        char what[32];
        snprintf(what, sizeof what, "plugins[%d]", i);
        TRY(fx_yaml_read_path(doc, v->items[i], what, cfg->dir, cfg->plugins[i], sizeof cfg->plugins[i]));
    }
    cfg->n_plugins = v->n;
    return FX_OK;
}

static fx_status read_source(const fx_yaml_doc *doc, const fx_yaml_node *v, const char *section,
                             const char *dir, fx_data_source *src)
{
    if (!v || fx_yaml_is_null(v))
        return FX_OK;
    TRY(fx_yaml_expect_mapping(doc, v, section));
    static const char *const keys[] = {"idx", "imagefolder", "limit", "landmarks", "part", NULL};
    TRY(fx_yaml_check_keys(doc, v, section, keys, NULL));
    const fx_yaml_node *idx = fx_yaml_get(v, "idx"), *folder = fx_yaml_get(v, "imagefolder");
    if (idx && folder)
        return fx_yaml_fail(doc, v, FX_ERR_INVALID, "%s: both 'idx' and 'imagefolder' are given; keep one", section);
    char what[96];
    if (idx) {
        snprintf(what, sizeof what, "%s.idx", section);
        TRY(fx_yaml_expect_mapping(doc, idx, what));
        static const char *const idx_keys[] = {"images", "labels", NULL};
        TRY(fx_yaml_check_keys(doc, idx, what, idx_keys, NULL));
        for (int k = 0; k < 2; k++) {
            const char *key = idx_keys[k];
            const fx_yaml_node *p = fx_yaml_get(idx, key);
            snprintf(what, sizeof what, "%s.idx.%s", section, key);
            if (!p)
                return fx_yaml_fail(doc, idx, FX_ERR_INVALID,
                                    "%s.idx: missing key '%s'; write `idx: {images: train-images-idx3-ubyte.gz, "
                                    "labels: train-labels-idx1-ubyte.gz}`",
                                    section, key);
            TRY(fx_yaml_read_path(doc, p, what, dir, k == 0 ? src->images : src->labels, sizeof src->images));
        }
        src->kind = FX_DATA_IDX;
    } else if (folder) {
        snprintf(what, sizeof what, "%s.imagefolder", section);
        TRY(fx_yaml_read_path(doc, folder, what, dir, src->root, sizeof src->root));
        src->kind = FX_DATA_IMAGEFOLDER;
        const fx_yaml_node *lm = fx_yaml_get(v, "landmarks");
        if (lm && !fx_yaml_is_null(lm)) {
            snprintf(what, sizeof what, "%s.landmarks", section);
            TRY(fx_yaml_read_path(doc, lm, what, dir, src->landmarks, sizeof src->landmarks));
        }
        static const char *const parts[] = {"all", "kept", "held_out", NULL};
        int part = (int)src->part;
        TRY(set_enum(doc, v, "part", section, parts, &part));
        src->part = (fx_data_part)part;
    } else {
        return fx_yaml_fail(doc, v, FX_ERR_INVALID,
                            "%s: no data source; write `idx: {images: ..., labels: ...}` or `imagefolder: folder`",
                            section);
    }
    const char *only_folder[] = {"landmarks", "part"};
    for (int k = 0; k < 2; k++)
        if (idx && fx_yaml_get(v, only_folder[k]))
            return fx_yaml_fail(doc, fx_yaml_get(v, only_folder[k]), FX_ERR_INVALID,
                                "%s.%s: applies to `imagefolder` sources, not IDX files", section, only_folder[k]);
    return set_int(doc, v, "limit", section, 0, INT64_MAX, &src->limit);
}

/* data.box: [x, y, width, height] in source pixels. */
static fx_status read_box(const fx_yaml_doc *doc, const fx_yaml_node *v, fx_data_config *d)
{
    if (!v || fx_yaml_is_null(v))
        return FX_OK;
    if (v->kind != FX_YAML_SEQUENCE || v->n != 4)
        return fx_yaml_fail(doc, v, FX_ERR_INVALID,
                            "data.box: expected [x, y, width, height], e.g. `box: [65, 65, 120, 120]` for the "
                            "central 120x120 of a 250x250 image");
    static const char *const names[] = {"data.box x", "data.box y", "data.box width", "data.box height"};
    for (int k = 0; k < 4; k++) {
        int64_t val;
        TRY(fx_yaml_read_int(doc, v->items[k], names[k], k < 2 ? 0 : 1, 65536, &val));
        d->box[k] = (int)val;
    }
    return FX_OK;
}

/* data.split: {holdout: share of identities held out, seed}. */
static fx_status read_split(const fx_yaml_doc *doc, const fx_yaml_node *v, fx_data_config *d)
{
    if (!v || fx_yaml_is_null(v))
        return FX_OK;
    TRY(fx_yaml_expect_mapping(doc, v, "data.split"));
    static const char *const keys[] = {"holdout", "seed", NULL};
    TRY(fx_yaml_check_keys(doc, v, "data.split", keys, NULL));
    const fx_yaml_node *h = fx_yaml_get(v, "holdout");
    if (!h || fx_yaml_is_null(h))
        return fx_yaml_fail(doc, v, FX_ERR_INVALID,
                            "data.split: missing 'holdout'; write `split: {holdout: 0.2, seed: 1}` (the share of "
                            "identities held out)");
    double share;
    TRY(fx_yaml_read_float(doc, h, "data.split.holdout", 0, 1, &share));
    if (share <= 0 || share >= 1)
        return fx_yaml_fail(doc, h, FX_ERR_INVALID, "data.split.holdout: must be between 0 and 1 (exclusive), got %s",
                            h->text);
    d->split_holdout = (float)share;
    d->split_seed = 1;
    const fx_yaml_node *seed = fx_yaml_get(v, "seed");
    if (seed && !fx_yaml_is_null(seed))
        TRY(fx_yaml_read_uint64(doc, seed, "data.split.seed", &d->split_seed));
    return FX_OK;
}

static fx_status read_float_list(const fx_yaml_doc *doc, const fx_yaml_node *v, const char *what, float *out,
                                 int *n, int positive)
{
    const fx_yaml_node *one[1] = {v};
    const fx_yaml_node *const *items = one;
    int count = 1;
    if (v->kind == FX_YAML_SEQUENCE) {
        items = v->items;
        count = v->n;
        if (count < 1 || count > 3)
            return fx_yaml_fail(doc, v, FX_ERR_INVALID, "%s: expected 1 or 3 numbers (one per channel), got %d",
                                what, count);
    }
    for (int i = 0; i < count; i++) {
        double d;
        TRY(fx_yaml_read_float(doc, items[i], what, -1e6, 1e6, &d));
        if (positive && d <= 0)
            return fx_yaml_fail(doc, items[i], FX_ERR_INVALID, "%s: must be greater than 0, got %s", what,
                                items[i]->text);
        out[i] = (float)d;
    }
    *n = count;
    return FX_OK;
}

static fx_status read_data(const fx_yaml_doc *doc, const fx_yaml_node *v, fx_config *cfg)
{
    if (!v || fx_yaml_is_null(v))
        return FX_OK;
    TRY(fx_yaml_expect_mapping(doc, v, "data"));
    static const char *const keys[] = {"train", "test",  "channels", "resize", "size",    "crop",
                                       "flip",  "normalize", "image", "label",  "workers", "box",
                                       "split", "landmarks", "landmark_box", NULL};
    TRY(fx_yaml_check_keys(doc, v, "data", keys, NULL));
    fx_data_config *d = &cfg->data;
    TRY(read_source(doc, fx_yaml_get(v, "train"), "data.train", cfg->dir, &d->train));
    TRY(read_source(doc, fx_yaml_get(v, "test"), "data.test", cfg->dir, &d->test));
    TRY(read_box(doc, fx_yaml_get(v, "box"), d));
    TRY(read_split(doc, fx_yaml_get(v, "split"), d));
    TRY(set_float(doc, v, "landmark_box", "data", 0, 100, 0, &d->landmark_box));
    TRY(set_string(doc, v, "landmarks", "data", d->landmarks_input, sizeof d->landmarks_input));
    /* With a split, an ImageFolder source takes by default the kept
     * identities for training and the held-out ones for testing. */
    fx_data_source *srcs[2] = {&d->train, &d->test};
    const char *sections[2] = {"train", "test"};
    for (int k = 0; k < 2; k++) {
        const fx_yaml_node *sv = fx_yaml_get(v, sections[k]);
        const fx_yaml_node *part = sv && sv->kind == FX_YAML_MAPPING ? fx_yaml_get(sv, "part") : NULL;
        int part_given = part && !fx_yaml_is_null(part);
        if (d->split_holdout > 0 && srcs[k]->kind == FX_DATA_IDX)
            return fx_yaml_fail(doc, fx_yaml_get(v, "split"), FX_ERR_INVALID,
                                "data.split: splits the identities of an ImageFolder root, but data.%s is an IDX "
                                "source; remove the split or use imagefolder sources",
                                sections[k]);
        if (d->split_holdout > 0 && srcs[k]->kind == FX_DATA_IMAGEFOLDER && !part_given)
            srcs[k]->part = k == 0 ? FX_DATA_PART_KEPT : FX_DATA_PART_HELD_OUT;
        if (d->split_holdout == 0 && srcs[k]->part != FX_DATA_PART_ALL)
            return fx_yaml_fail(doc, part, FX_ERR_INVALID,
                                "data.%s.part: there is no data.split to take a part of; add `split: {holdout: "
                                "0.2, seed: 1}` under data",
                                sections[k]);
    }
    TRY(set_small_int(doc, v, "channels", "data", 1, 3, &d->channels));
    if (d->channels == 2)
        return fx_yaml_fail(doc, fx_yaml_get(v, "channels"), FX_ERR_INVALID,
                            "data.channels: expected 1 (grey) or 3 (RGB), got 2");
    /* The loader's limits (core/io/dataset.c, core/io/loader.c), so they are
     * refused here with their line:column. */
    TRY(set_small_int(doc, v, "resize", "data", 0, 4096, &d->resize));
    TRY(set_small_int(doc, v, "size", "data", 0, 4096, &d->size));
    if (d->resize > 0 && d->size > d->resize)
        return fx_yaml_fail(doc, fx_yaml_get(v, "size"), FX_ERR_INVALID,
                            "data.size %d is larger than data.resize %d; crops are cut from the resized image, so "
                            "use a size of at most %d",
                            d->size, d->resize, d->resize);
    static const char *const crops[] = {"none", "center", "random", NULL};
    int crop = (int)d->crop;
    TRY(set_enum(doc, v, "crop", "data", crops, &crop));
    d->crop = (fx_crop_mode)crop;
    TRY(set_bool(doc, v, "flip", "data", &d->flip));
    TRY(set_string(doc, v, "image", "data", d->image_input, sizeof d->image_input));
    TRY(set_string(doc, v, "label", "data", d->label_input, sizeof d->label_input));
    TRY(set_small_int(doc, v, "workers", "data", 1, 64, &d->workers));

    const fx_yaml_node *norm = fx_yaml_get(v, "normalize");
    if (norm && !fx_yaml_is_null(norm)) {
        TRY(fx_yaml_expect_mapping(doc, norm, "data.normalize"));
        static const char *const nkeys[] = {"mean", "std", NULL};
        TRY(fx_yaml_check_keys(doc, norm, "data.normalize", nkeys, NULL));
        const fx_yaml_node *mean = fx_yaml_get(norm, "mean"), *std = fx_yaml_get(norm, "std");
        if (!mean || !std || fx_yaml_is_null(mean) || fx_yaml_is_null(std))
            return fx_yaml_fail(doc, norm, FX_ERR_INVALID,
                                "data.normalize: needs both 'mean' and 'std'; write `normalize: {mean: [0.5], "
                                "std: [0.5]}`");
        int n_mean = 0, n_std = 0;
        TRY(read_float_list(doc, mean, "data.normalize.mean", d->mean, &n_mean, 0));
        TRY(read_float_list(doc, std, "data.normalize.std", d->std, &n_std, 1));
        if (n_mean != n_std)
            return fx_yaml_fail(doc, std, FX_ERR_INVALID,
                                "data.normalize: mean has %d values but std has %d; give both the same count", n_mean,
                                n_std);
        if (n_mean != 1 && n_mean != d->channels)
            return fx_yaml_fail(doc, mean, FX_ERR_INVALID,
                                "data.normalize: %d values for %d channel(s); give one value, or one per channel",
                                n_mean, d->channels);
        /* One value for all channels: stored per channel so consumers
         * never broadcast. */
        for (int c = n_mean; c < d->channels; c++) {
            d->mean[c] = d->mean[0];
            d->std[c] = d->std[0];
        }
        d->n_norm = d->channels;
    }
    return FX_OK;
}

static fx_status read_schedule(const fx_yaml_doc *doc, const fx_yaml_node *v, fx_train_config *t)
{
    static const char *const types[] = {"constant", "step", "cosine", NULL};
    if (!v || fx_yaml_is_null(v))
        return FX_OK;
    int type = (int)t->schedule;
    if (v->kind == FX_YAML_SCALAR) {
        /* `schedule: cosine` is short for `schedule: {type: cosine}`. */
        TRY(fx_yaml_read_enum(doc, v, "train.schedule", types, &type));
        t->schedule = (fx_schedule)type;
        return FX_OK;
    }
    TRY(fx_yaml_expect_mapping(doc, v, "train.schedule"));
    static const char *const keys[] = {"type", "step_epochs", "gamma", "min_lr", "warmup_steps", NULL};
    TRY(fx_yaml_check_keys(doc, v, "train.schedule", keys, NULL));
    TRY(set_enum(doc, v, "type", "train.schedule", types, &type));
    t->schedule = (fx_schedule)type;
    TRY(set_small_int(doc, v, "step_epochs", "train.schedule", 1, 1000000, &t->step_epochs));
    TRY(set_float(doc, v, "gamma", "train.schedule", 0, 1e6, 1, &t->gamma));
    TRY(set_float(doc, v, "min_lr", "train.schedule", 0, 1e3, 0, &t->min_lr));
    TRY(set_small_int(doc, v, "warmup_steps", "train.schedule", 0, 1000000000, &t->warmup_steps));
    return FX_OK;
}

static fx_status read_train(const fx_yaml_doc *doc, const fx_yaml_node *v, fx_config *cfg)
{
    if (!v || fx_yaml_is_null(v))
        return FX_OK;
    TRY(fx_yaml_expect_mapping(doc, v, "train"));
    static const char *const keys[] = {"optimizer", "lr",      "momentum",   "weight_decay", "beta1",
                                       "beta2",     "eps",     "nesterov",   "schedule",     "batch",
                                       "epochs",    "max_steps", "seed",     "checkpoint",   "checkpoint_every",
                                       "predict",   "log_every", "sync_bn", NULL};
    TRY(fx_yaml_check_keys(doc, v, "train", keys, NULL));
    fx_train_config *t = &cfg->train;
    /* Any registered optimiser (fx/optim.h): plugins are loaded after
     * this pass, so the name is checked against the registry when the
     * optimiser is created; here only its form. */
    const fx_yaml_node *opt = fx_yaml_get(v, "optimizer");
    if (opt && !fx_yaml_is_null(opt)) {
        char name[sizeof t->optimizer + 8];
        fx_status st = fx_yaml_read_string(doc, opt, "train.optimizer", name, sizeof name);
        int ok = st == FX_OK && strlen(name) < sizeof t->optimizer;
        for (const char *c = name; ok && *c; c++)
            ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-';
        if (!ok)
            return fx_yaml_fail(doc, opt, FX_ERR_INVALID,
                                "train.optimizer: expected the name of an optimiser (sgd, adam, or one a plugin "
                                "registers: 1 to %d characters of a-z, 0-9, '_', '-')",
                                (int)sizeof t->optimizer - 1);
        snprintf(t->optimizer, sizeof t->optimizer, "%s", name);
    }
    TRY(set_float(doc, v, "lr", "train", 0, 1e3, 1, &t->lr));
    TRY(set_float(doc, v, "momentum", "train", 0, 1, 0, &t->momentum));
    TRY(set_float(doc, v, "weight_decay", "train", 0, 1e3, 0, &t->weight_decay));
    TRY(set_float(doc, v, "beta1", "train", 0, 1, 0, &t->beta1));
    TRY(set_float(doc, v, "beta2", "train", 0, 1, 0, &t->beta2));
    const char *beta_keys[2] = {"beta1", "beta2"};
    float betas[2] = {t->beta1, t->beta2};
    for (int i = 0; i < 2; i++)
        if (betas[i] >= 1.0f)
            return fx_yaml_fail(doc, fx_yaml_get(v, beta_keys[i]), FX_ERR_INVALID,
                                "train.%s: must be below 1 (Adam divides by 1 - %s^t); e.g. 0.9", beta_keys[i],
                                beta_keys[i]);
    TRY(set_float(doc, v, "eps", "train", 0, 1, 1, &t->eps));
    TRY(set_bool(doc, v, "nesterov", "train", &t->nesterov));
    TRY(read_schedule(doc, fx_yaml_get(v, "schedule"), t));
    TRY(set_small_int(doc, v, "batch", "train", 1, 1 << 20, &t->batch));
    TRY(set_small_int(doc, v, "epochs", "train", 1, 1000000000, &t->epochs));
    TRY(set_int(doc, v, "max_steps", "train", 0, INT64_MAX, &t->max_steps));
    const fx_yaml_node *seed = fx_yaml_get(v, "seed");
    if (seed && !fx_yaml_is_null(seed))
        TRY(fx_yaml_read_uint64(doc, seed, "train.seed", &t->seed));
    const fx_yaml_node *ck = fx_yaml_get(v, "checkpoint");
    if (ck && !fx_yaml_is_null(ck))
        TRY(fx_yaml_read_path(doc, ck, "train.checkpoint", cfg->dir, t->checkpoint, sizeof t->checkpoint));
    TRY(set_int(doc, v, "checkpoint_every", "train", 0, INT64_MAX, &t->checkpoint_every));
    TRY(set_string(doc, v, "predict", "train", t->predict, sizeof t->predict));
    TRY(set_small_int(doc, v, "log_every", "train", 1, 1000000000, &t->log_every));
    TRY(set_bool(doc, v, "sync_bn", "train", &t->sync_bn));
    return FX_OK;
}

fx_status fx_yaml_read_config(const fx_yaml_doc *doc, const fx_yaml_node *root, fx_config *cfg)
{
    static const char *const tasks[] = {"train", "eval", "infer", NULL};
    const fx_yaml_node *task = fx_yaml_get(root, "task");
    if (task && !fx_yaml_is_null(task)) {
        int which = 0;
        TRY(fx_yaml_read_enum(doc, task, "task", tasks, &which));
        snprintf(cfg->task, sizeof cfg->task, "%s", tasks[which]);
    }
    TRY(set_string(doc, root, "backend", NULL, cfg->backend, sizeof cfg->backend));
    TRY(read_plugins(doc, fx_yaml_get(root, "plugins"), cfg));
    TRY(read_data(doc, fx_yaml_get(root, "data"), cfg));
    TRY(read_train(doc, fx_yaml_get(root, "train"), cfg));
    return FX_OK;
}
