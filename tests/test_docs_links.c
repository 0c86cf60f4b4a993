/* tests/test_docs_links.c - the files the repository's own text cites
 * exist. Every text file of the source tree (docs, README, configs, code
 * comments, scripts) is read; each word shaped like a file name is checked:
 *   - a path whose first folder is one of the tree's top folders
 *     (`docs/losses.md`, `backends/opencl/ocl_gemm.c`) must exist;
 *   - a bare <name>.md must be a page of the repository (top level or
 *     docs/): docs once cited design notes that are not in the repository.
 * Paths elsewhere (../shared/data/..., the authors' train/ops.py, a
 * user's pairs.txt) are not checked. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fxtest.h"

static const char *const top_folders[] = { "docs", "core", "backends", "clkernels", "tests", "configs", "plugins",
                                           "cli", "include", "tools", "bench", "cmake", "comm" };
static const char *const text_exts[] = { ".md", ".c", ".h", ".cl", ".yaml", ".py", ".sh", ".txt", ".cmake" };
static const char *const cited_exts[] = { ".md", ".c", ".h", ".cl", ".yaml", ".py", ".sh" };

typedef struct findings {
    char report[8192];
    int bad, files, checked;
} findings;

static int ends_with_any(const char *s, const char *const *exts, size_t n)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < n; i++) {
        size_t el = strlen(exts[i]);
        if (len > el && strcmp(s + len - el, exts[i]) == 0)
            return 1;
    }
    return 0;
}

static int exists(const char *rel)
{
    char path[2048];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", FX_SOURCE_DIR, rel);
    return stat(path, &sb) == 0;
}

static int token_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-' || c == '/';
}

static void check_token(findings *f, const char *file, char *tok)
{
    size_t len = strlen(tok);
    while (len > 0 && (tok[len - 1] == '.' || tok[len - 1] == '-' || tok[len - 1] == '/'))
        tok[--len] = 0; /* sentence punctuation */
    if (len == 0 || tok[0] == '.' || tok[0] == '/' || tok[0] == '-')
        return; /* relative to somewhere else, or absolute */
    if (!ends_with_any(tok, cited_exts, sizeof cited_exts / sizeof cited_exts[0]))
        return;
    const char *slash = strchr(tok, '/');
    int missing = 0;
    if (slash) {
        size_t first = (size_t)(slash - tok);
        int ours = 0;
        for (size_t i = 0; i < sizeof top_folders / sizeof top_folders[0]; i++)
            ours |= strlen(top_folders[i]) == first && strncmp(tok, top_folders[i], first) == 0;
        if (!ours)
            return;
        f->checked++;
        missing = !exists(tok);
    } else if (len > 3 && strcmp(tok + len - 3, ".md") == 0) {
        char in_docs[1024];
        snprintf(in_docs, sizeof in_docs, "docs/%s", tok);
        f->checked++;
        missing = !exists(tok) && !exists(in_docs);
    }
    if (missing) {
        f->bad++;
        size_t used = strlen(f->report);
        if (used + 200 < sizeof f->report)
            snprintf(f->report + used, sizeof f->report - used, "  %s cites %s\n", file, tok);
    }
}

static void scan_file(findings *f, const char *rel)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", FX_SOURCE_DIR, rel);
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot read %s", path);
    f->files++;
    char tok[1024];
    size_t n = 0;
    int c;
    for (;;) {
        c = fgetc(fp);
        if (c != EOF && token_char(c)) {
            if (n + 1 < sizeof tok)
                tok[n++] = (char)c;
        } else {
            if (n > 0) {
                tok[n] = 0;
                check_token(f, rel, tok);
            }
            n = 0;
            if (c == EOF)
                break;
        }
    }
    fclose(fp);
}

static void scan_tree(findings *f, const char *rel)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", FX_SOURCE_DIR, rel);
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "cannot list %s", path);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "build", 5) == 0)
            continue; /* .git, build trees */
        char child[2048];
        snprintf(child, sizeof child, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", FX_SOURCE_DIR, child);
        struct stat sb;
        if (lstat(full, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode))
            scan_tree(f, child);
        else if (S_ISREG(sb.st_mode) &&
                 (ends_with_any(e->d_name, text_exts, sizeof text_exts / sizeof text_exts[0]) ||
                  strcmp(e->d_name, "CMakeLists.txt") == 0))
            scan_file(f, child);
    }
    closedir(d);
}

START_TEST(test_every_file_the_tree_cites_exists)
{
    findings *f = calloc(1, sizeof *f);
    ck_assert_ptr_nonnull(f);
    scan_tree(f, "");
    /* The scan must have seen the tree: README, docs and sources. */
    ck_assert_msg(f->files > 100 && f->checked > 100, "scanned %d files, checked %d names", f->files, f->checked);
    ck_assert_msg(f->bad == 0, "%d citations of files that do not exist:\n%s", f->bad, f->report);
    free(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("docs_links");
    TCase *tc = tcase_create("links");
    tcase_add_test(tc, test_every_file_the_tree_cites_exists);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
