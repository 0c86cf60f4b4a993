/* tests/fuzz/fuzz_landmarks.c - the landmarks CSV of an ImageFolder source
 * (core/io/data_landmarks.c) through fx_dataset_open, on a fixed tiny root of
 * three 6x5 grey PGM images (a/01.pgm, a/02.pgm, b/01.pgm) made once per
 * process. The first byte picks the configuration: odd opens with
 * data.resize 8 and data.landmark_box 1.5, so the points also drive the
 * crop around each face (the rest of the input is the CSV). */
#include <errno.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static char fuzz_root[300];

static void write_pgm(const char *dir, const char *name, int shade)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fprintf(f, "P5\n6 5\n255\n");
    for (int i = 0; i < 30; i++)
        fputc((i * 37 + shade) & 0xff, f);
    if (fclose(f) != 0)
        abort();
}

static const char *make_root(void)
{
    if (fuzz_root[0])
        return fuzz_root;
    char dir[400];
    snprintf(fuzz_root, sizeof fuzz_root, "%s/root", fuzz_folder());
    snprintf(dir, sizeof dir, "%s/a", fuzz_root);
    if ((mkdir(fuzz_root, 0755) != 0 && errno != EEXIST) || (mkdir(dir, 0755) != 0 && errno != EEXIST))
        abort();
    write_pgm(dir, "01.pgm", 0);
    write_pgm(dir, "02.pgm", 50);
    snprintf(dir, sizeof dir, "%s/b", fuzz_root);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        abort();
    write_pgm(dir, "01.pgm", 100);
    return fuzz_root;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *root = make_root();
    char csv[300];
    fuzz_write("landmarks.csv", data + 1, size - 1, csv, sizeof csv);
    fx_data_source src;
    memset(&src, 0, sizeof src);
    src.kind = FX_DATA_IMAGEFOLDER;
    snprintf(src.root, sizeof src.root, "%s", root);
    snprintf(src.landmarks, sizeof src.landmarks, "%s", csv);
    fx_data_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.channels = 1;
    cfg.workers = 1;
    if (data[0] & 1) {
        cfg.resize = 8;
        cfg.landmark_box = 1.5f;
    }
    fx_context *ctx = fuzz_context();
    fx_dataset *ds = NULL;
    if (fx_dataset_open(ctx, &src, &cfg, &ds) == FX_OK)
        fx_dataset_close(ds);
    fx_context_destroy(ctx);
    return 0;
}
