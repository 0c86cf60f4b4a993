/* core/ops/op_list.h - the one list of built-in ops, in registration
 * order (the order `fxrun ops` prints). Each entry names an op whose
 * definition `const fx_op_def fx_op_<name>` lives in core/ops/<file>.c;
 * ops.h declares them and builtin_ops.c registers them from this list,
 * so adding an op is one line here and its file. Everything else that
 * needs the op names (`fxrun ops`, the op x backend test matrix, the
 * ONNX exporter's check) asks the registry. No include guard: the
 * includer defines FX_OP(name) first. */
/* the common layers */
FX_OP(conv2d)
FX_OP(linear)
FX_OP(maxpool2d)
FX_OP(avgpool2d)
FX_OP(global_avgpool)
FX_OP(batchnorm)
FX_OP(relu)
FX_OP(elu)
FX_OP(dropout)
FX_OP(resize_bilinear)
FX_OP(concat)
FX_OP(l2_normalize)
FX_OP(add)
FX_OP(mul)
FX_OP(scale)
FX_OP(flatten)
FX_OP(reshape)
FX_OP(softmax_cross_entropy)
/* the paper's ops (docs/losses.md) */
FX_OP(topk_mask)
FX_OP(sad_loss)
FX_OP(fad_loss)
FX_OP(filter_diversity)
FX_OP(occlude)
