/* tests/reliability.h - shared by the reliability tests (test_reliability.c,
 * test_fault_injection.c; header-only, as the test glob compiles only
 * test_*.c): a generated tiny IDX data set (so no download is needed),
 * a tiny convolutional graph that trains on it, and running fxrun under
 * `timeout` so that a hang fails the test instead of stalling it. */
#ifndef FX_TEST_RELIABILITY_H
#define FX_TEST_RELIABILITY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

#define REL_N 32      /* examples */
#define REL_SIDE 8    /* 8x8 grey images */
#define REL_CLASSES 3

/* Writes <dir>/img.idx and <dir>/lab.idx: REL_N seeded-random 8x8 images,
 * labels i % REL_CLASSES (so every class occurs). */
static inline void rel_write_idx(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/img.idx", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    unsigned char head[16] = { 0, 0, 8, 3, 0, 0, 0, REL_N, 0, 0, 0, REL_SIDE, 0, 0, 0, REL_SIDE };
    fwrite(head, 1, sizeof head, f);
    uint32_t x = 12345;
    for (int i = 0; i < REL_N * REL_SIDE * REL_SIDE; i++) {
        x = x * 1103515245u + 12345u;
        fputc((int)(x >> 24), f);
    }
    ck_assert_int_eq(fclose(f), 0);
    snprintf(path, sizeof path, "%s/lab.idx", dir);
    f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    unsigned char lhead[8] = { 0, 0, 8, 1, 0, 0, 0, REL_N };
    fwrite(lhead, 1, sizeof lhead, f);
    for (int i = 0; i < REL_N; i++)
        fputc(i % REL_CLASSES, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* The graph's first lines (conv, BN, relu, pool, linear; cross-entropy);
 * rel_write_config appends data: and train: blocks. */
#define REL_NET_YAML                                                                     \
    "name: rel\n"                                                                         \
    "input: {image: [1, 8, 8], label: []}\n"                                              \
    "layers:\n"                                                                           \
    "  - {name: c1, op: conv2d, in: image, out_channels: 4, kernel: 3, pad: 1}\n"         \
    "  - {name: b1, op: batchnorm}\n"                                                     \
    "  - {name: r1, op: relu}\n"                                                          \
    "  - {name: g, op: global_avgpool}\n"                                                 \
    "  - {name: logits, op: linear, out_features: 3}\n"                                   \
    "losses:\n"                                                                           \
    "  - {op: softmax_cross_entropy, in: [logits, label]}\n"

/* Writes <dir>/<name>: `layers_and_losses` (NULL: REL_NET_YAML) followed by
 * a data block on the IDX files and `train: {<train_items>}`. */
static inline void rel_write_config(const char *dir, const char *name, const char *layers_and_losses,
                                    const char *train_items)
{
    char path[600], text[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(text, sizeof text,
             "%s"
             "data:\n"
             "  train: {idx: {images: img.idx, labels: lab.idx}}\n"
             "train: {%s}\n",
             layers_and_losses ? layers_and_losses : REL_NET_YAML, train_items);
    fxtest_write_file(path, text);
}

/* Runs `fxrun <args>` in `dir` under a 60 s timeout; output into out.
 * Fails the test on a crash (signal) or a hang (timeout). */
static inline int rel_fxrun(const char *dir, const char *args, char *out, size_t size)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd '%s' && timeout -s KILL 60 %s %s", dir, fxtest_fxrun(), args);
    int rc = fxtest_run(cmd, out, size);
    ck_assert_msg(rc != 137 && rc != 124, "fxrun %s hung (killed after 60 s):\n%s", args, out);
    ck_assert_msg(rc < 128, "fxrun %s crashed (status %d):\n%s", args, rc, out);
    return rc;
}

#endif
