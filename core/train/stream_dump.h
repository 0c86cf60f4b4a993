/* core/train/stream_dump.h - FX_DUMP_STREAM=DIR: writes what each training
 * step consumed (core/train/stream_dump.c's header lists the files;
 * tools/parity/README.md replays them). Private to core/train; uses the
 * public API only (include/fx). */
#ifndef FX_CORE_STREAM_DUMP_H
#define FX_CORE_STREAM_DUMP_H

#include "fx/fx.h"

typedef struct fx_stream_dump fx_stream_dump;
/* *out = NULL (and FX_OK) when FX_DUMP_STREAM is unset or empty; else opens
 * the folder and writes init.fxck. per_epoch: steps per epoch. */
fx_status fx_stream_dump_open(fx_context *ctx, fx_graph *g, fx_optimizer *opt, int64_t per_epoch,
                              fx_stream_dump **out);
/* Before step `step`'s upload: the batch and the dropout masks. */
fx_status fx_stream_dump_batch(fx_stream_dump *d, int64_t step, float lr, const float *images,
                               const int32_t *labels);
/* After the step: its loss (and a checkpoint every FX_DUMP_STREAM_EVERY). */
fx_status fx_stream_dump_step(fx_stream_dump *d, int64_t step, float loss);
void fx_stream_dump_close(fx_stream_dump *d);

#endif
