/* core/ops/window2d.h - the 2-D window geometry of conv2d, maxpool2d and
 * avgpool2d: public now (fx/geometry.h, fx_window2d_resolve), so that
 * backends in modules use it too; this header remains for the core's own
 * includes. Defined in core/ops/window.c. */
#ifndef FX_CORE_OPS_WINDOW2D_H
#define FX_CORE_OPS_WINDOW2D_H

#include "fx/fx.h"
#include "fx/geometry.h"

#endif
