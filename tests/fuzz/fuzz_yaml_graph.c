/* tests/fuzz/fuzz_yaml_graph.c - the YAML graph loader (parse, blocks,
 * anchors, include:, op attributes, shape inference) on any bytes. An
 * input is split at a line "#--include--": the first part is main.yaml,
 * the second blocks.yaml, which main.yaml may include. Must never crash,
 * hang or leak; errors are fine. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n#--include--\n";
    size_t cut = fuzz_split(data, size, sep);
    char main_path[300], inc_path[300];
    fuzz_write("main.yaml", data, cut, main_path, sizeof main_path);
    size_t rest = cut + strlen(sep) <= size ? size - cut - strlen(sep) : 0;
    fuzz_write("blocks.yaml", data + size - rest, rest, inc_path, sizeof inc_path);
    fx_context *ctx = fuzz_context();
    fx_graph *g = NULL;
    fx_config cfg;
    if (fx_graph_load_yaml(ctx, main_path, &g, &cfg) == FX_OK) {
        /* A loaded graph must also plan (or refuse) for a small batch. */
        fx_graph_plan(g, 1, FX_MODE_INFER, fx_context_cpu_backend(ctx));
        fx_graph_destroy(g);
    }
    fx_context_destroy(ctx);
    return 0;
}
