/* tests/plugins/no_init.c - a plugin with a manifest but no fx_plugin_init:
 * fx must refuse it, naming the missing function. */
#include "fx/plugin.h"

FX_PLUGIN("no-init", "0", "test: lacks fx_plugin_init");

/* Something exported, so the object is a normal shared library. */
FX_PLUGIN_EXPORT int no_init_marker(void);
int no_init_marker(void) { return 42; }
