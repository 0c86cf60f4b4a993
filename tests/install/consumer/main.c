/* A program embedding libfx: builds y = relu(linear(x)) in code, runs it
 * and prints the output sum; exits non-zero on any failure. With an
 * argument (a backend spec: "opencl") it runs on that backend, which an
 * installed fx loads from its backend folder (<libdir>/fx/backends, next
 * to libfx.so) on first use. */
#include <stdio.h>
#include <fx/fx.h>

int main(int argc, char **argv)
{
    fx_context *ctx = NULL;
    char err[256];
    if (fx_context_create(NULL, &ctx, err, sizeof err) != FX_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    fx_backend *be = NULL;
    if (argc > 1 && fx_context_create_backend(ctx, argv[1], &be) != FX_OK) {
        fprintf(stderr, "consumer: %s\n", fx_context_error(ctx));
        return 1;
    }
    fx_graph *g = NULL;
    fx_shape per = fx_shape_1d(4);
    fx_srcpos nowhere = { NULL, 0, 0 };
    const char *in[] = { "x" };
    const char *items[] = { "3" };
    fx_attr_input attr = { "out_features", items, 1, 0, nowhere };
    fx_node_desc fc = { "fc", "linear", in, 1, &attr, 1, NULL, "constant:0.5", nowhere };
    const char *in2[] = { "fc" };
    fx_node_desc act = { "act", "relu", in2, 1, NULL, 0, NULL, NULL, nowhere };
    float x[8] = { 1, 2, 3, 4, 1, 1, 1, 1 }, y[6];
    int ok = fx_graph_create(ctx, "consumer", &g) == FX_OK && fx_graph_add_input(g, "x", FX_F32, &per, nowhere) == FX_OK &&
             fx_graph_add_node(g, &fc) == FX_OK && fx_graph_add_node(g, &act) == FX_OK &&
             fx_graph_plan(g, 2, FX_MODE_INFER, be) == FX_OK && fx_tensor_upload(fx_graph_value(g, "x"), x) == FX_OK &&
             fx_graph_forward(g) == FX_OK && fx_tensor_download(fx_graph_value(g, "act"), y) == FX_OK;
    if (!ok) {
        fprintf(stderr, "consumer: %s\n", fx_context_error(ctx));
        return 1;
    }
    float sum = 0;
    for (int i = 0; i < 6; i++)
        sum += y[i];
    printf("consumer: output sum %g on %s\n", sum, be ? be->device_name : "the CPU"); /* 3*(0.5*10) + 3*(0.5*4) = 21 */
    fx_graph_destroy(g);
    fx_context_release_backend(ctx, be);
    fx_context_destroy(ctx);
    return sum == 21.0f ? 0 : 1;
}
