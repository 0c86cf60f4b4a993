/* cli/fxrun.c - `fxrun`: runs YAML graphs (train, eval, infer, run) and
 * reports devices, ops and plugins. Parses the command line, loads the
 * --plugin plugins and dispatches. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: fxrun [TASK] GRAPH.yaml [options]\n"
"       fxrun devices | ops | plugins [GRAPH.yaml] | --help | --version\n"
"\n"
"Runs a network described in a YAML graph file (docs/graph-format.md).\n"
"\n"
"Tasks (default: the file's `task:`, else train):\n"
"  train    train on data.train; evaluate on data.test after each epoch;\n"
"           checkpoint to train.checkpoint\n"
"  eval     load train.checkpoint and report accuracy and loss on data.test\n"
"  infer    load train.checkpoint and predict: with --feed/--fetch on .npy\n"
"           tensors, or over data.test writing index,label,predicted (--output)\n"
"  run      evaluate the graph on tensors fed from .npy files; write outputs\n"
"           and gradients of the total weighted loss (checks an op against\n"
"           PyTorch)\n"
"  init     write an untrained (seeded) checkpoint of the graph\n"
"  export   write the checkpoint's weights (--weights FILE.safetensors or\n"
"           FOLDER/ of .npy files; --map FILE renames, docs/interop.md) or\n"
"           the inference graph as ONNX (--onnx FILE [--feature NAME])\n"
"  import   read weights (--weights, --map) into the graph's checkpoint;\n"
"           every name, shape and dtype must match, else nothing is written\n"
"  explain  what the filters of a layer learned (GRAPH.yaml --images DIR): peak\n"
"           locations per filter, their deviation and spread, heat maps and\n"
"           the feature change under occlusion; explain.json, PNG pictures\n"
"           and explain.html in --out (docs/interpretability.md)\n"
"  features write one feature vector per image of --images ROOT (or the\n"
"           graph's data.test) from the checkpoint: --output F.npy and F.txt\n"
"           (index, file, identity); --feature NAME, --box X,Y,W,H\n"
"  verify   face verification on an LFW pairs file (--pairs, --images):\n"
"           cosine similarity of features, 10-fold accuracy (threshold from\n"
"           the other folds), TAR at FAR 1e-2/1e-3, EER, AUC; --json, --roc\n"
"           F.png, --occlude [--occlude-at X,Y] (docs/verification.md)\n"
"  identify closed-set identification: the first --gallery N images (1) of\n"
"           each identity are the gallery, the rest probes; rank-1, rank-5\n"
"  pairs    write a seeded, balanced pairs file (--output; --images ROOT or\n"
"           the graph's data.test people; --folds 10 --per-fold 300 --seed S)\n"
"  bench    time training steps (forward + backward + update) on random\n"
"           data: median ms/step, planned memory (peak activations and\n"
"           gradients, parameters, optimiser state, workspace) and peak RSS,\n"
"           per-layer times (--steps N, --batch N; FX_MEMORY_REUSE=0: a\n"
"           buffer per value and gradient; docs/performance.md)\n"
"  devices  list the backends and devices fx can run on (loading every\n"
"           backend module found, and saying why one cannot be loaded)\n"
"  ops      list every registered op with its attributes\n"
"  crop-faces  aligned face crops + landmarks CSV from a dlib imglab XML\n"
"           file (fxrun crop-faces --help)\n"
"  plugins  list the loaded plugins (--plugin, and the graph file's\n"
"           `plugins:` when a file is given), what each registers, and the\n"
"           backends\n"
"\n"
"Options:\n"
"  --backend NAME     where layers run: cpu (default), opencl (best device),\n"
"                     opencl:P:D or opencl:NAME (see `fxrun devices`), or a\n"
"                     backend a plugin adds (`fxrun plugins`). Also FX_BACKEND.\n"
"                     A backend NAME not built in is loaded from its module\n"
"                     libfx-NAME.so (opencl: libfx-opencl.so) in backends/\n"
"                     next to fxrun or the installed backend folder, or in\n"
"                     $FX_BACKEND_PATH (folders separated by ':') when set.\n"
"  --plugin NAME|PATH load a plugin (repeatable): new ops or backends in a\n"
"                     shared object. A NAME without '/' is searched in\n"
"                     $FX_PLUGIN_PATH (folders separated by ':'), then in\n"
"                     plugins/ next to fxrun and the installed plugin folder.\n"
"                     A graph file can list plugins too (`plugins:`).\n"
"  --plugin-override  let plugins replace existing ops (off: refused)\n"
"  --fallback cpu     let ops that have no kernel on --backend run on the CPU\n"
"                     (copies inserted; a note lists them)\n"
"  --threads N        CPU threads (default: all cores)\n"
"  --seed N           override train.seed (initialisation, shuffling, dropout)\n"
"  --epochs N         override train.epochs\n"
"  --steps N          stop after N training steps (override train.max_steps)\n"
"  --batch N          override train.batch\n"
"  --resume           continue training from train.checkpoint\n"
"  --sync-bn          under mpirun: BatchNorm normalises with the global\n"
"                     batch's statistics (train.sync_bn; CPU backend)\n"
"  --checkpoint FILE  override train.checkpoint\n"
"  --metrics FILE     write training metrics as JSON lines\n"
"  --weights PATH     export/import: a .safetensors file or a folder of .npy\n"
"  --map FILE         export/import: YAML map of fx names to external names\n"
"                     (and permutations), e.g. for a PyTorch state_dict\n"
"  --output FILE      infer: write predictions here (default: stdout);\n"
"                     features: the .npy; pairs: the pairs file\n"
"  --images DIR       explain/features/verify/identify/pairs: the faces\n"
"                     (ImageFolder root: DIR/<identity>/<image>)\n"
"  --landmarks FILE   CSV image,x1,y1,... for --images; with 68 points\n"
"                     explain warps the peaks and --occlude the window\n"
"  --box X,Y,W,H      cut this box from every image before the resize (data.box)\n"
"  --value NAME       explain: the studied response maps [K, H, W] (default\n"
"                     clean.k5bn)\n"
"  --feature NAME     explain/features/verify/identify: the feature compared;\n"
"                     export --onnx: the model's output (default: the\n"
"                     graph's feature before the classifier)\n"
"  --onnx FILE        export: write the inference graph up to --feature as an\n"
"                     ONNX model (opset 13) with the checkpoint's weights\n"
"  --out DIR          explain: folder for explain.json, PNGs, explain.html\n"
"                     (default: explain)\n"
"  --limit N          explain: use the first N images (default 256)\n"
"  --pairs FILE       verify: pairs in LFW's pairs.txt format\n"
"  --occlude          verify/identify/features: draw the paper's 32x12 window\n"
"                     (black) on every image; --occlude-at X,Y places its\n"
"                     top-left corner in the 110x110 mean face (default: over\n"
"                     the left eye in the image)\n"
"  --json FILE        verify/identify: every figure, per fold too, as JSON\n"
"  --roc FILE.png     verify: draw the ROC curve\n"
"  --gallery N        identify: gallery images per identity (default 1)\n"
"  --folds N, --per-fold N  pairs: folds and matched (= mismatched) pairs per\n"
"                     fold (default 10 and 300)\n"
"  --feed NAME=FILE   run/infer: set input or parameter NAME from a .npy file\n"
"  --fetch NAME=FILE  run/infer: write value NAME to a .npy file\n"
"  --grad NAME=FILE   run: write d(total loss)/d NAME (input or parameter)\n"
"  --mode train|infer run: batch statistics and dropout (train, the default\n"
"                     when --grad is given) or running statistics (infer)\n"
"  --profile          train/bench: at the end, print where the time went: on\n"
"                     OpenCL per kernel (calls, total and mean ms, ms per step,\n"
"                     from OpenCL events), the host<->device transfers, blocking\n"
"                     syncs and kernel launches per step; on the CPU per layer\n"
"                     (forward and backward ms)\n"
"  --progress / --no-progress  progress line (default: when stderr is a terminal)\n"
"  -q, --quiet / -v, --verbose\n"
"  -h, --help / --version\n"
"\n"
"Examples:\n"
"  fxrun configs/fashion-mnist.yaml\n"
"  fxrun configs/fashion-mnist.yaml --backend opencl --profile\n"
"  fxrun configs/interpret-fr-small.yaml --metrics m.jsonl   # the paper's losses\n"
"  fxrun configs/fashion-mnist-prelu.yaml                    # a plugin's layer\n"
"  fxrun train configs/fashion-mnist.yaml --epochs 2 --metrics m.jsonl\n"
"  fxrun eval configs/fashion-mnist.yaml\n"
"  fxrun pairs --images faces/ --folds 10 --per-fold 50 --output pairs.txt\n"
"  fxrun verify configs/interpret-fr-small.yaml --pairs pairs.txt \\\n"
"        --images faces/ --json verify.json --roc roc.png\n"
"  fxrun export configs/fashion-mnist.yaml --weights fmnist.safetensors\n"
"  fxrun explain configs/interpret-fr-small.yaml --images faces/ --out report\n"
"  mpirun -np 4 fxrun configs/interpret-fr.yaml   # data parallel (docs/scaling.md)\n"
"  fxrun run net.yaml --feed image=x.npy --feed label=y.npy \\\n"
"        --fetch logits=logits.npy --grad c1.weight=dw.npy --grad image=dx.npy\n");
}

static int parse_binding(const char *arg, cli_binding *list, int *n, const char *flag)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) {
        fprintf(stderr, "fxrun: %s expects NAME=FILE.npy, got '%s'\n", flag, arg);
        return 1;
    }
    if (*n >= CLI_MAX_TENSORS) {
        fprintf(stderr, "fxrun: too many %s options (at most %d)\n", flag, CLI_MAX_TENSORS);
        return 1;
    }
    /* Two feeds of one name: which would win is an accident of order, so
     * neither does. */
    for (int i = 0; !strcmp(flag, "--feed") && i < *n; i++)
        if (strlen(list[i].name) == (size_t)(eq - arg) && !strncmp(list[i].name, arg, (size_t)(eq - arg))) {
            fprintf(stderr, "fxrun: --feed %s is given twice ('%s' and '%s'); give each name once\n", list[i].name,
                    list[i].path, eq + 1);
            return 1;
        }
    char *name = strndup(arg, (size_t)(eq - arg));
    if (!name) {
        fprintf(stderr, "fxrun: out of memory\n");
        return 1;
    }
    list[*n].name = name;
    list[*n].path = eq + 1;
    (*n)++;
    return 0;
}

