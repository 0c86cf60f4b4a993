/* core/face/pairs.c - LFW-style pairs files (fx/verify.h): parsing with errors
 * that name file:line and the expected form, writing, finding the image a
 * pair names under an ImageFolder root, and drawing a balanced,
 * identity-disjoint pairs set from a root.
 *
 * The format (LFW's README, "pairs.txt"): a header "FOLDS PER_FOLD" (or a
 * single count N: one fold), then for each fold PER_FOLD matched lines
 * "name n1 n2" and PER_FOLD mismatched lines "name1 n1 name2 n2", fields
 * separated by spaces or tabs, image numbers 1-based. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "core/internal.h"
#include "fx/file.h"
#include "fx/rng.h"
#include "fx/verify.h"

#define PAIRS_MAX_FIELDS 6

void fx_pairs_free(fx_pairs *p)
{
    if (!p)
        return;
    free(p->pair);
    p->pair = NULL;
    p->n = 0;
}

/* Splits a line (modified in place) into whitespace-separated fields;
 * returns the number found (at most max + 1, so "too many" shows). */
static int split_fields(char *line, char **field, int max)
{
    int n = 0;
    char *s = line;
    while (*s) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        if (n <= max)
            field[n] = s;
        n++;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (*s)
            *s++ = '\0';
    }
    return n;
}

static int parse_positive(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > INT_MAX)
        return 0;
    *out = (int)v;
    return 1;
}

