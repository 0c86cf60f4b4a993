/* core/io/yaml_loader.h - the parts of the graph-file loader shared between
 * core/io/yaml_graph.c (the graph sections and fx_graph_load_yaml) and
 * core/io/yaml_config.c (data, train, task, backend, plugins). The schema is
 * documented in docs/graph-format.md. */
#ifndef FX_CORE_YAML_LOADER_H
#define FX_CORE_YAML_LOADER_H

#include "core/io/yaml_document.h"

/* Fills cfg->task, backend, plugins, data and train from the top-level
 * mapping `root` (keys already checked). Relative paths are resolved
 * against cfg->dir, which must be set. */
fx_status fx_yaml_read_config(const fx_yaml_doc *doc, const fx_yaml_node *root, fx_config *cfg);

/* Sets cfg->path and cfg->dir ("." for a bare file name) from `path`. */
fx_status fx_yaml_config_set_path(fx_context *ctx, fx_config *cfg, const char *path);

/* Copies the path in `node` into out: absolute paths stay, relative ones
 * are joined to `dir` (left alone when dir is "."). */
fx_status fx_yaml_read_path(const fx_yaml_doc *doc, const fx_yaml_node *node, const char *what, const char *dir,
                            char *out, size_t size);

#endif
