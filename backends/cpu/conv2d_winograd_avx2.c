/* backends/cpu/conv2d_winograd_avx2.c - the Winograd tile transforms
 * (conv2d_winograd_transforms.h) compiled with AVX2 + FMA; picked by
 * conv2d_winograd.c on machines that have them. */
#include "backends/cpu/conv2d_winograd.h"

#define WINO_NAME(x) cpu_winograd_avx2_##x
#include "backends/cpu/conv2d_winograd_transforms.h"
