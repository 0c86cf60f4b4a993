/* tests/plugins/undefined_symbol.c - a plugin calling an fx function that
 * does not exist (as when built against a newer fx): dlopen with RTLD_NOW
 * fails, and fx must say why. */
#include "fx/plugin.h"

FX_PLUGIN("undefined-symbol", "0", "test: needs a function fx lacks");

fx_status fx_function_that_does_not_exist(fx_plugin *plugin);

fx_status fx_plugin_init(fx_plugin *plugin, int abi_version) { return fx_function_that_does_not_exist(plugin); }
