/* core/face/face_crop.c - aligned face crops from dlib imglab XML annotations
 * (fx/face_crop.h).
 *
 * The XML is read with a small scanner of our own that knows only what
 * imglab writes: the tags <image file=...>, <box top left width height
 * [ignore]>, <part name x y/> and their closing tags; anything else
 * (comments, <name>, <dataset>) is skipped. Attribute values are quoted
 * with ' or ". Every number is range-checked; a malformed tag is an error
 * with its line.
 *
 * Alignment: the similarity transform (a, b, tx, ty),
 *     x' = a x - b y + tx,   y' = b x + a y + ty,
 * that minimises sum_i |T(p_i) - q_i|^2 from the 68 landmarks p_i to the
 * placed template points q_i has, with both sets centred on their means
 * (p~, q~),
 *     a = sum(p~x q~x + p~y q~y) / sum|p~|^2,  b = sum(p~x q~y - p~y q~x) / sum|p~|^2,
 * and (tx, ty) = mean(q) - R mean(p). Each crop pixel is sampled from the
 * inverse transform with bilinear interpolation, borders replicated. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx/face.h"
#include "fx/face_crop.h"
#include "fx/file.h"
#include "core/io/image_decode.h"
#include "core/internal.h"

#define FACE_POINTS 68
#define XML_MAX_BYTES (64l << 20)
#define COORD_LIMIT 1.0e6

typedef struct xml_scan {
    const char *path;
    const char *text;
    size_t size, pos;
    int line;
} xml_scan;

typedef struct face_box {
    int line;
    int ignore;
    int n_parts;
    int have[FACE_POINTS];
    float xy[2 * FACE_POINTS];
} face_box;

/* Reads the whole file (bounded) into a NUL-terminated buffer. */
static fx_status read_text(fx_context *ctx, const char *path, char **out, size_t *size)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return fx_fail(ctx, FX_ERR_IO, "%s: not a regular file; pass the imglab XML file", path);
    if (sb.st_size > XML_MAX_BYTES)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: %lld bytes, more than the %ld this reader accepts", path,
                       (long long)sb.st_size, XML_MAX_BYTES);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = fx_malloc(ctx, (size_t)sb.st_size + 1, "the annotation file");
    if (!buf) {
        fclose(f);
        return FX_ERR_NOMEM;
    }
    size_t n = fread(buf, 1, (size_t)sb.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n != (size_t)sb.st_size) {
        free(buf);
        return fx_fail(ctx, FX_ERR_IO, "%s: read failed", path);
    }
    buf[n] = 0;
    *out = buf;
    *size = n;
    return FX_OK;
}

