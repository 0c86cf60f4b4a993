/* fx/config.h - what a YAML graph file holds besides the graph: the data
 * and training settings, the default task, plugins. Filled by
 * fx_graph_load_yaml (core/yaml_*.c); documented in docs/graph-format.md. */
#ifndef FX_CONFIG_H
#define FX_CONFIG_H

#include <stdint.h>
#include "fx/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FX_PATH_MAX 1024
#define FX_MAX_PLUGINS 16

typedef enum fx_data_kind { FX_DATA_NONE = 0, FX_DATA_IDX, FX_DATA_IMAGEFOLDER } fx_data_kind;

/* Which identities of an ImageFolder root a source takes when data.split
 * is set (docs/data.md "Identity-disjoint split"). */
typedef enum fx_data_part { FX_DATA_PART_ALL = 0, FX_DATA_PART_KEPT, FX_DATA_PART_HELD_OUT } fx_data_part;

typedef struct fx_data_source {
    fx_data_kind kind;
    char images[FX_PATH_MAX]; /* IDX images file (may be .gz) */
    char labels[FX_PATH_MAX]; /* IDX labels file (may be .gz) */
    char root[FX_PATH_MAX];   /* ImageFolder root: root/<class>/<image> */
    int64_t limit;            /* use only the first `limit` examples; 0 = all */
    char landmarks[FX_PATH_MAX]; /* CSV 'image,x1,y1,...' (image path relative to the root); "" = none.
                                  * YAML: train: {imagefolder: ROOT, landmarks: FILE} */
    fx_data_part part;        /* with data.split: the identities taken (YAML `part`; default kept
                               * for train, held_out for test); without a split: ALL */
} fx_data_source;

typedef enum fx_crop_mode { FX_CROP_NONE = 0, FX_CROP_CENTER, FX_CROP_RANDOM } fx_crop_mode;

typedef struct fx_data_config {
    fx_data_source train, test;
    int channels;           /* 1 (grey) or 3 (RGB); images are converted */
    int resize;             /* resize to resize x resize first; 0 = keep */
    int size;               /* final size x size after cropping; 0 = keep */
    fx_crop_mode crop;      /* training crop; evaluation always centre-crops */
    int flip;               /* random horizontal flip in training */
    int n_norm;             /* 0: x/255; else per channel (x/255 - mean)/std */
    float mean[3], std[3];
    char image_input[FX_NAME_MAX]; /* graph input fed with images ("image") */
    char label_input[FX_NAME_MAX]; /* graph input fed with labels ("label") */
    int workers;            /* background loader threads (>= 1) */
    int box[4];             /* x, y, w, h cut from each decoded image before the resize; w == 0: none.
                             * YAML data.box: [x, y, w, h] */
    float landmark_box;     /* > 0: cut a square around each image's landmarks (side = landmark_box x the
                             * larger side of their bounding box, clipped to the image) before the
                             * resize; 0: none. YAML data.landmark_box */
    float split_holdout;    /* data.split.holdout: share of identities held out, (0, 1); 0 = no split */
    uint64_t split_seed;    /* data.split.seed */
    char landmarks_input[FX_NAME_MAX]; /* graph input fed with landmarks [N, P, 2] when the graph
                                        * declares it ("landmarks") */
} fx_data_config;

typedef enum fx_schedule { FX_SCHEDULE_CONSTANT = 0, FX_SCHEDULE_STEP, FX_SCHEDULE_COSINE } fx_schedule;

typedef struct fx_train_config {
    char optimizer[16];     /* "sgd" | "adam" */
    float lr, momentum, weight_decay, beta1, beta2, eps;
    int nesterov;
    fx_schedule schedule;
    int step_epochs;        /* step schedule: multiply by gamma every step_epochs */
    float gamma;
    float min_lr;           /* cosine floor */
    int warmup_steps;       /* linear warm-up from 0 */
    int batch;
    int epochs;
    int64_t max_steps;      /* stop after this many steps; 0 = epochs decide */
    uint64_t seed;
    char checkpoint[FX_PATH_MAX]; /* path; "" = none. Relative to the YAML file */
    int64_t checkpoint_every;     /* steps; 0 = at the end of each epoch */
    char predict[FX_NAME_MAX];    /* value whose argmax is the predicted class */
    int log_every;                /* steps between metric lines */
    int sync_bn;                  /* data parallel: BatchNorm uses the global batch's statistics */
} fx_train_config;

typedef struct fx_config {
    char path[FX_PATH_MAX];  /* the YAML file */
    char dir[FX_PATH_MAX];   /* its folder: relative paths resolve against it */
    char task[16];           /* default task: "train" (default), "eval", "infer" */
    char backend[64];        /* default backend ("cpu") */
    fx_data_config data;
    fx_train_config train;
    int n_plugins;
    char plugins[FX_MAX_PLUGINS][FX_PATH_MAX];
} fx_config;

/* Defaults for every field (documented in docs/graph-format.md). */
void fx_config_default(fx_config *cfg);

/* Loads a graph file: builds *graph (checked for batch 1) and fills *cfg.
 * Errors name file:line:col. On failure *graph is NULL. */
fx_status fx_graph_load_yaml(fx_context *ctx, const char *path, fx_graph **graph, fx_config *cfg);

/* The value whose argmax is the predicted class: train.predict, else the
 * first input of the graph's first softmax_cross_entropy loss (the class
 * scores); NULL when there is none. The one rule for this default
 * (core/io/graph_data.c): the loader, training, evaluation and feature
 * extraction all ask it. */
const char *fx_config_predict_name(const fx_graph *g, const fx_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
