/* tests/test_comm.c - the communicator seam (fx/comm.h) and the pieces of
 * data-parallel training that need no second process: the single-process
 * communicator is the identity, a transport with a missing function is
 * refused, the MPI transport refuses clearly in a build without it, and
 * the loader's shards of every global batch are, together, exactly the
 * single-process batch (same examples, same augmentation, same order).
 * The multi-rank tests are in test_mpi.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fxtest.h"
#include "small_fmnist.h"

START_TEST(test_local_comm_is_the_identity)
{
    fx_context *ctx = fxtest_context();
    fx_comm *comm = NULL;
    ck_assert_int_eq(fx_comm_create_local(ctx, &comm), FX_OK);
    ck_assert_int_eq(fx_comm_size(comm), 1);
    ck_assert_int_eq(fx_comm_rank(comm), 0);
    ck_assert_str_eq(fx_comm_name(comm), "local");
    float v[3] = { 1.5f, -2.0f, 3.25f };
    ck_assert_int_eq(fx_comm_allreduce_sum(comm, v, 3), FX_OK);
    ck_assert(v[0] == 1.5f && v[1] == -2.0f && v[2] == 3.25f);
    fx_comm_request *req = NULL;
    ck_assert_int_eq(fx_comm_allreduce_sum_start(comm, v, 3, &req), FX_OK);
    ck_assert_ptr_nonnull(req);
    ck_assert_int_eq(fx_comm_wait(comm, req), FX_OK);
    ck_assert(v[0] == 1.5f && v[1] == -2.0f && v[2] == 3.25f);
    double d[2] = { 0.25, 7.0 };
    ck_assert_int_eq(fx_comm_allreduce_sum_f64(comm, d, 2), FX_OK);
    ck_assert(d[0] == 0.25 && d[1] == 7.0);
    char bytes[4] = "abc";
    ck_assert_int_eq(fx_comm_broadcast(comm, bytes, 4, 0), FX_OK);
    ck_assert_str_eq(bytes, "abc");
    ck_assert_int_eq(fx_comm_broadcast(comm, bytes, 4, 1), FX_ERR_INVALID); /* no rank 1 */
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "rank 1"));
    ck_assert_int_eq(fx_comm_barrier(comm), FX_OK);
    /* allreduce, started allreduce (counted at its wait), f64 allreduce, broadcast, barrier */
    ck_assert_int_eq(fx_comm_calls(comm), 5);
    fx_comm_destroy(comm);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_comm_create_refuses_a_transport_with_a_missing_function)
{
    fx_context *ctx = fxtest_context();
    fx_comm_ops ops;
    memset(&ops, 0, sizeof ops);
    ops.name = "half";
    fx_comm *comm = NULL;
    ck_assert_int_eq(fx_comm_create(ctx, &ops, NULL, 0, 1, &comm), FX_ERR_INVALID);
    ck_assert_ptr_null(comm);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "'half'"));
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_mpi_transport_matches_the_build)
{
    fx_context *ctx = fxtest_context();
    if (!fx_comm_mpi_available()) {
        fx_comm *comm = NULL;
        ck_assert_int_eq(fx_comm_create_mpi(ctx, &comm), FX_ERR_UNSUPPORTED);
        ck_assert_ptr_null(comm);
        ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "-DFX_MPI=ON"));
    } else {
        printf("MPI transport built in; its collectives are tested under mpirun by test_mpi\n");
    }
    fx_context_destroy(ctx);
}
END_TEST

/* Every global batch of an epoch: the concatenation of the shards' rows
 * equals the single-process batch bit for bit (random crops and flips
 * included), for 1, 2 and 4 shards. */
START_TEST(test_loader_shards_together_are_the_single_process_batch)
{
    if (!small_fmnist_have_data()) {
        printf("skipped: " FMNIST " not installed (apt-get install dataset-fashion-mnist)\n");
        return;
    }
    fx_context *ctx = fxtest_context();
    fx_config cfg;
    fx_config_default(&cfg);
    cfg.data.train.kind = FX_DATA_IDX;
    snprintf(cfg.data.train.images, sizeof cfg.data.train.images, "%s", FMNIST "/train-images-idx3-ubyte.gz");
    snprintf(cfg.data.train.labels, sizeof cfg.data.train.labels, "%s", FMNIST "/train-labels-idx1-ubyte.gz");
    cfg.data.train.limit = 200;
    cfg.data.size = 24;
    cfg.data.crop = FX_CROP_RANDOM;
    cfg.data.flip = 1;
    fx_dataset *ds = NULL;
    ck_assert_msg(fx_dataset_open(ctx, &cfg.data.train, &cfg.data, &ds) == FX_OK, "%s", fx_context_error(ctx));
    enum { B = 16, PER = 24 * 24 };
    fx_loader_options lo = { .batch = B, .shuffle = 1, .augment = 1, .drop_last = 1, .seed = 5 };
    fx_loader *whole = NULL;
    ck_assert_int_eq(fx_loader_create(ctx, ds, &cfg.data, &lo, &whole), FX_OK);
    static float img[B * PER], part[B * PER];
    int32_t lab[B], plab[B];
    for (int shards = 1; shards <= 4; shards *= 2) {
        fx_loader *ld[4] = { NULL };
        for (int r = 0; r < shards; r++) {
            ck_assert_int_eq(fx_loader_create(ctx, ds, &cfg.data, &lo, &ld[r]), FX_OK);
            ck_assert_int_eq(fx_loader_set_shard(ld[r], r, shards), FX_OK);
        }
        for (int64_t epoch = 0; epoch < 2; epoch++) {
            ck_assert_int_eq(fx_loader_start_epoch(whole, epoch), FX_OK);
            for (int r = 0; r < shards; r++)
                ck_assert_int_eq(fx_loader_start_epoch(ld[r], epoch), FX_OK);
            int batches = 0;
            for (;;) {
                int count = 0;
                ck_assert_int_eq(fx_loader_next(whole, img, lab, &count), FX_OK);
                int rows = 0;
                for (int r = 0; r < shards; r++) {
                    int c = 0;
                    ck_assert_int_eq(fx_loader_next(ld[r], part + rows * PER, plab + rows, &c), FX_OK);
                    ck_assert_int_eq(c, count ? B / shards : 0);
                    rows += c;
                }
                ck_assert_int_eq(rows, count);
                if (count == 0)
                    break;
                ck_assert_msg(memcmp(img, part, sizeof img) == 0, "shards %d, epoch %lld, batch %d: images differ",
                              shards, (long long)epoch, batches);
                ck_assert(memcmp(lab, plab, sizeof lab) == 0);
                batches++;
            }
            ck_assert_int_eq(batches, 200 / B);
        }
        for (int r = 0; r < shards; r++)
            fx_loader_destroy(ld[r]);
    }
    fx_loader *bad = NULL;
    ck_assert_int_eq(fx_loader_create(ctx, ds, &cfg.data, &lo, &bad), FX_OK);
    ck_assert_int_eq(fx_loader_set_shard(bad, 0, 3), FX_ERR_INVALID); /* 16 does not divide by 3 */
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "divide"));
    fx_loader_destroy(bad);
    fx_loader_destroy(whole);
    fx_dataset_close(ds);
    fx_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("comm");
    TCase *tc = tcase_create("comm");
    tcase_add_test(tc, test_local_comm_is_the_identity);
    tcase_add_test(tc, test_comm_create_refuses_a_transport_with_a_missing_function);
    tcase_add_test(tc, test_mpi_transport_matches_the_build);
    tcase_add_test(tc, test_loader_shards_together_are_the_single_process_batch);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
