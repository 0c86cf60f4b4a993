/* fx/onnx.h - export of a graph's inference path as an ONNX model. */
#ifndef FX_ONNX_H
#define FX_ONNX_H

#include "fx/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the nodes of planned graph `g` that compute value `output` (in
 * inference behaviour: BatchNormalization with the running statistics,
 * dropout as Identity) with the current parameter values as initialisers,
 * to the ONNX file `path` (opset 13; the batch dimension is symbolic, "N").
 * Ops without an ONNX form are refused with FX_ERR_UNSUPPORTED naming the
 * layer. FX_ERR_UNSUPPORTED too when fx was built without protobuf-c. The
 * file is written atomically (docs/interop.md). */
fx_status fx_onnx_export(fx_context *ctx, fx_graph *g, const char *path, const char *output);

#ifdef __cplusplus
}
#endif
#endif
