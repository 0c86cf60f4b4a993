/* tests/small_fmnist.h - the small Fashion-MNIST training fixture shared
 * by test_train.c and test_opencl_training.c (header-only: the test glob
 * compiles only test_*.c and support/): the data set's path, the network
 * both train, and the loss curve of a metrics file. */
#ifndef FX_TEST_SMALL_FMNIST_H
#define FX_TEST_SMALL_FMNIST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fxtest.h"

/* Debian's dataset-fashion-mnist. */
#define FMNIST "/usr/share/datasets/fashion-mnist"

/* Conv, batchnorm, relu, maxpool, stride-2 SAME conv, elu, global average
 * pool, linear; softmax cross-entropy. A YAML graph file's first keys (a
 * string literal without '%', so it may start a printf format). */
#define SMALL_FMNIST_NET_YAML                                                                 \
    "name: small-fmnist\n"                                                                    \
    "input: {image: [1, 28, 28], label: []}\n"                                                \
    "layers:\n"                                                                               \
    "  - {name: c1, op: conv2d, in: image, out_channels: 8, kernel: 3, pad: 1}\n"             \
    "  - {name: b1, op: batchnorm}\n"                                                         \
    "  - {name: r1, op: relu}\n"                                                              \
    "  - {name: p1, op: maxpool2d, kernel: 2}\n"                                              \
    "  - {name: c2, op: conv2d, out_channels: 16, kernel: 3, stride: 2, padding: same}\n"     \
    "  - {name: r2, op: elu}\n"                                                               \
    "  - {name: g, op: global_avgpool}\n"                                                     \
    "  - {name: logits, op: linear, out_features: 10}\n"                                      \
    "losses:\n"                                                                               \
    "  - {op: softmax_cross_entropy, in: [logits, label]}\n"

static inline int small_fmnist_have_data(void)
{
    return access(FMNIST "/train-images-idx3-ubyte.gz", R_OK) == 0;
}

/* Reads the "loss" of every train event of a metrics file (at most max). */
static inline int small_fmnist_read_losses(const char *path, double *losses, int max)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no metrics file %s", path);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        if (!strstr(line, "\"event\":\"train\""))
            continue;
        const char *p = strstr(line, "\"loss\":");
        ck_assert_ptr_nonnull(p);
        losses[n++] = atof(p + 7);
    }
    fclose(f);
    return n;
}

#endif