/* An integer option in [min, max]: anything else (not a number, out of
 * range, past what a long long holds) is refused with the valid range, so
 * a value is never silently wrapped or replaced. */
static int parse_long_in(const char *flag, const char *v, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || errno == ERANGE || x < min || x > max) {
        fprintf(stderr, "fxrun: %s expects an integer from %lld to %lld, got '%s'\n", flag, min, max, v ? v : "");
        return 1;
    }
    *out = x;
    return 0;
}

static int parse_long(const char *flag, const char *v, long long min, long long *out)
{
    /* The widest any option takes; each option below narrows it. */
    return parse_long_in(flag, v, min, !strcmp(flag, "--threads") ? 4096
                                       : !strcmp(flag, "--batch")  ? (1 << 20)
                                       : !strcmp(flag, "--epochs") ? 1000000000
                                       : !strcmp(flag, "--seed")   ? LLONG_MAX
                                                                   : (1LL << 62),
                         out);
}

/* "X,Y,W,H": exactly n comma-separated integers >= 0 (--box, --occlude-at). */
static int parse_ints(const char *flag, const char *v, int n, int *out)
{
    const char *p = v;
    for (int k = 0; k < n; k++) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 0 || x > 100000 || (k + 1 < n ? *end != ',' : *end != '\0')) {
            fprintf(stderr, "fxrun: %s expects %d comma-separated integers >= 0 (%s), got '%s'\n", flag, n,
                    n == 4 ? "X,Y,W,H" : "X,Y", v);
            return 1;
        }
        out[k] = (int)x;
        p = end + 1;
    }
    return 0;
}

