/* tests/fuzz/fuzz_idx.c - the IDX data set reader (images and labels
 * files, plain or gzip) on any bytes: an input is split at "#--labels--"
 * into the images file and the labels file, opened as a data set, and
 * every example is read. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sep[] = "#--labels--";
    size_t cut = fuzz_split(data, size, sep);
    char images[300], labels[300];
    fuzz_write("images.idx", data, cut, images, sizeof images);
    size_t rest = cut + strlen(sep) <= size ? size - cut - strlen(sep) : 0;
    fuzz_write("labels.idx", data + size - rest, rest, labels, sizeof labels);
    fx_context *ctx = fuzz_context();
    fx_data_source src;
    memset(&src, 0, sizeof src);
    src.kind = FX_DATA_IDX;
    snprintf(src.images, sizeof src.images, "%s", images);
    snprintf(src.labels, sizeof src.labels, "%s", labels);
    fx_data_config dc;
    memset(&dc, 0, sizeof dc);
    dc.channels = 1;
    dc.workers = 1;
    fx_dataset *ds = NULL;
    if (fx_dataset_open(ctx, &src, &dc, &ds) == FX_OK) {
        /* Read (at most 4 batches of) the examples through a loader. */
        fx_shape ex = fx_dataset_example_shape(ds, &dc);
        int64_t per = fx_shape_numel(&ex);
        fx_loader_options lo = { .batch = 2, .seed = 1 };
        fx_loader *ld = NULL;
        float *pixels = per > 0 && per < (1 << 20) ? malloc((size_t)per * 2 * sizeof(float)) : NULL;
        int32_t classes[2];
        if (pixels && fx_loader_create(ctx, ds, &dc, &lo, &ld) == FX_OK && fx_loader_start_epoch(ld, 0) == FX_OK) {
            int count = 1;
            for (int i = 0; i < 4 && count > 0; i++)
                if (fx_loader_next(ld, pixels, classes, &count) != FX_OK)
                    break;
        }
        fx_loader_destroy(ld);
        free(pixels);
        fx_dataset_close(ds);
    }
    fx_context_destroy(ctx);
    return 0;
}
