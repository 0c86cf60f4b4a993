/* cli/cmd_identify.c - `fxrun identify`: closed-set identification. The
 * first --gallery N images (default 1) of each identity form the gallery,
 * every other image is a probe ranked by cosine similarity
 * (fx_identify_evaluate); prints rank-1 and rank-5 and writes JSON with
 * the whole CMC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/face_eval.h"

int cli_cmd_identify(fx_context *ctx, const cli_options *o)
{
    int gallery = o->gallery > 0 ? o->gallery : 1;
    cli_face_features ff;
    if (cli_face_extract(ctx, o, NULL, NULL, &ff) != 0)
        return 1;
    fx_identify_result r;
    int rc = 0;
    if (fx_identify_evaluate(ctx, ff.feat.data, ff.dim, ff.labels, ff.feat.n, fx_dataset_classes(ff.ds), gallery,
                             &r) != FX_OK) {
        cli_face_features_free(&ff);
        return cli_error(ctx);
    }
    if (o->verbose > 0) {
        printf("identification on %s%s: feature '%s' (%lld values), checkpoint %s\n", ff.root,
               o->images ? "" : ff.cfg.data.test.kind != FX_DATA_NONE ? " (the graph's data.test)" : " (the graph's data.train)",
               ff.feat.name, (long long)ff.dim, ff.cfg.train.checkpoint);
        printf("  gallery     %lld images of %d identities (the first %d of each)\n", (long long)r.gallery,
               r.identities, gallery);
        printf("  probes      %lld images\n", (long long)r.probes);
        printf("  rank-1      %.2f%%\n", 100.0 * r.rank1);
        printf("  rank-5      %.2f%%%s\n", 100.0 * r.rank5, r.identities < 5 ? " (fewer than 5 identities)" : "");
    }
    if (o->json) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        if (f) {
            fprintf(f, "{\"command\":\"identify\",\"graph\":");
            cli_json_string(f, ff.cfg.path);
            fprintf(f, ",\"checkpoint\":");
            cli_json_string(f, ff.cfg.train.checkpoint);
            fprintf(f, ",\"images\":");
            cli_json_string(f, ff.root);
            fprintf(f, ",\"feature\":");
            cli_json_string(f, ff.feat.name);
            fprintf(f, ",\"feature_size\":%lld,\"gallery_per_identity\":%d,\"gallery\":%lld,\"probes\":%lld,"
                       "\"identities\":%d,\"rank1\":",
                    (long long)ff.dim, gallery, (long long)r.gallery, (long long)r.probes, r.identities);
            cli_json_number(f, r.rank1);
            fprintf(f, ",\"rank5\":");
            cli_json_number(f, r.rank5);
            fprintf(f, ",\"cmc\":[");
            for (int k = 0; k < r.max_rank; k++) {
                if (k)
                    fputc(',', f);
                cli_json_number(f, r.cmc[k]);
            }
            fprintf(f, "]}\n");
            fclose(f);
        }
        rc = cli_write_text(ctx, o->json, f ? text : NULL, size);
        free(text);
    }
    fx_identify_result_free(&r);
    cli_face_features_free(&ff);
    return rc;
}
