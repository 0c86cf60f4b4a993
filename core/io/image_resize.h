/* core/io/image_resize.h - resizing planar images (8-bit or float).
 *
 * Each axis is resampled on its own (separable):
 *   - shrinking (in > out): area averaging. Output pixel o covers the source
 *     interval [o*in/out, (o+1)*in/out) and is the mean of the source pixels
 *     weighted by their overlap with it (OpenCV's INTER_AREA), so no source
 *     pixel is skipped and there is no aliasing;
 *   - enlarging or keeping (in <= out): bilinear with half-pixel centres,
 *     src = (o + 0.5) * in/out - 0.5, clamped at the borders (PyTorch's
 *     align_corners=False, PIL/OpenCV's bilinear).
 * Equal sizes copy exactly. Images are planar: `channels` planes of
 * in_h x in_w, contiguous. 8-bit output is rounded to nearest. */
#ifndef FX_CORE_IMAGE_RESIZE_H
#define FX_CORE_IMAGE_RESIZE_H

#include <stdint.h>

/* Both return 0, or -1 when out of memory (nothing written then). They
 * allocate their working buffers once per call, not per pixel. */
int fx_image_resize_u8(const uint8_t *src, int channels, int in_h, int in_w, uint8_t *dst, int out_h,
                       int out_w);
int fx_image_resize_f32(const float *src, int channels, int in_h, int in_w, float *dst, int out_h,
                        int out_w);

#endif