static int is_task(const char *s)
{
    static const char *const tasks[] = { "train", "eval", "infer", "run", "bench", "init", "export", "import",
                                          "explain", "features", "verify", "identify", "pairs", "devices", "ops",
                                          "plugins", NULL };
    for (int i = 0; tasks[i]; i++)
        if (!strcmp(s, tasks[i]))
            return 1;
    return 0;
}

static void free_bindings(cli_options *o)
{
    for (int i = 0; i < o->n_feed; i++)
        free((char *)o->feed[i].name);
    for (int i = 0; i < o->n_fetch; i++)
        free((char *)o->fetch[i].name);
    for (int i = 0; i < o->n_grad; i++)
        free((char *)o->grad[i].name);
}

int main(int argc, char **argv)
{
    cli_options o;
    memset(&o, 0, sizeof o);
    o.progress = -1;
    o.verbose = 1;
    int rc = 0;
    if (argc > 1 && !strcmp(argv[1], "crop-faces"))
        return cli_cmd_crop_faces(argc - 1, argv + 1);
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        long long v;
#define NEED_VALUE()                                                        \
    do {                                                                    \
        if (!next) {                                                        \
            fprintf(stderr, "fxrun: %s needs a value (see --help)\n", a);   \
            rc = 2;                                                         \
            break;                                                          \
        }                                                                   \
        i++;                                                                \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free_bindings(&o);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("fxrun %s\n", FX_VERSION_STRING);
            free_bindings(&o);
            return 0;
        } else if (!strcmp(a, "--backend")) {
            NEED_VALUE();
            o.backend = next;
        } else if (!strcmp(a, "--fallback")) {
            NEED_VALUE();
            o.fallback = next;
        } else if (!strcmp(a, "--threads")) {
            NEED_VALUE();
            if (rc == 0 && parse_long(a, next, 1, &v) == 0)
                o.threads = (int)v;
            else
                rc = 2;
        } else if (!strcmp(a, "--seed")) {
            NEED_VALUE();
            if (rc == 0 && parse_long(a, next, 0, &v) == 0) {
                o.seed = (unsigned long long)v;
                o.has_seed = 1;
            } else
                rc = 2;
        } else if (!strcmp(a, "--epochs")) {
            NEED_VALUE();
            if (rc == 0 && parse_long(a, next, 1, &v) == 0)
                o.epochs = (int)v;
            else
                rc = 2;
        } else if (!strcmp(a, "--steps")) {
            NEED_VALUE();
            if (rc == 0 && parse_long(a, next, 1, &v) == 0)
                o.steps = v;
            else
                rc = 2;
        } else if (!strcmp(a, "--batch")) {
            NEED_VALUE();
            if (rc == 0 && parse_long(a, next, 1, &v) == 0)
                o.batch = (int)v;
            else
                rc = 2;
        } else if (!strcmp(a, "--plugin")) {
            NEED_VALUE();
            if (rc == 0 && o.n_plugins == CLI_MAX_PLUGINS) {
                fprintf(stderr, "fxrun: too many --plugin options (at most %d)\n", CLI_MAX_PLUGINS);
                rc = 2;
            } else if (rc == 0) {
                o.plugins[o.n_plugins++] = next;
            }
        } else if (!strcmp(a, "--plugin-override")) {
            o.plugin_override = 1;
        } else if (!strcmp(a, "--resume")) {
            o.resume = 1;
        } else if (!strcmp(a, "--sync-bn")) {
            o.sync_bn = 1;
        } else if (!strcmp(a, "--checkpoint")) {
            NEED_VALUE();
            o.checkpoint = next;
        } else if (!strcmp(a, "--weights")) {
            NEED_VALUE();
            o.weights = next;
        } else if (!strcmp(a, "--onnx")) {
            NEED_VALUE();
            o.onnx = next;
        } else if (!strcmp(a, "--map")) {
            NEED_VALUE();
            o.map = next;
        } else if (!strcmp(a, "--images")) {
            NEED_VALUE();
            o.images = next;
        } else if (!strcmp(a, "--landmarks")) {
            NEED_VALUE();
            o.landmarks = next;
        } else if (!strcmp(a, "--box")) {
            NEED_VALUE();
            if (rc == 0 && cli_parse_box(next, o.box) != 0)
                rc = 2;
            o.has_box = 1;
        } else if (!strcmp(a, "--feature")) {
            NEED_VALUE();
            o.feature = next;
        } else if (!strcmp(a, "--value")) {
            NEED_VALUE();
            o.value = next;
        } else if (!strcmp(a, "--out")) {
            NEED_VALUE();
            o.out_dir = next;
        } else if (!strcmp(a, "--limit")) {
            NEED_VALUE();
            if (rc == 0 && parse_long(a, next, 1, &v) == 0)
                o.limit = v;
            else
                rc = 2;
        } else if (!strcmp(a, "--pairs") || !strcmp(a, "--json") || !strcmp(a, "--roc")) {
            NEED_VALUE();
            *(!strcmp(a, "--pairs") ? &o.pairs : !strcmp(a, "--json") ? &o.json : &o.roc) = next;
        } else if (!strcmp(a, "--occlude-at")) {
            NEED_VALUE();
            if (rc == 0 && parse_ints(a, next, 2, o.occlude_at) != 0)
                rc = 2;
            o.has_occlude_at = o.occlude = 1;
        } else if (!strcmp(a, "--occlude")) {
            o.occlude = 1;
        } else if (!strcmp(a, "--gallery") || !strcmp(a, "--folds") || !strcmp(a, "--per-fold")) {
            NEED_VALUE();
            if (rc == 0 && parse_long(a, next, 1, &v) != 0) {
                rc = 2;
            } else if (rc == 0 && v > 1000000) {
                fprintf(stderr, "fxrun: %s %s is more than 1000000\n", a, next);
                rc = 2;
            } else if (rc == 0) {
                *(!strcmp(a, "--gallery") ? &o.gallery : !strcmp(a, "--folds") ? &o.folds : &o.per_fold) = (int)v;
            }
        } else if (!strcmp(a, "--metrics")) {
            NEED_VALUE();
            o.metrics = next;
        } else if (!strcmp(a, "--output")) {
            NEED_VALUE();
            o.output = next;
        } else if (!strcmp(a, "--mode")) {
            NEED_VALUE();
            if (rc == 0 && strcmp(next, "train") && strcmp(next, "infer")) {
                fprintf(stderr, "fxrun: --mode expects train or infer, got '%s'\n", next);
                rc = 2;
            }
            o.mode = next;
        } else if (!strcmp(a, "--feed") || !strcmp(a, "--fetch") || !strcmp(a, "--grad")) {
            NEED_VALUE();
            if (rc == 0) {
                if (!strcmp(a, "--feed"))
                    rc = parse_binding(next, o.feed, &o.n_feed, a) ? 2 : 0;
                else if (!strcmp(a, "--fetch"))
                    rc = parse_binding(next, o.fetch, &o.n_fetch, a) ? 2 : 0;
                else
                    rc = parse_binding(next, o.grad, &o.n_grad, a) ? 2 : 0;
            }
        } else if (!strcmp(a, "--profile")) {
            o.profile = 1;
        } else if (!strcmp(a, "--progress")) {
            o.progress = 1;
        } else if (!strcmp(a, "--no-progress")) {
            o.progress = 0;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o.verbose = 0;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o.verbose = 2;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "fxrun: unknown option '%s' (see fxrun --help)\n", a);
            rc = 2;
        } else if (!o.task && !o.graph_path && is_task(a)) {
            o.task = a;
        } else if (!o.graph_path) {
            o.graph_path = a;
        } else {
            fprintf(stderr, "fxrun: unexpected argument '%s' (one graph file at a time; see --help)\n", a);
            rc = 2;
        }
