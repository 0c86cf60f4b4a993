/* fx/fx.h - the whole public API of libfx. */
#ifndef FX_FX_H
#define FX_FX_H

#include "fx/status.h"
#include "fx/context.h"
#include "fx/tensor.h"
#include "fx/op.h"
#include "fx/geometry.h"
#include "fx/backend.h"
#include "fx/optim.h"
#include "fx/cpu.h"
#include "fx/rng.h"
#include "fx/graph.h"
#include "fx/config.h"
#include "fx/data.h"
#include "fx/face.h"
#include "fx/npy.h"
#include "fx/weights.h"
#include "fx/onnx.h"
#include "fx/train.h"
#include "fx/extract.h"
#include "fx/verify.h"
#include "fx/file.h"
#include "fx/plugin.h"
#include "fx/opencl.h"
#include "fx/canvas.h"
#include "fx/interpret.h"
#include "fx/comm.h"

#define FX_VERSION_MAJOR 0
#define FX_VERSION_MINOR 1
#define FX_VERSION_PATCH 0
#define FX_VERSION_STRING "0.1.0"

#endif
