/* tests/test_npy.c - NumPy .npy reading and writing (core/io/npy.c): round
 * trips of f32/i32 arrays from 0-d to 6-d, the exact header numpy writes,
 * hand-written fixtures for every accepted dtype and format version, and
 * refusal of corrupt files with messages that name the file and the fix. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fxtest.h"

static char *tmpdir;
static fx_context *ctx;

static void setup(void)
{
    tmpdir = fxtest_tempdir();
    ctx = fxtest_context();
}

static void teardown(void)
{
    fxtest_remove_tree(tmpdir);
    free(tmpdir);
    fx_context_destroy(ctx);
}

static const char *tmp_path(const char *name)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* Writes a .npy file by hand: magic, version, header padded to 64 bytes
 * (newline last), then `n` raw data bytes. */
static void write_npy_raw(const char *path, int major, const char *dict, const void *data, size_t n)
{
    unsigned char buf[4096];
    size_t prefix = major == 1 ? 10 : 12;
    size_t len = strlen(dict);
    size_t total = (prefix + len + 1 + 63) / 64 * 64;
    size_t header_len = total - prefix;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (unsigned char)(header_len & 0xff);
        buf[9] = (unsigned char)(header_len >> 8);
    } else {
        buf[8] = (unsigned char)(header_len & 0xff);
        buf[9] = (unsigned char)(header_len >> 8);
        buf[10] = buf[11] = 0;
    }
    memcpy(buf + prefix, dict, len);
    memset(buf + prefix + len, ' ', total - prefix - len - 1);
    buf[total - 1] = '\n';
    ck_assert_uint_le(total + n, sizeof buf);
    memcpy(buf + total, data, n);
    write_bytes(path, buf, total + n);
}

static long file_size(const char *path)
{
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    return (long)sb.st_size;
}

static void expect_read_error(const char *path, fx_status status, const char *needle1, const char *needle2)
{
    fx_array a;
    fx_context_clear_error(ctx);
    fx_status st = fx_npy_read(ctx, path, &a);
    const char *msg = fx_context_error(ctx);
    ck_assert_msg(st == status, "expected status %s, got %s (%s)", fx_status_name(status), fx_status_name(st),
                  msg);
    ck_assert_ptr_null(a.data);
    ck_assert_msg(strstr(msg, path), "message does not name the file: %s", msg);
    if (needle1)
        ck_assert_msg(strstr(msg, needle1), "message lacks '%s': %s", needle1, msg);
    if (needle2)
        ck_assert_msg(strstr(msg, needle2), "message lacks '%s': %s", needle2, msg);
}

START_TEST(test_npy_round_trip_f32_and_i32_of_every_rank)
{
    static const int64_t shapes[][FX_MAX_DIMS] = {{0}, {7}, {2, 3}, {0, 4}, {2, 1, 3}, {1, 2, 1, 2, 1, 2}};
    static const int ranks[] = {0, 1, 2, 2, 3, 6};
    for (size_t k = 0; k < sizeof ranks / sizeof ranks[0]; k++) {
        for (int dt = 0; dt < 2; dt++) {
            fx_array a = {dt ? FX_I32 : FX_F32, fx_shape_make(ranks[k], shapes[k]), NULL};
            int64_t n = fx_shape_numel(&a.shape);
            a.data = malloc((size_t)(n ? n : 1) * 4);
            ck_assert_ptr_nonnull(a.data);
            for (int64_t i = 0; i < n; i++) {
                if (dt)
                    ((int32_t *)a.data)[i] = (int32_t)(i * 7919 - 50000) * (i % 2 ? -1 : 1);
                else
                    ((float *)a.data)[i] = (float)i * 0.37f - 1e-3f + (i == 1 ? 3.4e38f : 0);
            }
            const char *path = tmp_path("round.npy");
            ck_assert_msg(fx_npy_write(ctx, path, &a) == FX_OK, "%s", fx_context_error(ctx));
            /* Data starts on a 64-byte boundary, as numpy writes it. */
            ck_assert_int_eq((file_size(path) - n * 4) % 64, 0);
            fx_array b;
            ck_assert_msg(fx_npy_read(ctx, path, &b) == FX_OK, "%s", fx_context_error(ctx));
            ck_assert_int_eq(b.dtype, a.dtype);
            ck_assert_int_eq(b.shape.ndim, ranks[k]);
            ck_assert(fx_shape_equal(&a.shape, &b.shape));
            ck_assert_int_eq(fx_shape_numel(&b.shape), n);
            ck_assert(n == 0 || memcmp(a.data, b.data, (size_t)n * 4) == 0);
            fx_array_free(&a);
            fx_array_free(&b);
            ck_assert_ptr_null(b.data);
        }
    }
}
END_TEST