fx_status fx_pairs_parse(fx_context *ctx, const char *text, const char *source, fx_pairs *out)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(text);
    char *copy = fx_malloc(ctx, len + 1, "pairs text");
    if (!copy)
        return FX_ERR_NOMEM;
    memcpy(copy, text, len + 1);
    fx_status st = FX_OK;
    int line_no = 0, have_header = 0;
    int64_t count = 0;
    int64_t matched_in_fold = 0;
    char *next = copy;
    while (st == FX_OK && next) {
        char *line = next;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line_no++;
        size_t l = strlen(line);
        if (l > 0 && line[l - 1] == '\r')
            line[--l] = '\0';
        char original[160];
        snprintf(original, sizeof original, "%s%s", line, l >= sizeof original ? "..." : "");
        char *f[PAIRS_MAX_FIELDS + 1];
        int nf = split_fields(line, f, PAIRS_MAX_FIELDS);
        if (nf == 0)
            continue; /* blank line */
        if (!have_header) {
            int a = 0, b = 0;
            if (nf == 2 && parse_positive(f[0], &a) && parse_positive(f[1], &b)) {
                out->folds = a;
                out->per_fold = b;
            } else if (nf == 1 && parse_positive(f[0], &b)) {
                out->folds = 1;
                out->per_fold = b;
            } else {
                st = fx_fail(ctx, FX_ERR_PARSE,
                             "%s:%d: the first line must be 'FOLDS PAIRS_PER_FOLD' (LFW View 2: '10 300') or "
                             "one count ('1100': one fold), got '%s'",
                             source, line_no, original);
                break;
            }
            if ((int64_t)out->folds * out->per_fold > 50000000) {
                st = fx_fail(ctx, FX_ERR_PARSE, "%s:%d: %d folds of %d pairs is more than fx reads (10^8 pairs)",
                             source, line_no, out->folds, out->per_fold);
                break;
            }
            out->n = (int64_t)out->folds * 2 * out->per_fold;
            /* Each pair takes a line: a header announcing more pairs than
             * the text has lines is refused before reserving memory for
             * them (found by tests/fuzz/fuzz_pairs). */
            int64_t lines = 1;
            for (const char *c = text; *c; c++)
                lines += *c == '\n';
            if (out->n > lines) {
                st = fx_fail(ctx, FX_ERR_PARSE, "%s:%d: the header announces %lld pairs but the file has only %lld "
                             "lines; fix the first line", source, line_no, (long long)out->n, (long long)lines);
                break;
            }
            out->pair = fx_calloc(ctx, (size_t)out->n, sizeof *out->pair, "pairs");
            if (!out->pair)
                st = FX_ERR_NOMEM;
            have_header = 1;
            continue;
        }
        if (count == out->n) {
            st = fx_fail(ctx, FX_ERR_PARSE,
                         "%s:%d: more pairs than the header's %d fold%s x %d matched + %d mismatched = %lld; fix the "
                         "first line or remove the extra lines",
                         source, line_no, out->folds, out->folds == 1 ? "" : "s", out->per_fold, out->per_fold,
                         (long long)out->n);
            break;
        }
        fx_pair *p = &out->pair[count];
        p->line = line_no;
        p->fold = (int)(count / (2 * out->per_fold));
        if (count % (2 * out->per_fold) == 0)
            matched_in_fold = 0;
        const char *bad_number = NULL;
        if (nf == 3) {
            p->matched = 1;
            if (strlen(f[0]) >= FX_PAIR_NAME_MAX)
                bad_number = "";
            snprintf(p->name[0], sizeof p->name[0], "%s", f[0]);
            snprintf(p->name[1], sizeof p->name[1], "%s", f[0]);
            if (!parse_positive(f[1], &p->number[0]))
                bad_number = f[1];
            else if (!parse_positive(f[2], &p->number[1]))
                bad_number = f[2];
        } else if (nf == 4) {
            p->matched = 0;
            if (strlen(f[0]) >= FX_PAIR_NAME_MAX || strlen(f[2]) >= FX_PAIR_NAME_MAX)
                bad_number = "";
            snprintf(p->name[0], sizeof p->name[0], "%s", f[0]);
            snprintf(p->name[1], sizeof p->name[1], "%s", f[2]);
            if (!parse_positive(f[1], &p->number[0]))
                bad_number = f[1];
            else if (!parse_positive(f[3], &p->number[1]))
                bad_number = f[3];
        } else {
            st = fx_fail(ctx, FX_ERR_PARSE,
                         "%s:%d: expected 'NAME N1 N2' (a matched pair) or 'NAME1 N1 NAME2 N2' (a mismatched pair), "
                         "got %d field%s: '%s'",
                         source, line_no, nf, nf == 1 ? "" : "s", original);
            break;
        }
        if (bad_number && !bad_number[0]) {
            st = fx_fail(ctx, FX_ERR_PARSE, "%s:%d: a name is longer than %d bytes", source, line_no,
                         FX_PAIR_NAME_MAX - 1);
        } else if (bad_number) {
            st = fx_fail(ctx, FX_ERR_PARSE, "%s:%d: image number '%s' is not a positive integer (numbers are 1-based): "
                         "'%s'", source, line_no, bad_number, original);
        } else if (p->matched && p->number[0] == p->number[1]) {
            st = fx_fail(ctx, FX_ERR_PARSE, "%s:%d: a matched pair of image %d with itself: '%s'", source, line_no,
                         p->number[0], original);
        } else if (!p->matched && !strcmp(p->name[0], p->name[1])) {
            st = fx_fail(ctx, FX_ERR_PARSE,
                         "%s:%d: a mismatched pair names '%s' twice; a pair of one person is written 'NAME N1 N2'",
                         source, line_no, p->name[0]);
        } else if (p->matched && ++matched_in_fold > out->per_fold) {
            st = fx_fail(ctx, FX_ERR_PARSE,
                         "%s:%d: fold %d has more than %d matched pairs; each fold holds %d matched and %d mismatched "
                         "pairs (header '%d %d')",
                         source, line_no, p->fold + 1, out->per_fold, out->per_fold, out->per_fold, out->folds,
                         out->per_fold);
        } else if (!p->matched && (count % (2 * out->per_fold)) + 1 - matched_in_fold > out->per_fold) {
            st = fx_fail(ctx, FX_ERR_PARSE,
                         "%s:%d: fold %d has more than %d mismatched pairs; each fold holds %d matched and %d "
                         "mismatched pairs (header '%d %d')",
                         source, line_no, p->fold + 1, out->per_fold, out->per_fold, out->per_fold, out->folds,
                         out->per_fold);
        }
        count++;
    }
    if (st == FX_OK && !have_header)
        st = fx_fail(ctx, FX_ERR_PARSE, "%s: empty pairs file; the first line must be 'FOLDS PAIRS_PER_FOLD'", source);
    if (st == FX_OK && count < out->n)
        st = fx_fail(ctx, FX_ERR_PARSE,
                     "%s:%d: the file ends after %lld pairs but its header promises %d fold%s x %d matched + %d "
                     "mismatched = %lld; the file is truncated or the header is wrong",
                     source, line_no, (long long)count, out->folds, out->folds == 1 ? "" : "s", out->per_fold,
                     out->per_fold, (long long)out->n);
    free(copy);
    if (st != FX_OK)
        fx_pairs_free(out);
    return st;
}

