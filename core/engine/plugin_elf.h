/* core/engine/plugin_elf.h - the check of a plugin file before dlopen
 * (core/engine/plugin_elf.c): a regular file holding a whole ELF shared object
 * for this machine. */
#ifndef FX_CORE_PLUGIN_ELF_H
#define FX_CORE_PLUGIN_ELF_H

#include "fx/fx.h"

/* FX_OK, or a message saying what the file is instead (a folder, a FIFO,
 * not ELF, another architecture, an executable, truncated). */
fx_status fx_plugin_check_elf(fx_context *ctx, const char *path);

#endif
