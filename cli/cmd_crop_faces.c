/* cli/cmd_crop_faces.c - `fxrun crop-faces`: aligned face crops and a
 * landmarks CSV from a dlib imglab XML file (fx/face_crop.h). Parses its
 * own options: it needs no graph, backend or plugin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "fx/face_crop.h"

static void crop_usage(FILE *f)
{
    fprintf(f,
"usage: fxrun crop-faces LANDMARKS.xml... --out DIR [--size N] [--padding P] [--identity NAME]\n"
"\n"
"Aligns every face of dlib imglab XML files that has 68 landmarks (<box>\n"
"with <part name='00'..'67'>; images relative to the XML file) to the mean\n"
"68-point face with a similarity transform, as dlib's face chips are, and\n"
"writes an ImageFolder root that fxrun reads directly:\n"
"  DIR/NAME/<image>_<k>.ppm   one aligned crop per face\n"
"  DIR/landmarks.csv          image,x1,y1,...,x68,y68 in crop pixels\n"
"\n"
"Options:\n"
"  --out DIR        output folder (created if missing)\n"
"  --size N         crop side in pixels (default 150)\n"
"  --padding P      space around the mean face, as a fraction of its size\n"
"                   (default 0.25, dlib's chips)\n"
"  --identity NAME  the folder of the crops under DIR (default faces)\n"
"\n"
"Example (dlib's example faces; tools/fetch-faces.sh fetches them):\n"
"  fxrun crop-faces faces/training_with_face_landmarks.xml --out faces68\n");
}

/* Returns -1 when the options are good, else the exit status. */
static int parse(int argc, char **argv, const char **xml, int *n_xml, const char **out, fx_face_crop_options *opt)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            crop_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--out") || !strcmp(a, "--size") || !strcmp(a, "--padding") || !strcmp(a, "--identity")) {
            if (!next) {
                fprintf(stderr, "fxrun crop-faces: %s needs a value (see --help)\n", a);
                return 2;
            }
            i++;
            char *end = NULL;
            if (!strcmp(a, "--out")) {
                *out = next;
            } else if (!strcmp(a, "--identity")) {
                opt->identity = next;
            } else if (!strcmp(a, "--size")) {
                long v = strtol(next, &end, 10);
                if (!*next || *end || v < 8 || v > 4096) {
                    fprintf(stderr, "fxrun crop-faces: --size expects an integer in [8, 4096], got '%s'\n", next);
                    return 2;
                }
                opt->size = (int)v;
            } else {
                double v = strtod(next, &end);
                if (!*next || *end || !(v > 0 && v <= 4)) {
                    fprintf(stderr, "fxrun crop-faces: --padding expects a number in (0, 4], got '%s'\n", next);
                    return 2;
                }
                opt->padding = (float)v;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "fxrun crop-faces: unknown option '%s' (see fxrun crop-faces --help)\n", a);
            return 2;
        } else {
            xml[(*n_xml)++] = a;
        }
    }
    if (!*n_xml || !*out) {
        fprintf(stderr, "fxrun crop-faces: %s (usage: fxrun crop-faces LANDMARKS.xml... --out DIR; see --help)\n",
                !*n_xml ? "no landmark XML file given" : "no --out folder given");
        return 2;
    }
    return -1;
}

int cli_cmd_crop_faces(int argc, char **argv)
{
    const char *out = NULL;
    fx_face_crop_options opt = { 150, 0.25f, "faces" };
    const char **xml = calloc((size_t)argc, sizeof *xml);
    int n_xml = 0;
    if (!xml) {
        fprintf(stderr, "fxrun crop-faces: out of memory\n");
        return 1;
    }
    int rc = parse(argc, argv, xml, &n_xml, &out, &opt);
    if (rc >= 0) {
        free(xml);
        return rc;
    }
    rc = 0;
    fx_context_options co = fx_context_options_default();
    fx_context *ctx = NULL;
    char err[1024];
    if (fx_context_create(&co, &ctx, err, sizeof err) != FX_OK) {
        fprintf(stderr, "fxrun: %s\n", err);
        free(xml);
        return 1;
    }
    int written = 0, skipped = 0;
    if (fx_face_crop_dlib_xml(ctx, xml, n_xml, out, &opt, &written, &skipped) != FX_OK)
        rc = cli_error(ctx);
    else
        printf("%d face%s cropped to %s/%s (%dx%d), landmarks in %s/landmarks.csv%s\n", written,
               written == 1 ? "" : "s", out, opt.identity, opt.size, opt.size, out,
               skipped ? "; boxes without 68 landmarks skipped" : "");
    fx_context_destroy(ctx);
    free(xml);
    return rc;
}
