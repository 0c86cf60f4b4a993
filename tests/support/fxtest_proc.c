/* tests/support/fxtest_proc.c - running fxrun (or any command) from a
 * test and capturing its output and exit status; temporary folders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "fxtest.h"

const char *fxtest_fxrun(void)
{
    const char *p = getenv("FX_FXRUN");
    return p && p[0] ? p : FX_BINARY_DIR "/fxrun";
}

int fxtest_run(const char *cmd, char *out, size_t size)
{
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1 </dev/null", cmd);
    FILE *p = popen(full, "r");
    ck_assert_msg(p != NULL, "cannot run %s", cmd);
    size_t used = 0;
    if (size)
        out[0] = 0;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
        if (size && used + 1 < size) {
            size_t take = n < size - 1 - used ? n : size - 1 - used;
            memcpy(out + used, buf, take);
            used += take;
            out[used] = 0;
        }
    }
    int status = pclose(p);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

char *fxtest_tempdir(void)
{
    char *dir = strdup("/tmp/fxtest.XXXXXX");
    ck_assert_ptr_nonnull(dir);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

void fxtest_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

void fxtest_remove_tree(const char *dir)
{
    char cmd[4200];
    if (strncmp(dir, "/tmp/fxtest.", 12) != 0)
        return; /* only ever our own temp folders */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
}
