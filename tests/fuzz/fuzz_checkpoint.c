/* tests/fuzz/fuzz_checkpoint.c - the checkpoint reader on any bytes,
 * loading into the small graph of checkpoint_net.yaml (planned once for
 * training, with an Adam optimiser, so parameters, optimiser state and
 * counters are all read). Seeds: checkpoints of that graph written by
 * tests/fuzz/run.sh. */
#include "fuzz_common.h"

#ifndef FX_FUZZ_SOURCE_DIR
#define FX_FUZZ_SOURCE_DIR "."
#endif

typedef struct net {
    fx_context *ctx;
    fx_graph *g;
    fx_config cfg;
    fx_optimizer *opt;
} net;

static net *the_net(void)
{
    static net n;
    if (!n.g) {
        n.ctx = fuzz_context();
        if (fx_graph_load_yaml(n.ctx, FX_FUZZ_SOURCE_DIR "/tests/fuzz/checkpoint_net.yaml", &n.g, &n.cfg) != FX_OK ||
            fx_graph_plan(n.g, 2, FX_MODE_TRAIN, fx_context_cpu_backend(n.ctx)) != FX_OK ||
            fx_optimizer_create(n.g, &n.cfg.train, &n.opt) != FX_OK) {
            fprintf(stderr, "fuzz_checkpoint: cannot set up the graph: %s\n", fx_context_error(n.ctx));
            abort();
        }
    }
    return &n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    net *n = the_net();
    char path[300];
    fuzz_write("in.fxck", data, size, path, sizeof path);
    fx_checkpoint_meta meta;
    fx_checkpoint_load(n->ctx, path, n->g, n->opt, &meta);
    fx_context_clear_error(n->ctx);
    return 0;
}