#undef NEED_VALUE
    }
    if (rc != 0) {
        free_bindings(&o);
        return rc;
    }
    int needs_graph =
        !(o.task && (!strcmp(o.task, "devices") || !strcmp(o.task, "ops") || !strcmp(o.task, "plugins") ||
                     (!strcmp(o.task, "pairs") && o.images)));
    if (needs_graph && !o.graph_path) {
        if (argc <= 1)
            usage(stderr);
        else
            fprintf(stderr, "fxrun: no graph file given (usage: fxrun [TASK] GRAPH.yaml; see --help)\n");
        free_bindings(&o);
        return 2;
    }
    if (o.progress < 0)
        o.progress = isatty(STDERR_FILENO) && o.verbose > 0;

    fx_context_options co = fx_context_options_default();
    co.threads = o.threads;
    co.verbose = o.verbose;
    fx_context *ctx = NULL;
    char err[1024];
    if (fx_context_create(&co, &ctx, err, sizeof err) != FX_OK) {
        fprintf(stderr, "fxrun: %s\n", err);
        free_bindings(&o);
        return 1;
    }
    cli_runtime rt;
    memset(&rt, 0, sizeof rt);
    o.rt = &rt;
    if (cli_load_plugins(ctx, &o) != 0) {
        rc = 1;
        goto done;
    }
    const char *task = o.task;
    fx_config cfg;
    char file_task[16];
    if (!task && o.graph_path) {
        /* The file's default task. */
        fx_graph *g = NULL;
        if (cli_load(ctx, &o, &g, &cfg) != 0) {
            rc = 1;
            goto done;
        }
        fx_graph_destroy(g);
        snprintf(file_task, sizeof file_task, "%s", cfg.task[0] ? cfg.task : "train");
        task = file_task;
    }
    if (cli_mpi_start(ctx, task, &rt) != 0) {
        rc = 1;
        goto done;
    }
    if (!strcmp(task, "train"))
        rc = cli_cmd_train(ctx, &o);
    else if (!strcmp(task, "eval"))
        rc = cli_cmd_eval(ctx, &o);
    else if (!strcmp(task, "infer"))
        rc = cli_cmd_infer(ctx, &o);
    else if (!strcmp(task, "run"))
        rc = cli_cmd_run(ctx, &o);
    else if (!strcmp(task, "init"))
        rc = cli_cmd_init(ctx, &o);
    else if (!strcmp(task, "export"))
        rc = cli_cmd_export(ctx, &o);
    else if (!strcmp(task, "import"))
        rc = cli_cmd_import(ctx, &o);
    else if (!strcmp(task, "features"))
        rc = cli_cmd_features(ctx, &o);
    else if (!strcmp(task, "verify"))
        rc = cli_cmd_verify(ctx, &o);
    else if (!strcmp(task, "identify"))
        rc = cli_cmd_identify(ctx, &o);
    else if (!strcmp(task, "pairs"))
        rc = cli_cmd_pairs(ctx, &o);
    else if (!strcmp(task, "bench"))
        rc = cli_cmd_bench(ctx, &o);
    else if (!strcmp(task, "explain"))
        rc = cli_cmd_explain(ctx, &o);
    else if (!strcmp(task, "devices"))
        rc = cli_cmd_devices(ctx, &o);
    else if (!strcmp(task, "ops"))
        rc = cli_cmd_ops(ctx, &o);
    else if (!strcmp(task, "plugins"))
        rc = cli_cmd_plugins(ctx, &o);
    else {
        fprintf(stderr, "fxrun: %s: unknown task '%s' (train, eval, infer, run)\n", o.graph_path, task);
        rc = 2;
    }
done:
    /* Output that never reached its file (a full disk, /dev/full, a closed
     * pipe) is a failure, not a success: check stdout's buffered data and
     * its close. */
    if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
        fprintf(stderr, "fxrun: writing the standard output failed: %s\n", strerror(errno));
        if (rc == 0)
            rc = 1;
    }
    rc = cli_mpi_finish(&rt, rc); /* returns only when this rank may end on its own */
    /* Backends before the context, which unloads the modules and plugins. */
    for (int i = 0; i < rt.n_backends; i++)
        fx_context_release_backend(ctx, rt.backends[i]);
    fx_context_destroy(ctx);
    free_bindings(&o);
    return rc;
}