fx_status fx_pairs_read(fx_context *ctx, const char *path, fx_pairs *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot open the pairs file: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = fx_malloc(ctx, cap, "pairs file");
    fx_status st = buf ? FX_OK : FX_ERR_NOMEM;
    while (st == FX_OK) {
        if (len + 1 == cap) {
            char *bigger = cap < ((size_t)1 << 30) ? realloc(buf, cap * 2) : NULL;
            if (!bigger) {
                st = fx_fail(ctx, FX_ERR_NOMEM, "%s: the pairs file is too large to read", path);
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - 1 - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                st = fx_fail(ctx, FX_ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == FX_OK) {
        buf[len] = '\0';
        if (memchr(buf, '\0', len))
            st = fx_fail(ctx, FX_ERR_PARSE, "%s: not a text file (it holds NUL bytes); a pairs file is LFW's text "
                                            "format", path);
    }
    if (st == FX_OK)
        st = fx_pairs_parse(ctx, buf, path, out);
    free(buf);
    return st;
}

static int compare_pairs(const void *pa, const void *pb)
{
    const fx_pair *a = pa, *b = pb;
    if (a->matched != b->matched)
        return b->matched - a->matched; /* matched first */
    int c = strcmp(a->name[0], b->name[0]);
    if (c)
        return c;
    if (a->number[0] != b->number[0])
        return a->number[0] - b->number[0];
    c = strcmp(a->name[1], b->name[1]);
    if (c)
        return c;
    return a->number[1] - b->number[1];
}

fx_status fx_pairs_write(fx_context *ctx, const char *path, const fx_pairs *p)
{
    if (!p || p->folds < 1 || p->per_fold < 1 || p->n != (int64_t)p->folds * 2 * p->per_fold)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: the pairs set is not FOLDS x (PER_FOLD matched + PER_FOLD "
                                            "mismatched)", path);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory formatting the pairs", path);
    fprintf(f, "%d\t%d\n", p->folds, p->per_fold);
    for (int64_t i = 0; i < p->n; i++) {
        const fx_pair *q = &p->pair[i];
        if (q->matched)
            fprintf(f, "%s\t%d\t%d\n", q->name[0], q->number[0], q->number[1]);
        else
            fprintf(f, "%s\t%d\t%s\t%d\n", q->name[0], q->number[0], q->name[1], q->number[1]);
    }
    int bad = ferror(f);
    fclose(f);
    fx_status st = bad || !text ? fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory formatting the pairs", path)
                                : fx_file_write_atomic(ctx, path, text, size);
    free(text);
    return st;
}

/* ---- images under a root ------------------------------------------------- */

static int is_image_name(const char *name)
{
    static const char *const exts[] = { ".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".pnm" };
    const char *dot = strrchr(name, '.');
    if (!dot || name[0] == '.')
        return 0;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(dot, exts[i]) == 0)
            return 1;
    return 0;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct name_list {
    char **names;
    int n;
} name_list;

static void name_list_free(name_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->n = 0;
}

/* Image files (want_dirs 0) or sub-folders (1) of dir, byte order, dot
 * entries skipped. A missing folder gives FX_ERR_IO. */
static fx_status list_dir(fx_context *ctx, const char *dir, int want_dirs, name_list *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot open the folder: %s", dir, strerror(errno));
    int cap = 0;
    fx_status st = FX_OK;
    struct dirent *e;
    while (st == FX_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[FX_PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0)
            continue;
        if (want_dirs ? !S_ISDIR(sb.st_mode) : !(S_ISREG(sb.st_mode) && is_image_name(e->d_name)))
            continue;
        if (out->n == cap) {
            int ncap = cap ? cap * 2 : 64;
            char **bigger = realloc(out->names, (size_t)ncap * sizeof *bigger);
            if (!bigger) {
                st = fx_fail(ctx, FX_ERR_NOMEM, "out of memory listing %s", dir);
                break;
            }
            out->names = bigger;
            cap = ncap;
        }
        out->names[out->n] = strdup(e->d_name);
        if (!out->names[out->n])
            st = fx_fail(ctx, FX_ERR_NOMEM, "out of memory listing %s", dir);
        else
            out->n++;
    }
    closedir(d);
    if (st == FX_OK && out->n > 1)
        qsort(out->names, (size_t)out->n, sizeof *out->names, compare_strings);
    if (st != FX_OK)
        name_list_free(out);
    return st;
}

/* The LFW file name_%04d.<ext> when it exists. */
static int lfw_file(const char *root, const char *name, int number, char *out, size_t size)
{
    static const char *const exts[] = { "jpg", "jpeg", "png", "pgm", "ppm", "pnm",
                                        "JPG", "JPEG", "PNG", "PGM", "PPM", "PNM" };
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        if ((size_t)snprintf(out, size, "%s/%s/%s_%04d.%s", root, name, name, number, exts[i]) >= size)
            return 0;
        struct stat sb;
        if (stat(out, &sb) == 0 && S_ISREG(sb.st_mode))
            return 1;
    }
    return 0;
}

fx_status fx_pairs_image_path(fx_context *ctx, const char *root, const char *name, int number, char *out,
                              size_t size)
{
    if (number < 1)
        return fx_fail(ctx, FX_ERR_INVALID, "image number %d of '%s': numbers are 1-based", number, name);
    if (strchr(name, '/') || !strcmp(name, "..") || !strcmp(name, "."))
        return fx_fail(ctx, FX_ERR_INVALID, "'%s' is not a person's folder name (it must not hold '/')", name);
    if (lfw_file(root, name, number, out, size))
        return FX_OK;
    char dir[FX_PATH_MAX * 2];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return fx_fail(ctx, FX_ERR_IO, "%s: no folder for '%s' under the image root %s (check --images)", dir, name,
                       root);
    name_list files;
    fx_status st = list_dir(ctx, dir, 0, &files);
    if (st != FX_OK)
        return st;
    if (number > files.n)
        st = fx_fail(ctx, FX_ERR_IO,
                     "'%s' has %d image%s in %s but the pair asks for image %d (and there is no %s_%04d.jpg)", name,
                     files.n, files.n == 1 ? "" : "s", dir, number, name, number);
    else if ((size_t)snprintf(out, size, "%s/%s", dir, files.names[number - 1]) >= size)
        st = fx_fail(ctx, FX_ERR_INVALID, "%s/%s: path too long", dir, files.names[number - 1]);
    name_list_free(&files);
    return st;
}

/* ---- generating pairs ---------------------------------------------------- */

typedef struct gen_person {
    const char *name;
    int *numbers; /* image numbers that resolve to the image of that rank */
    int n;
} gen_person;

/* The numbers of `name` that fx_pairs_image_path maps back to the file
 * of that rank, so a generated pair means the images it was drawn from. */
static fx_status person_numbers(fx_context *ctx, const char *root, const char *name, gen_person *p)
{
    char dir[FX_PATH_MAX * 2];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    name_list files;
    fx_status st = list_dir(ctx, dir, 0, &files);
    if (st != FX_OK)
        return st;
    p->name = name;
    p->n = 0;
    p->numbers = files.n ? fx_malloc(ctx, (size_t)files.n * sizeof(int), "image numbers") : NULL;
    if (files.n && !p->numbers)
        st = FX_ERR_NOMEM;
    for (int k = 1; k <= files.n && st == FX_OK; k++) {
        char path[FX_PATH_MAX * 3], want[FX_PATH_MAX * 3];
        st = fx_pairs_image_path(ctx, root, name, k, path, sizeof path);
        snprintf(want, sizeof want, "%s/%s", dir, files.names[k - 1]);
        if (st == FX_OK && !strcmp(path, want))
            p->numbers[p->n++] = k;
    }
    name_list_free(&files);
    return st;
}

static int same_pair(const fx_pair *a, const fx_pair *b)
{
    return !strcmp(a->name[0], b->name[0]) && !strcmp(a->name[1], b->name[1]) && a->number[0] == b->number[0] &&
           a->number[1] == b->number[1];
}

/* Draws `want` distinct pairs into out: matched (two images of one person
 * of the fold) or mismatched (images of two people), uniformly over all
 * such pairs by rejection. The caller has checked that at least `want`
 * exist; the attempt bound turns a near-exhausted set into an error
 * rather than a long loop. */
static fx_status draw_pairs(fx_context *ctx, gen_person *const *people, int n_people, int matched, int want,
                            fx_rng *rng, fx_pair *out, int fold)
{
    /* Cumulative weights: C(n, 2) per person (matched) or n (images, mismatched). */
    double *cum = fx_malloc(ctx, (size_t)n_people * sizeof(double), "pair weights");
    if (!cum)
        return FX_ERR_NOMEM;
    double total = 0;
    for (int i = 0; i < n_people; i++) {
        double n = people[i]->n;
        total += matched ? n * (n - 1) / 2 : n;
        cum[i] = total;
    }
    int got = 0;
    int64_t attempts = 0, max_attempts = (int64_t)want * 2000 + 100000;
    while (got < want && attempts++ < max_attempts) {
        int idx[2];
        int img[2];
        for (int k = 0; k < (matched ? 1 : 2); k++) {
            double r = (double)fx_rng_next_uniform(rng) * total;
            int lo = 0, hi = n_people - 1;
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (cum[mid] > r)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            idx[k] = lo;
        }
        if (matched) {
            idx[1] = idx[0];
            const gen_person *p = people[idx[0]];
            if (p->n < 2)
                continue;
            img[0] = (int)fx_rng_below(rng, (uint64_t)p->n);
            img[1] = (int)fx_rng_below(rng, (uint64_t)p->n - 1);
            if (img[1] >= img[0])
                img[1]++;
        } else {
            if (idx[0] == idx[1])
                continue;
            img[0] = (int)fx_rng_below(rng, (uint64_t)people[idx[0]]->n);
            img[1] = (int)fx_rng_below(rng, (uint64_t)people[idx[1]]->n);
        }
        /* Canonical order: the smaller number (matched) or name (mismatched) first. */
        int swap = matched ? people[idx[0]]->numbers[img[0]] > people[idx[1]]->numbers[img[1]]
                           : strcmp(people[idx[0]]->name, people[idx[1]]->name) > 0;
        int a = swap ? 1 : 0, b = 1 - a;
        fx_pair q;
        memset(&q, 0, sizeof q);
        q.matched = matched;
        q.fold = fold;
        snprintf(q.name[0], sizeof q.name[0], "%s", people[idx[a]]->name);
        snprintf(q.name[1], sizeof q.name[1], "%s", people[idx[b]]->name);
        q.number[0] = people[idx[a]]->numbers[img[a]];
        q.number[1] = people[idx[b]]->numbers[img[b]];
        int dup = 0;
        for (int i = 0; i < got && !dup; i++)
            dup = same_pair(&out[i], &q);
        if (!dup)
            out[got++] = q;
    }
    free(cum);
    if (got < want)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "fold %d: found only %d distinct %s pairs of the %d asked; lower --per-fold or --folds",
                       fold + 1, got, matched ? "matched" : "mismatched", want);
    return FX_OK;
}

static int listed(const char *name, const char *const *people, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(people[i], name))
            return 1;
    return 0;
}

fx_status fx_pairs_generate(fx_context *ctx, const char *root, const char *const *only, int n_only, int folds,
                            int per_fold, uint64_t seed, fx_pairs *out)
{
    memset(out, 0, sizeof *out);
    if (folds < 1 || per_fold < 1)
        return fx_fail(ctx, FX_ERR_INVALID, "--folds and --per-fold must be at least 1 (got %d and %d)", folds,
                       per_fold);
    if ((int64_t)folds * per_fold > 10000000)
        return fx_fail(ctx, FX_ERR_INVALID, "%d folds of %d pairs is more than fx generates (10^7)", folds, per_fold);
    name_list dirs;
    fx_status st = list_dir(ctx, root, 1, &dirs);
    if (st != FX_OK)
        return fx_fail_prefix(ctx, st, "--images");
    gen_person *people = fx_calloc(ctx, (size_t)(dirs.n ? dirs.n : 1), sizeof *people, "people");
    gen_person **order = fx_calloc(ctx, (size_t)(dirs.n ? dirs.n : 1), sizeof *order, "people order");
    st = people && order ? FX_OK : FX_ERR_NOMEM;
    int n_people = 0;
    for (int i = 0; i < dirs.n && st == FX_OK; i++) {
        if (only && !listed(dirs.names[i], only, n_only))
            continue;
        st = person_numbers(ctx, root, dirs.names[i], &people[n_people]);
        if (st == FX_OK && people[n_people].n > 0)
            n_people++;
        else if (st == FX_OK)
            free(people[n_people].numbers);
    }
    if (st == FX_OK && n_people < 2 * folds)
        st = fx_fail(ctx, FX_ERR_INVALID,
                     "%s has %d people with images; %d folds of distinct people need at least %d (two per fold); "
                     "lower --folds",
                     root, n_people, folds, 2 * folds);
    fx_rng rng;
    fx_rng_seed(&rng, seed);
    if (st == FX_OK) {
        /* Seeded Fisher-Yates over the people, then dealt round-robin. */
        for (int i = 0; i < n_people; i++)
            order[i] = &people[i];
        for (int i = n_people - 1; i > 0; i--) {
            int j = (int)fx_rng_below(&rng, (uint64_t)i + 1);
            gen_person *t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        out->folds = folds;
        out->per_fold = per_fold;
        out->n = (int64_t)folds * 2 * per_fold;
        out->pair = fx_calloc(ctx, (size_t)out->n, sizeof *out->pair, "pairs");
        if (!out->pair)
            st = FX_ERR_NOMEM;
    }
    gen_person **fold_people = st == FX_OK ? fx_calloc(ctx, (size_t)n_people, sizeof *fold_people, "fold people")
                                           : NULL;
    if (st == FX_OK && !fold_people)
        st = FX_ERR_NOMEM;
    for (int f = 0; f < folds && st == FX_OK; f++) {
        int m = 0;
        double matched_total = 0, images = 0, same_images2 = 0;
        for (int i = f; i < n_people; i += folds) {
            fold_people[m++] = order[i];
            double n = order[i]->n;
            matched_total += n * (n - 1) / 2;
            images += n;
            same_images2 += n * n;
        }
        double mismatched_total = (images * images - same_images2) / 2;
        if (matched_total < per_fold || mismatched_total < per_fold) {
            st = fx_fail(ctx, FX_ERR_INVALID,
                         "fold %d (%d people, %.0f images) has only %.0f possible matched and %.0f mismatched pairs, "
                         "fewer than --per-fold %d; lower --per-fold or --folds",
                         f + 1, m, images, matched_total, mismatched_total, per_fold);
            break;
        }
        fx_pair *base = out->pair + (int64_t)f * 2 * per_fold;
        st = draw_pairs(ctx, fold_people, m, 1, per_fold, &rng, base, f);
        if (st == FX_OK)
            st = draw_pairs(ctx, fold_people, m, 0, per_fold, &rng, base + per_fold, f);
        if (st == FX_OK)
            qsort(base, (size_t)2 * per_fold, sizeof *base, compare_pairs);
    }
    free(fold_people);
    for (int i = 0; i < n_people; i++)
        free(people[i].numbers);
    free(people);
    free(order);
    name_list_free(&dirs);
    if (st != FX_OK)
        fx_pairs_free(out);
    return st;
}
