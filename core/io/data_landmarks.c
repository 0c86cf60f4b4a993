/* core/io/data_landmarks.c - the per-image landmarks CSV of an ImageFolder
 * source (`landmarks: FILE` next to `imagefolder: ROOT`).
 *
 * Format (docs/data.md "Landmarks"): one line per image,
 *   image,x1,y1,x2,y2,...,xP,yP
 * with `image` the path relative to the root (`alice/01.jpg`) and the
 * points in pixels of that image as stored on disk (before data.box and the
 * resize; the centre of pixel (j, i) is (j, i)). An optional first line
 * whose first field is `image` is a header. Empty lines and lines starting
 * with '#' are skipped; CRLF line ends are accepted. P (1 to 1024) comes
 * from the header or the first row; every row must have it.
 *
 * Errors name file:line and the fix: a field that is not a finite number,
 * a wrong number of fields, an image listed twice, an image that is not a
 * file under the root. A row for an existing file that the data set does
 * not hold (another split part, past `limit`, not an image) is skipped;
 * images without a row get NaN points. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/io/dataset.h"

#define LANDMARKS_MAX_POINTS 1024
#define LANDMARKS_MAX_BYTES (1ll << 30)

typedef struct csv_row {
    const char *name;
    int line;
    size_t values; /* offset into the value array */
} csv_row;

typedef struct csv_table {
    csv_row *rows;
    size_t n, cap;
    float *values;
    size_t n_values, cap_values;
} csv_table;

static void csv_table_free(csv_table *t)
{
    free(t->rows);
    free(t->values);
}

static fx_status read_whole_file(fx_context *ctx, const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot open the landmarks file: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            if ((long long)cap > LANDMARKS_MAX_BYTES) {
                free(buf);
                fclose(f);
                return fx_fail(ctx, FX_ERR_INVALID, "%s: the landmarks file is larger than 1 GiB", path);
            }
            size_t ncap = cap ? 2 * cap : 131072;
            char *grown = realloc(buf, ncap);
            if (!grown) {
                free(buf);
                fclose(f);
                return fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory reading the landmarks file", path);
            }
            buf = grown;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return fx_fail(ctx, FX_ERR_IO, "%s: read error in the landmarks file", path);
    }
    buf[len] = '\0';
    *out = buf;
    return FX_OK;
}

/* Splits `line` (NUL-terminated, modified) at commas into fields, trimming
 * spaces. Returns the count; stores at most max pointers. */
static int split_fields(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        char *start = p;
        while (*p && *p != ',')
            p++;
        char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        int last = *p == '\0';
        *end = '\0';
        if (n < max)
            fields[n] = start;
        n++;
        if (last)
            break;
        p++;
    }
    return n;
}

static fx_status parse_csv(fx_context *ctx, const char *path, char *text, csv_table *t, int *n_points)
{
    int max_fields = 1 + 2 * LANDMARKS_MAX_POINTS + 1;
    char **fields = fx_malloc(ctx, (size_t)max_fields * sizeof(char *), "landmark fields");
    if (!fields)
        return FX_ERR_NOMEM;
    fx_status st = FX_OK;
    int points = 0, points_line = 0, line_no = 0;
    char *p = text;
    while (*p && st == FX_OK) {
        line_no++;
        char *line = p;
        char *nl = strchr(p, '\n');
        if (nl) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p += strlen(p);
        }
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        const char *q = line;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '\0' || *q == '#')
            continue;
        int nf = split_fields(line, fields, max_fields);
        if (nf > max_fields - 1) {
            st = fx_fail(ctx, FX_ERR_INVALID, "%s:%d: %d fields; at most %d points (x, y) per image are supported",
                         path, line_no, nf, LANDMARKS_MAX_POINTS);
            break;
        }
        int header = t->n == 0 && points == 0 && strcmp(fields[0], "image") == 0;
        if (points != 0 && nf != 1 + 2 * points) {
            st = fx_fail(ctx, FX_ERR_INVALID,
                         "%s:%d: %d coordinates, expected %d (x and y for the %d points of line %d)", path, line_no,
                         nf - 1, 2 * points, points, points_line);
            break;
        }
        if (nf < 3 || (nf - 1) % 2 != 0) {
            st = fx_fail(ctx, FX_ERR_INVALID,
                         "%s:%d: %d fields; a row is 'image,x1,y1,...,xP,yP' (the image, then an x and a y per "
                         "point)",
                         path, line_no, nf);
            break;
        }
        if (points == 0) {
            points = (nf - 1) / 2;
            points_line = line_no;
        }
        if (header)
            continue;
        if (fields[0][0] == '\0') {
            st = fx_fail(ctx, FX_ERR_INVALID, "%s:%d: the image field is empty; give its path under the root",
                         path, line_no);
            break;
        }
        if (t->n == t->cap) {
            size_t ncap = t->cap ? 2 * t->cap : 256;
            csv_row *grown = realloc(t->rows, ncap * sizeof *grown);
            if (!grown) {
                st = fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory reading landmarks", path);
                break;
            }
            t->rows = grown;
            t->cap = ncap;
        }
        if (t->n_values + (size_t)(2 * points) > t->cap_values) {
            size_t ncap = t->cap_values ? 2 * t->cap_values : 4096;
            while (ncap < t->n_values + (size_t)(2 * points))
                ncap *= 2;
            float *grown = realloc(t->values, ncap * sizeof *grown);
            if (!grown) {
                st = fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory reading landmarks", path);
                break;
            }
            t->values = grown;
            t->cap_values = ncap;
        }
        for (int k = 1; k < nf; k++) {
            char *end;
            errno = 0;
            double v = strtod(fields[k], &end);
            if (fields[k][0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v) || fabs(v) > 1e7) {
                st = fx_fail(ctx, FX_ERR_PARSE,
                             "%s:%d: field %d ('%s', the %c of point %d) is not a finite number of pixels", path,
                             line_no, k + 1, fields[k], k % 2 ? 'x' : 'y', (k + 1) / 2);
                break;
            }
            t->values[t->n_values + (size_t)(k - 1)] = (float)v;
        }
        if (st != FX_OK)
            break;
        t->rows[t->n] = (csv_row){fields[0], line_no, t->n_values};
        t->n++;
        t->n_values += (size_t)(2 * points);
    }
    free(fields);
    if (st == FX_OK && t->n == 0)
        st = fx_fail(ctx, FX_ERR_INVALID, "%s: no landmark rows; expected lines 'image,x1,y1,...'", path);
    *n_points = points;
    return st;
}

