/* tests/plugins/bad_name.c - a plugin whose manifest name is not valid
 * (BAD_NAME_KIND 1: spaces, 2: 100 characters, 3: NULL): refused before its
 * init runs, and the message must not read the name after the plugin is
 * unloaded (it lives in the plugin's memory). */
#include <stddef.h>
#include "fx/plugin.h"

#if BAD_NAME_KIND == 1
#define BAD_NAME "has spaces"
#elif BAD_NAME_KIND == 2
#define BAD_NAME                                                                                            \
    "a123456789b123456789c123456789d123456789e123456789f123456789g123456789h123456789i123456789j123456789"
#else
#define BAD_NAME NULL
#endif

FX_PLUGIN(BAD_NAME, "0", "test: an invalid manifest name");

fx_status fx_plugin_init(fx_plugin *plugin, int abi_version)
{
    (void)plugin;
    (void)abi_version;
    return FX_OK;
}
