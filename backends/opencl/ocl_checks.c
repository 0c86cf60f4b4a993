/* backends/opencl/ocl_checks.c - input checks that run on the device and
 * are reported at the next host wait, so that checking an input costs no
 * wait of its own.
 *
 * A kernel that must refuse bad input (softmax cross-entropy's labels)
 * takes a slot: two ints of the backend's check buffer, zero while all is
 * well. The kernel writes (1 + index, value) of the first bad element it
 * finds. The slot remembers the message to give: the node's place and
 * name, formatted at launch (the graph may be gone by the time the check
 * is read), and the wrapper's message, a format string literal taking
 * (value, index, limit).
 *
 * Every host wait the backend makes for its callers (clFinish, a blocking
 * read or write) first queues a non-blocking read of the check buffer; the
 * queue is in order, so when the wait returns the host copy is current,
 * and the wait reports the first failed slot as its own error. A failed
 * check re-zeroes the buffer. When the slots run out between two waits,
 * the next slot waits at once (rare: it takes OCL_CHECK_SLOTS checking
 * launches without a single read). */
#include <stdio.h>
#include <string.h>

#include "ocl_backend.h"

static fx_status checks_buffer(fx_backend *be)
{
    ocl_backend *b = ocl_impl(be);
    if (b->check_mem)
        return FX_OK;
    cl_int err;
    b->check_mem = clCreateBuffer(b->context, CL_MEM_READ_WRITE, sizeof b->check_host, NULL, &err);
    if (!b->check_mem || err != CL_SUCCESS) {
        b->check_mem = NULL;
        return ocl_fail(be->ctx, err, "clCreateBuffer (input checks)");
    }
    memset(b->check_host, 0, sizeof b->check_host);
    err = clEnqueueWriteBuffer(b->queue, b->check_mem, CL_FALSE, 0, sizeof b->check_host, b->check_host, 0, NULL,
                               NULL);
    if (err != CL_SUCCESS)
        return ocl_fail(be->ctx, err, "clEnqueueWriteBuffer (input checks)");
    return FX_OK;
}

fx_status ocl_check_slot(const fx_kernel_call *call, const char *what, int limit, cl_mem *mem, int *slot)
{
    fx_backend *be = call->backend;
    ocl_backend *b = ocl_impl(be);
    fx_status st = checks_buffer(be);
    if (st == FX_OK && b->n_checks == OCL_CHECK_SLOTS)
        st = be->ops->synchronize(be); /* reads and clears every slot */
    if (st != FX_OK)
        return st;
    ocl_check *c = &b->checks[b->n_checks];
    fx_node_where(call->node, c->where, sizeof c->where);
    c->what = what;
    c->limit = limit;
    *mem = b->check_mem;
    *slot = b->n_checks++;
    return FX_OK;
}

fx_status ocl_checks_queue_read(fx_backend *be)
{
    ocl_backend *b = ocl_impl(be);
    if (b->n_checks == 0)
        return FX_OK;
    cl_int err = clEnqueueReadBuffer(b->queue, b->check_mem, CL_FALSE, 0, (size_t)b->n_checks * 2 * sizeof(cl_int),
                                     b->check_host, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return ocl_fail(be->ctx, err, "clEnqueueReadBuffer (input checks)");
    return FX_OK;
}

fx_status ocl_checks_verify(fx_backend *be, fx_status wait_status)
{
    ocl_backend *b = ocl_impl(be);
    int n = b->n_checks;
    b->n_checks = 0;
    if (n == 0 || wait_status != FX_OK)
        return wait_status; /* a failed wait: the host copy may be stale */
    for (int i = 0; i < n; i++) {
        if (b->check_host[2 * i] == 0)
            continue;
        const ocl_check *c = &b->checks[i];
        char what[512];
        snprintf(what, sizeof what, c->what, (int)b->check_host[2 * i + 1], (int)b->check_host[2 * i] - 1,
                 c->limit);
        fx_status st = fx_fail(be->ctx, FX_ERR_INVALID, "%s: %s", c->where, what);
        memset(b->check_host, 0, sizeof b->check_host);
        cl_int err = clEnqueueWriteBuffer(b->queue, b->check_mem, CL_TRUE, 0, sizeof b->check_host, b->check_host, 0,
                                          NULL, NULL);
        if (err != CL_SUCCESS)
            return ocl_fail(be->ctx, err, "clEnqueueWriteBuffer (clearing the input checks)");
        return st;
    }
    return FX_OK;
}

void ocl_checks_release(ocl_backend *b)
{
    if (b->check_mem)
        clReleaseMemObject(b->check_mem);
    b->check_mem = NULL;
    b->n_checks = 0;
}