/* Finds attribute `key` in the tag text [tag, end) and copies its value. */
static int tag_attr(const char *tag, const char *end, const char *key, char *value, size_t cap)
{
    size_t klen = strlen(key);
    for (const char *p = tag; p + klen + 2 < end; p++) {
        if ((p == tag || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n' || p[-1] == '\r') &&
            !strncmp(p, key, klen) && p[klen] == '=' && (p[klen + 1] == '\'' || p[klen + 1] == '"')) {
            char quote = p[klen + 1];
            const char *v = p + klen + 2;
            const char *close = memchr(v, quote, (size_t)(end - v));
            if (!close || (size_t)(close - v) >= cap)
                return -1;
            memcpy(value, v, (size_t)(close - v));
            value[close - v] = 0;
            return 1;
        }
    }
    return 0;
}

static fx_status attr_number(fx_context *ctx, const xml_scan *s, const char *tag, const char *end, const char *key,
                             double lo, double hi, int required, double *out)
{
    char v[64];
    int r = tag_attr(tag, end, key, v, sizeof v);
    if (r == 0 && !required)
        return FX_OK;
    if (r <= 0)
        return fx_fail(ctx, FX_ERR_PARSE, "%s:%d: %s attribute '%s'", s->path, s->line,
                       r == 0 ? "missing" : "unterminated or too long", key);
    char *e;
    errno = 0;
    double x = strtod(v, &e);
    if (e == v || *e || errno || !(x >= lo && x <= hi))
        return fx_fail(ctx, FX_ERR_PARSE, "%s:%d: %s='%s' is not a number in [%g, %g]", s->path, s->line, key, v,
                       lo, hi);
    *out = x;
    return FX_OK;
}

/* Solves the similarity transform from p to q (n points each). Returns -1
 * when p is degenerate (all points equal). */
static int similarity_fit(const float *p, const float *q, int n, double t[4])
{
    double mpx = 0, mpy = 0, mqx = 0, mqy = 0;
    for (int i = 0; i < n; i++) {
        mpx += p[2 * i];
        mpy += p[2 * i + 1];
        mqx += q[2 * i];
        mqy += q[2 * i + 1];
    }
    mpx /= n, mpy /= n, mqx /= n, mqy /= n;
    double sa = 0, sb = 0, ss = 0;
    for (int i = 0; i < n; i++) {
        double px = p[2 * i] - mpx, py = p[2 * i + 1] - mpy;
        double qx = q[2 * i] - mqx, qy = q[2 * i + 1] - mqy;
        sa += px * qx + py * qy;
        sb += px * qy - py * qx;
        ss += px * px + py * py;
    }
    if (!(ss > 1e-9))
        return -1;
    double a = sa / ss, b = sb / ss;
    t[0] = a;
    t[1] = b;
    t[2] = mqx - (a * mpx - b * mpy);
    t[3] = mqy - (b * mpx + a * mpy);
    return 0;
}

/* Bilinear sample of an HWC RGB image at (x, y), borders replicated. */
static void sample_rgb(const fx_image_u8 *img, double x, double y, uint8_t *out)
{
    if (x < 0)
        x = 0;
    if (y < 0)
        y = 0;
    if (x > img->width - 1)
        x = img->width - 1;
    if (y > img->height - 1)
        y = img->height - 1;
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < img->width ? x0 + 1 : x0, y1 = y0 + 1 < img->height ? y0 + 1 : y0;
    double fx = x - x0, fy = y - y0;
    const uint8_t *r0 = img->pixels + (size_t)y0 * img->width * 3, *r1 = img->pixels + (size_t)y1 * img->width * 3;
    for (int c = 0; c < 3; c++) {
        double top = r0[x0 * 3 + c] * (1 - fx) + r0[x1 * 3 + c] * fx;
        double bot = r1[x0 * 3 + c] * (1 - fx) + r1[x1 * 3 + c] * fx;
        double v = top * (1 - fy) + bot * fy + 0.5;
        out[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* Writes a binary PPM (P6) atomically (fx_file_write_atomic). */
static fx_status write_ppm(fx_context *ctx, const char *path, const uint8_t *rgb, int w, int h)
{
    char header[64];
    int hn = snprintf(header, sizeof header, "P6\n%d %d\n255\n", w, h);
    size_t pixels = (size_t)w * (size_t)h * 3;
    uint8_t *buf = fx_malloc(ctx, (size_t)hn + pixels, "a face crop file");
    if (!buf)
        return FX_ERR_NOMEM;
    memcpy(buf, header, (size_t)hn);
    memcpy(buf + hn, rgb, pixels);
    fx_status st = fx_file_write_atomic(ctx, path, buf, (size_t)hn + pixels);
    free(buf);
    return st;
}

typedef struct crop_job {
    fx_context *ctx;
    char xml_dir[PATH_MAX];
    const char *out_dir;
    char id_dir[PATH_MAX];
    int size;
    float target[2 * FACE_POINTS];   /* the placed template, crop pixels */
    uint8_t *crop;                   /* size * size * 3 */
    FILE *csv;
    char csv_tmp[PATH_MAX + 32];
    char image[PATH_MAX];            /* current <image file=...> */
    char image_stem[256];
    fx_image_u8 decoded;             /* the current image, decoded on its first face */
    int decoded_ok;
    int box_index;
    int written, skipped;
} crop_job;

static fx_status crop_face(crop_job *j, const xml_scan *s, const face_box *box)
{
    fx_context *ctx = j->ctx;
    if (!j->decoded_ok) {
        char path[2 * PATH_MAX + 2], err[512];
        if (j->image[0] == '/')
            snprintf(path, sizeof path, "%s", j->image);
        else
            snprintf(path, sizeof path, "%s/%s", j->xml_dir, j->image);
        fx_status st = fx_image_decode_file(path, &j->decoded, err, sizeof err);
        if (st == FX_OK)
            st = fx_image_convert_channels(&j->decoded, 3, err, sizeof err);
        if (st != FX_OK)
            return fx_fail(ctx, st, "%s:%d: image '%s': %s", s->path, box->line, j->image, err);
        j->decoded_ok = 1;
    }
    double t[4];
    if (similarity_fit(box->xy, j->target, FACE_POINTS, t) != 0)
        return fx_fail(ctx, FX_ERR_INVALID, "%s:%d: the 68 landmarks of this box are all at one point", s->path,
                       box->line);
    /* Inverse: p = R^-1 (q - t), R^-1 = [a b; -b a] / (a^2 + b^2). */
    double det = t[0] * t[0] + t[1] * t[1];
    for (int v = 0; v < j->size; v++)
        for (int u = 0; u < j->size; u++) {
            double qx = u - t[2], qy = v - t[3];
            double px = (t[0] * qx + t[1] * qy) / det, py = (-t[1] * qx + t[0] * qy) / det;
            sample_rgb(&j->decoded, px, py, j->crop + ((size_t)v * j->size + u) * 3);
        }
    char name[512], path[PATH_MAX + 600];
    snprintf(name, sizeof name, "%s_%d.ppm", j->image_stem, j->box_index);
    snprintf(path, sizeof path, "%s/%s", j->id_dir, name);
    fx_status st = write_ppm(ctx, path, j->crop, j->size, j->size);
    if (st != FX_OK)
        return st;
    const char *identity = strrchr(j->id_dir, '/');
    fprintf(j->csv, "%s/%s", identity ? identity + 1 : j->id_dir, name);
    for (int i = 0; i < FACE_POINTS; i++) {
        double x = box->xy[2 * i], y = box->xy[2 * i + 1];
        fprintf(j->csv, ",%.3f,%.3f", t[0] * x - t[1] * y + t[2], t[1] * x + t[0] * y + t[3]);
    }
    fputc('\n', j->csv);
    j->written++;
    return FX_OK;
}

/* Handles one tag [tag, end) (tag points after '<'). */
static fx_status handle_tag(crop_job *j, xml_scan *s, const char *tag, const char *end, face_box *box, int *in_box)
{
    fx_context *ctx = j->ctx;
    if (!strncmp(tag, "image ", 6) || !strncmp(tag, "image\t", 6) || !strncmp(tag, "image\n", 6)) {
        int r = tag_attr(tag, end, "file", j->image, sizeof j->image);
        if (r <= 0 || !j->image[0])
            return fx_fail(ctx, FX_ERR_PARSE, "%s:%d: <image> without a usable file='...' attribute", s->path,
                           s->line);
        fx_image_free(&j->decoded);
        j->decoded_ok = 0;
        j->box_index = 0;
        const char *base = strrchr(j->image, '/');
        base = base ? base + 1 : j->image;
        snprintf(j->image_stem, sizeof j->image_stem, "%s", base);
        char *dot = strrchr(j->image_stem, '.');
        if (dot && dot != j->image_stem)
            *dot = 0;
        for (char *c = j->image_stem; *c; c++)
            if (*c == ',' || *c == '"' || *c == '\n')
                *c = '_';
        return FX_OK;
    }
    if (!strncmp(tag, "box", 3) && (tag[3] == ' ' || tag[3] == '\t' || tag[3] == '\n' || tag[3] == '>')) {
        if (!j->image[0])
            return fx_fail(ctx, FX_ERR_PARSE, "%s:%d: <box> outside an <image>", s->path, s->line);
        memset(box, 0, sizeof *box);
        box->line = s->line;
        double ign = 0;
        fx_status st = attr_number(ctx, s, tag, end, "ignore", 0, 1, 0, &ign);
        if (st != FX_OK)
            return st;
        box->ignore = ign != 0;
        *in_box = 1;
        if (end > tag && end[-1] == '/') { /* <box .../>: no parts */
            *in_box = 0;
            j->skipped++;
            j->box_index++;
        }
        return FX_OK;
    }
    if (!strncmp(tag, "part", 4) && (tag[4] == ' ' || tag[4] == '\t' || tag[4] == '\n')) {
        if (!*in_box)
            return fx_fail(ctx, FX_ERR_PARSE, "%s:%d: <part> outside a <box>", s->path, s->line);
        double idx = 0, x = 0, y = 0;
        fx_status st = attr_number(ctx, s, tag, end, "name", 0, FACE_POINTS - 1, 1, &idx);
        if (st == FX_OK)
            st = attr_number(ctx, s, tag, end, "x", -COORD_LIMIT, COORD_LIMIT, 1, &x);
        if (st == FX_OK)
            st = attr_number(ctx, s, tag, end, "y", -COORD_LIMIT, COORD_LIMIT, 1, &y);
        if (st != FX_OK)
            return fx_fail_prefix(ctx, st, "a 68-point face has parts named 00 to 67");
        int i = (int)idx;
        if (idx != i)
            return fx_fail(ctx, FX_ERR_PARSE, "%s:%d: part name %g is not a whole number", s->path, s->line, idx);
        if (box->have[i])
            return fx_fail(ctx, FX_ERR_PARSE, "%s:%d: part %02d given twice in one box", s->path, s->line, i);
        box->have[i] = 1;
        box->n_parts++;
        box->xy[2 * i] = (float)x;
        box->xy[2 * i + 1] = (float)y;
        return FX_OK;
    }
    if (!strncmp(tag, "/box", 4)) {
        if (!*in_box)
            return fx_fail(ctx, FX_ERR_PARSE, "%s:%d: </box> without <box>", s->path, s->line);
        *in_box = 0;
        fx_status st = FX_OK;
        if (box->ignore || box->n_parts != FACE_POINTS)
            j->skipped++;
        else
            st = crop_face(j, s, box);
        j->box_index++;
        return st;
    }
    if (!strncmp(tag, "/image", 6)) {
        fx_image_free(&j->decoded);
        j->decoded_ok = 0;
        j->image[0] = 0;
    }
    return FX_OK;
}

static fx_status scan_xml(crop_job *j, xml_scan *s)
{
    face_box box;
    int in_box = 0;
    memset(&box, 0, sizeof box);
    while (s->pos < s->size) {
        char c = s->text[s->pos];
        if (c == '\n')
            s->line++;
        if (c != '<') {
            s->pos++;
            continue;
        }
        const char *tag = s->text + s->pos + 1;
        if (!strncmp(tag, "!--", 3)) { /* comment */
            const char *close = strstr(tag, "-->");
            if (!close)
                return fx_fail(j->ctx, FX_ERR_PARSE, "%s:%d: unterminated comment", s->path, s->line);
            for (const char *p = tag; p < close; p++)
                s->line += *p == '\n';
            s->pos = (size_t)(close + 3 - s->text);
            continue;
        }
        const char *end = memchr(tag, '>', s->size - s->pos - 1);
        if (!end)
            return fx_fail(j->ctx, FX_ERR_PARSE, "%s:%d: unterminated tag", s->path, s->line);
        int start_line = s->line;
        for (const char *p = tag; p < end; p++)
            s->line += *p == '\n';
        int end_line = s->line;
        s->line = start_line;
        fx_status st = handle_tag(j, s, tag, end, &box, &in_box);
        if (st != FX_OK)
            return st;
        s->line = end_line;
        s->pos = (size_t)(end + 1 - s->text);
    }
    if (in_box)
        return fx_fail(j->ctx, FX_ERR_PARSE, "%s:%d: the file ends inside a <box>", s->path, s->line);
    return FX_OK;
}

static fx_status make_dir(fx_context *ctx, const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return fx_fail(ctx, FX_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return fx_fail(ctx, FX_ERR_IO, "%s: exists and is not a folder", path);
    return FX_OK;
}

fx_status fx_face_crop_dlib_xml(fx_context *ctx, const char *const *xml_paths, int n_xml, const char *out_dir,
                                const fx_face_crop_options *opt, int *written, int *skipped)
{
    fx_face_crop_options o = { 150, 0.25f, "faces" };
    if (opt) {
        if (opt->size)
            o.size = opt->size;
        if (opt->padding != 0)
            o.padding = opt->padding;
        if (opt->identity)
            o.identity = opt->identity;
    }
    if (o.size < 8 || o.size > 4096)
        return fx_fail(ctx, FX_ERR_INVALID, "crop size %d is out of range [8, 4096]", o.size);
    if (!(o.padding >= 0 && o.padding <= 4))
        return fx_fail(ctx, FX_ERR_INVALID, "padding %g is out of range [0, 4]", (double)o.padding);
    if (!o.identity[0] || strchr(o.identity, '/') || o.identity[0] == '.')
        return fx_fail(ctx, FX_ERR_INVALID, "identity '%s' must be a plain folder name", o.identity);

    if (n_xml < 1)
        return fx_fail(ctx, FX_ERR_INVALID, "no landmark XML file given");
    crop_job j;
    memset(&j, 0, sizeof j);
    j.ctx = ctx;
    j.out_dir = out_dir;
    j.size = o.size;
    if (snprintf(j.id_dir, sizeof j.id_dir, "%s/%s", out_dir, o.identity) >= (int)sizeof j.id_dir)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: output path too long", out_dir);

    float tmpl[2 * FACE_POINTS];
    fx_status st = fx_face_template68(ctx, 1000, tmpl);
    if (st != FX_OK)
        return st;
    for (int i = 0; i < 2 * FACE_POINTS; i++)
        j.target[i] = (float)(o.size * (tmpl[i] / 1000.0 + o.padding) / (1 + 2 * o.padding));

    char *text = NULL;
    st = make_dir(ctx, out_dir);
    if (st == FX_OK)
        st = make_dir(ctx, j.id_dir);
    if (st == FX_OK && !(j.crop = fx_malloc(ctx, (size_t)o.size * o.size * 3, "a face crop")))
        st = FX_ERR_NOMEM;
    char csv_path[PATH_MAX + 16];
    snprintf(csv_path, sizeof csv_path, "%s/landmarks.csv", out_dir);
    snprintf(j.csv_tmp, sizeof j.csv_tmp, "%s.tmp.%ld", csv_path, (long)getpid());
    if (st == FX_OK && !(j.csv = fopen(j.csv_tmp, "w")))
        st = fx_fail(ctx, FX_ERR_IO, "%s: cannot create: %s", j.csv_tmp, strerror(errno));
    for (int x = 0; x < n_xml && st == FX_OK; x++) {
        const char *xml_path = xml_paths[x];
        const char *slash = strrchr(xml_path, '/');
        if (slash)
            snprintf(j.xml_dir, sizeof j.xml_dir, "%.*s", (int)(slash - xml_path), xml_path);
        else
            snprintf(j.xml_dir, sizeof j.xml_dir, ".");
        size_t size = 0;
        free(text);
        text = NULL;
        st = read_text(ctx, xml_path, &text, &size);
        if (st == FX_OK) {
            xml_scan s = { xml_path, text, size, 0, 1 };
            j.image[0] = 0;
            st = scan_xml(&j, &s);
        }
    }
    if (j.csv) {
        int bad = fflush(j.csv) != 0;
        bad |= ferror(j.csv) != 0;
        bad |= fclose(j.csv) != 0;
        if (st == FX_OK && bad)
            st = fx_fail(ctx, FX_ERR_IO, "%s: write failed", j.csv_tmp);
        if (st == FX_OK && j.written == 0)
            st = fx_fail(ctx, FX_ERR_INVALID,
                         "%s: no face with 68 landmarks (<box> with parts 00-67); is this an imglab landmark file?",
                         xml_paths[0]);
        if (st == FX_OK && rename(j.csv_tmp, csv_path) != 0)
            st = fx_fail(ctx, FX_ERR_IO, "%s: cannot rename into place: %s", csv_path, strerror(errno));
        if (st != FX_OK)
            unlink(j.csv_tmp);
    }
    fx_image_free(&j.decoded);
    free(j.crop);
    free(text);
    if (written)
        *written = j.written;
    if (skipped)
        *skipped = j.skipped;
    return st;
}