START_TEST(test_npy_write_produces_numpy_header_and_no_temp_file)
{
    float v[6] = {1, 2, 3, 4, 5, 6};
    fx_array a = {FX_F32, fx_shape_2d(2, 3), v};
    const char *path = tmp_path("hdr.npy");
    ck_assert_int_eq(fx_npy_write(ctx, path, &a), FX_OK);
    char buf[128 + 24];
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(buf, 1, sizeof buf, f), sizeof buf);
    fclose(f);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    ck_assert(memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0);
    /* 10 + 60 + 1 bytes round up to 128 (numpy.save pads to 64 bytes too). */
    ck_assert_int_eq((unsigned char)buf[8] | (unsigned char)buf[9] << 8, 128 - 10);
    ck_assert(memcmp(buf + 10, dict, strlen(dict)) == 0);
    for (int i = 10 + (int)strlen(dict); i < 127; i++)
        ck_assert_int_eq(buf[i], ' ');
    ck_assert_int_eq(buf[127], '\n');
    ck_assert(memcmp(buf + 128, v, sizeof v) == 0);

    /* 1-d shapes are written as Python 1-tuples. */
    fx_array b = {FX_I32, fx_shape_1d(1), (int32_t[]){42}};
    ck_assert_int_eq(fx_npy_write(ctx, path, &b), FX_OK);
    f = fopen(path, "rb");
    ck_assert_uint_eq(fread(buf, 1, 132, f), 132);
    fclose(f);
    ck_assert(strstr(buf + 10, "'descr': '<i4', 'fortran_order': False, 'shape': (1,), }") != NULL);

    /* Only the file itself is left: the temp file was renamed. */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') {
            entries++;
            ck_assert_str_eq(e->d_name, "hdr.npy");
        }
    closedir(d);
    ck_assert_int_eq(entries, 1);
}
END_TEST

START_TEST(test_npy_write_to_missing_folder_fails_cleanly)
{
    float v = 1;
    fx_array a = {FX_F32, fx_shape_1d(1), &v};
    char path[700];
    snprintf(path, sizeof path, "%s/no/such/dir/x.npy", tmpdir);
    ck_assert_int_eq(fx_npy_write(ctx, path, &a), FX_ERR_IO);
    ck_assert(strstr(fx_context_error(ctx), "x.npy") != NULL);
}
END_TEST