static int compare_rows(const void *a, const void *b)
{
    const csv_row *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

typedef struct named_index {
    const char *name;
    int64_t index;
} named_index;

static int compare_named(const void *a, const void *b)
{
    return strcmp(((const named_index *)a)->name, ((const named_index *)b)->name);
}

fx_status fx_data_landmarks_read(fx_context *ctx, const fx_data_source *src, fx_dataset *ds)
{
    const char *path = src->landmarks;
    char *text;
    fx_status st = read_whole_file(ctx, path, &text);
    if (st != FX_OK)
        return st;
    csv_table t = {0};
    int points = 0;
    named_index *by_name = NULL;
    st = parse_csv(ctx, path, text, &t, &points);
    if (st != FX_OK)
        goto done;
    /* Duplicates: rows sorted by name, then line. */
    qsort(t.rows, t.n, sizeof *t.rows, compare_rows);
    for (size_t r = 1; r < t.n; r++)
        if (strcmp(t.rows[r].name, t.rows[r - 1].name) == 0) {
            st = fx_fail(ctx, FX_ERR_INVALID, "%s:%d: image '%s' is listed again (first on line %d); keep one row",
                         path, t.rows[r].line, t.rows[r].name, t.rows[r - 1].line);
            goto done;
        }
    /* The data set's files by their path under the root. */
    size_t root_len = strlen(src->root);
    by_name = fx_malloc(ctx, (size_t)(ds->n ? ds->n : 1) * sizeof *by_name, "landmark index");
    ds->landmarks = fx_malloc(ctx, (size_t)ds->n * (size_t)points * 2 * sizeof(float) + 1, "landmarks");
    if (!by_name || !ds->landmarks) {
        st = FX_ERR_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < ds->n; i++)
        by_name[i] = (named_index){ds->files[i] + root_len + 1, i};
    qsort(by_name, (size_t)ds->n, sizeof *by_name, compare_named);
    size_t total = (size_t)ds->n * (size_t)points * 2;
    for (size_t k = 0; k < total; k++)
        ds->landmarks[k] = NAN;
    ds->n_points = points;
    char file[3 * FX_PATH_MAX];
    for (size_t r = 0; r < t.n; r++) {
        named_index key = {t.rows[r].name, 0};
        named_index *hit = bsearch(&key, by_name, (size_t)ds->n, sizeof *by_name, compare_named);
        if (hit) {
            memcpy(ds->landmarks + (size_t)hit->index * (size_t)points * 2, t.values + t.rows[r].values,
                   (size_t)points * 2 * sizeof(float));
            continue;
        }
        struct stat sb;
        snprintf(file, sizeof file, "%s/%s", src->root, t.rows[r].name);
        if (stat(file, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            st = fx_fail(ctx, FX_ERR_INVALID,
                         "%s:%d: image '%s' is not a file under %s; image paths are relative to the ImageFolder "
                         "root, e.g. 'alice/01.jpg'",
                         path, t.rows[r].line, t.rows[r].name, src->root);
            goto done;
        }
    }
done:
    if (st != FX_OK) {
        free(ds->landmarks);
        ds->landmarks = NULL;
        ds->n_points = 0;
    }
    free(by_name);
    csv_table_free(&t);
    free(text);
    return st;
}