START_TEST(test_npy_reads_f8_i8_u1_b1_fixtures)
{
    double d[3] = {1.5, -2.25, 1e10};
    write_npy_raw(tmp_path("f8.npy"), 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", d, sizeof d);
    int64_t l[4] = {0, -1, 2147483647LL, -2147483648LL};
    write_npy_raw(tmp_path("i8.npy"), 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", l,
                  sizeof l);
    unsigned char u[3] = {0, 200, 255};
    write_npy_raw(tmp_path("u1.npy"), 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", u, 3);
    unsigned char b[4] = {1, 0, 0, 1};
    write_npy_raw(tmp_path("b1.npy"), 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }", b, 4);

    fx_array a;
    ck_assert_msg(fx_npy_read(ctx, tmp_path("f8.npy"), &a) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(a.dtype, FX_F32);
    ck_assert_int_eq(a.shape.ndim, 1);
    ck_assert_int_eq(a.shape.dim[0], 3);
    ck_assert_float_eq(((float *)a.data)[0], 1.5f);
    ck_assert_float_eq(((float *)a.data)[1], -2.25f);
    ck_assert_float_eq(((float *)a.data)[2], 1e10f);
    fx_array_free(&a);

    ck_assert_msg(fx_npy_read(ctx, tmp_path("i8.npy"), &a) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(a.dtype, FX_I32);
    ck_assert_int_eq(a.shape.ndim, 2);
    int32_t *i = a.data;
    ck_assert(i[0] == 0 && i[1] == -1 && i[2] == INT32_MAX && i[3] == INT32_MIN);
    fx_array_free(&a);

    ck_assert_msg(fx_npy_read(ctx, tmp_path("u1.npy"), &a) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(a.dtype, FX_I32);
    i = a.data;
    ck_assert(i[0] == 0 && i[1] == 200 && i[2] == 255);
    fx_array_free(&a);

    ck_assert_msg(fx_npy_read(ctx, tmp_path("b1.npy"), &a) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(a.dtype, FX_I32);
    i = a.data;
    ck_assert(i[0] == 1 && i[1] == 0 && i[2] == 0 && i[3] == 1);
    fx_array_free(&a);
}
END_TEST

START_TEST(test_npy_reads_versions_2_and_3_and_0d_arrays)
{
    float v[2] = {3.0f, -4.0f};
    write_npy_raw(tmp_path("v2.npy"), 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}", v, 8);
    write_npy_raw(tmp_path("v3.npy"), 3, "{\"shape\": (2,), \"descr\": \"<f4\", \"fortran_order\": False}", v, 8);
    write_npy_raw(tmp_path("0d.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", v, 4);
    fx_array a;
    ck_assert_msg(fx_npy_read(ctx, tmp_path("v2.npy"), &a) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(a.shape.ndim, 2);
    ck_assert_int_eq(a.shape.dim[1], 2);
    ck_assert_float_eq(((float *)a.data)[1], -4.0f);
    fx_array_free(&a);
    ck_assert_msg(fx_npy_read(ctx, tmp_path("v3.npy"), &a) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(a.shape.ndim, 1);
    ck_assert_int_eq(a.shape.dim[0], 2);
    fx_array_free(&a);
    ck_assert_msg(fx_npy_read(ctx, tmp_path("0d.npy"), &a) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(a.shape.ndim, 0);
    ck_assert_int_eq(fx_shape_numel(&a.shape), 1);
    ck_assert_float_eq(((float *)a.data)[0], 3.0f);
    fx_array_free(&a);
}
END_TEST

START_TEST(test_npy_rejects_bad_magic)
{
    const char *path = tmp_path("magic.npy");
    write_bytes(path, "\x93NUMPX\x01\x00\x00\x00 this is not it", 26);
    expect_read_error(path, FX_ERR_PARSE, "magic", NULL);
    write_bytes(path, "abc", 3);
    expect_read_error(path, FX_ERR_PARSE, "magic", NULL);
}
END_TEST

START_TEST(test_npy_rejects_truncated_data_with_byte_counts)
{
    float v[6] = {0};
    const char *path = tmp_path("trunc.npy");
    write_npy_raw(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v, 20);
    expect_read_error(path, FX_ERR_PARSE, "expected", "24");
    expect_read_error(path, FX_ERR_PARSE, "truncated", "20");
    /* Extra bytes after the data are refused as well. */
    float w[7] = {0};
    write_npy_raw(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", w, 28);
    expect_read_error(path, FX_ERR_PARSE, "trailing", "28");
    /* A header length pointing past the end of the file. */
    write_bytes(path, "\x93NUMPY\x01\x00\xff\x00{'descr'", 18);
    expect_read_error(path, FX_ERR_PARSE, "header", NULL);
}
END_TEST

START_TEST(test_npy_rejects_fortran_order)
{
    float v[6] = {0};
    const char *path = tmp_path("fortran.npy");
    write_npy_raw(path, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", v, 24);
    expect_read_error(path, FX_ERR_UNSUPPORTED, "Fortran order", "ascontiguousarray");
}
END_TEST

START_TEST(test_npy_rejects_unsupported_dtypes)
{
    float v[4] = {0};
    const char *path = tmp_path("dtype.npy");
    write_npy_raw(path, 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", v, 16);
    expect_read_error(path, FX_ERR_UNSUPPORTED, "'<c8' is not supported", "<f4");
    write_npy_raw(path, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", v, 8);
    expect_read_error(path, FX_ERR_UNSUPPORTED, "big-endian", NULL);
}
END_TEST

START_TEST(test_npy_rejects_int64_values_outside_int32)
{
    int64_t l[2] = {5, 1LL << 40};
    const char *path = tmp_path("big.npy");
    write_npy_raw(path, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", l, sizeof l);
    expect_read_error(path, FX_ERR_PARSE, "int32", "element 1");
}
END_TEST

START_TEST(test_npy_rejects_header_garbage)
{
    static const char *const bad[] = {
        "garbage",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} trailing",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,",
    };
    float v[2] = {0};
    const char *path = tmp_path("garbage.npy");
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        write_npy_raw(path, 1, bad[k], v, 8);
        expect_read_error(path, FX_ERR_PARSE, "header", NULL);
    }
    /* More than FX_MAX_DIMS dimensions. */
    float w[1] = {0};
    write_npy_raw(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1), }", w, 4);
    expect_read_error(path, FX_ERR_UNSUPPORTED, "dimensions", NULL);
    /* Unknown format version. */
    write_npy_raw(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", w, 4);
    FILE *f = fopen(path, "r+b");
    fseek(f, 6, SEEK_SET);
    fputc(4, f);
    fclose(f);
    expect_read_error(path, FX_ERR_UNSUPPORTED, "version 4.0", NULL);
}
END_TEST

START_TEST(test_npy_missing_file_is_an_io_error)
{
    expect_read_error(tmp_path("absent.npy"), FX_ERR_IO, "cannot open", NULL);
}
END_TEST

static Suite *npy_suite(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tcase_create("npy");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_npy_round_trip_f32_and_i32_of_every_rank);
    tcase_add_test(tc, test_npy_write_produces_numpy_header_and_no_temp_file);
    tcase_add_test(tc, test_npy_write_to_missing_folder_fails_cleanly);
    tcase_add_test(tc, test_npy_reads_f8_i8_u1_b1_fixtures);
    tcase_add_test(tc, test_npy_reads_versions_2_and_3_and_0d_arrays);
    tcase_add_test(tc, test_npy_rejects_bad_magic);
    tcase_add_test(tc, test_npy_rejects_truncated_data_with_byte_counts);
    tcase_add_test(tc, test_npy_rejects_fortran_order);
    tcase_add_test(tc, test_npy_rejects_unsupported_dtypes);
    tcase_add_test(tc, test_npy_rejects_int64_values_outside_int32);
    tcase_add_test(tc, test_npy_rejects_header_garbage);
    tcase_add_test(tc, test_npy_missing_file_is_an_io_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fxtest_run_suite(npy_suite());
}
