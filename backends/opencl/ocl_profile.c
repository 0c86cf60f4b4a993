/* backends/opencl/ocl_profile.c - per-kernel times from OpenCL events
 * (fxrun --profile) and the host<->device transfer counts.
 *
 * Profiling is off by default: the queue is created without
 * CL_QUEUE_PROFILING_ENABLE (some drivers time every command then, which
 * costs). ocl_set_profiling replaces the queue with a profiling one
 * (after clFinish; buffers and kernels belong to the context, so nothing
 * else changes). While on, every launch passes an event slot
 * (ocl_profile_slot) and hands the event over with the name it is reported
 * under (ocl_profile_record); events are read in batches of
 * OCL_MAX_PENDING, at synchronisation and at report time, so profiling
 * does not serialise the queue.
 *
 * Transfer bytes and calls are counted whether profiling is on or not:
 * they are two integer additions per copy, and tests use them to check
 * that a training step on OpenCL copies only its inputs and outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_backend.h"

static const char *const xfer_names[OCL_XFER_KINDS] = {
    [OCL_XFER_TO_DEVICE] = "host->device",
    [OCL_XFER_TO_HOST] = "device->host",
    [OCL_XFER_ON_DEVICE] = "device->device",
    [OCL_XFER_FILL] = "fill",
};

const char *ocl_xfer_name(int kind) { return xfer_names[kind]; }

cl_event *ocl_profile_slot(fx_backend *be)
{
    ocl_backend *b = ocl_impl(be);
    if (!b->profiling)
        return NULL;
    b->slot_event = NULL;
    return &b->slot_event;
}

static int entry_find(ocl_backend *b, const char *name)
{
    for (int i = 0; i < b->n_profile; i++)
        if (!strcmp(b->profile[i].name, name))
            return i;
    if (b->n_profile == OCL_MAX_PROFILE)
        return OCL_MAX_PROFILE - 1; /* "(other)": see the report */
    int i = b->n_profile++;
    memset(&b->profile[i], 0, sizeof b->profile[i]);
    snprintf(b->profile[i].name, sizeof b->profile[i].name, "%s",
             i == OCL_MAX_PROFILE - 1 ? "(other)" : name);
    return i;
}

void ocl_profile_drain(ocl_backend *b)
{
    if (b->n_pending == 0)
        return;
    cl_event evs[OCL_MAX_PENDING];
    for (int i = 0; i < b->n_pending; i++)
        evs[i] = b->pending[i].event;
    clWaitForEvents((cl_uint)b->n_pending, evs);
    for (int i = 0; i < b->n_pending; i++) {
        cl_ulong t0 = 0, t1 = 0;
        if (clGetEventProfilingInfo(evs[i], CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(evs[i], CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) == CL_SUCCESS &&
            t1 >= t0)
            b->profile[b->pending[i].entry].ms += (double)(t1 - t0) * 1e-6;
        clReleaseEvent(evs[i]);
    }
    b->n_pending = 0;
}

void ocl_profile_record(fx_backend *be, const char *name, uint64_t bytes)
{
    ocl_backend *b = ocl_impl(be);
    cl_event ev = b->slot_event;
    b->slot_event = NULL;
    if (!b->profiling || !ev)
        return;
    int e = entry_find(b, name);
    b->profile[e].calls++;
    b->profile[e].bytes += bytes;
    if (b->n_pending == OCL_MAX_PENDING)
        ocl_profile_drain(b);
    b->pending[b->n_pending].event = ev;
    b->pending[b->n_pending].entry = e;
    b->n_pending++;
}

void ocl_profile_release(ocl_backend *b)
{
    for (int i = 0; i < b->n_pending; i++)
        clReleaseEvent(b->pending[i].event);
    b->n_pending = 0;
}

static fx_status not_opencl(const fx_backend *be, const char *what)
{
    return fx_fail(be ? be->ctx : NULL, FX_ERR_UNSUPPORTED, "%s: backend '%s' is not an OpenCL backend", what,
                   be ? be->name : "(null)");
}

fx_status ocl_set_profiling(fx_backend *be, int on)
{
    if (ocl_programs_built(be) < 0)
        return not_opencl(be, "ocl_set_profiling");
    ocl_backend *b = ocl_impl(be);
    on = on != 0;
    if (on == b->profiling)
        return FX_OK;
    cl_int err = clFinish(b->queue);
    if (err != CL_SUCCESS)
        return ocl_fail(be->ctx, err, "clFinish (switching profiling)");
    ocl_profile_drain(b);
    cl_command_queue q = clCreateCommandQueue(b->context, b->device, on ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
    if (!q || err != CL_SUCCESS)
        return ocl_fail(be->ctx, err, on ? "clCreateCommandQueue(CL_QUEUE_PROFILING_ENABLE)" : "clCreateCommandQueue");
    clReleaseCommandQueue(b->queue);
    b->queue = q;
    b->profiling = on;
    return FX_OK;
}

fx_status ocl_profile_reset(fx_backend *be)
{
    if (ocl_programs_built(be) < 0)
        return not_opencl(be, "ocl_profile_reset");
    ocl_backend *b = ocl_impl(be);
    clFinish(b->queue);
    ocl_profile_drain(b);
    b->n_profile = 0;
    memset(b->xfer_bytes, 0, sizeof b->xfer_bytes);
    memset(b->xfer_calls, 0, sizeof b->xfer_calls);
    b->optimizer_steps = 0;
    b->syncs = b->launches = 0;
    return FX_OK;
}

fx_status ocl_counters(const fx_backend *be, fx_opencl_counters *out)
{
    if (ocl_programs_built(be) < 0)
        return not_opencl(be, "ocl_counters");
    const ocl_backend *b = ocl_impl(be);
    /* Only the fields the caller's struct has (an older caller's is shorter). */
    fx_opencl_counters c;
    memset(&c, 0, sizeof c);
    c.struct_size = out->struct_size < sizeof c ? out->struct_size : sizeof c;
    c.write_calls = (uint64_t)b->xfer_calls[OCL_XFER_TO_DEVICE];
    c.write_bytes = b->xfer_bytes[OCL_XFER_TO_DEVICE];
    c.read_calls = (uint64_t)b->xfer_calls[OCL_XFER_TO_HOST];
    c.read_bytes = b->xfer_bytes[OCL_XFER_TO_HOST];
    c.copy_calls = (uint64_t)b->xfer_calls[OCL_XFER_ON_DEVICE];
    c.copy_bytes = b->xfer_bytes[OCL_XFER_ON_DEVICE];
    c.fill_calls = (uint64_t)b->xfer_calls[OCL_XFER_FILL];
    c.fill_bytes = b->xfer_bytes[OCL_XFER_FILL];
    c.blocking_syncs = (uint64_t)b->syncs;
    c.launches = (uint64_t)b->launches;
    c.optimizer_steps = b->optimizer_steps;
    memcpy(out, &c, c.struct_size);
    return FX_OK;
}

fx_status ocl_transfer_bytes(const fx_backend *be, uint64_t *to_device, uint64_t *to_host)
{
    if (ocl_programs_built(be) < 0)
        return not_opencl(be, "ocl_transfer_bytes");
    const ocl_backend *b = ocl_impl(be);
    if (to_device)
        *to_device = b->xfer_bytes[OCL_XFER_TO_DEVICE];
    if (to_host)
        *to_host = b->xfer_bytes[OCL_XFER_TO_HOST];
    return FX_OK;
}

static int by_time_desc(const void *x, const void *y)
{
    const ocl_profile_entry *a = x, *b = y;
    return a->ms < b->ms ? 1 : a->ms > b->ms ? -1 : strcmp(a->name, b->name);
}

static int is_transfer(const char *name)
{
    for (int k = 0; k < OCL_XFER_KINDS; k++)
        if (!strcmp(name, xfer_names[k]))
            return 1;
    return 0;
}

static void format_bytes(double v, char *out, size_t size)
{
    if (v >= 1 << 20)
        snprintf(out, size, "%.2f MiB", v / (1 << 20));
    else if (v >= 1 << 10)
        snprintf(out, size, "%.1f KiB", v / (1 << 10));
    else
        snprintf(out, size, "%.0f B", v);
}

fx_status ocl_profile_report(fx_backend *be, FILE *out, int steps)
{
    if (ocl_programs_built(be) < 0)
        return not_opencl(be, "ocl_profile_report");
    ocl_backend *b = ocl_impl(be);
    clFinish(b->queue);
    ocl_profile_drain(b);
    double per = steps > 0 ? (double)steps : (double)b->optimizer_steps;
    const char *unit = steps > 0 ? "step" : "optimiser step";
    if (per <= 0)
        per = 1, unit = "run";
    if (!b->profiling && b->n_profile == 0) {
        fprintf(out, "opencl profile: profiling was off (ocl_set_profiling / fxrun --profile)\n");
    } else {
        ocl_profile_entry sorted[OCL_MAX_PROFILE];
        int n = 0;
        double total = 0;
        for (int i = 0; i < b->n_profile; i++)
            if (!is_transfer(b->profile[i].name)) {
                sorted[n++] = b->profile[i];
                total += b->profile[i].ms;
            }
        qsort(sorted, (size_t)n, sizeof sorted[0], by_time_desc);
        fprintf(out, "opencl profile on %s (%.0f %s%s; times from OpenCL events):\n", b->device_name, per, unit,
                per == 1 ? "" : "s");
        fprintf(out, "  %-28s %9s %11s %10s %11s %6s\n", "kernel", "calls", "total ms", "mean ms",
                steps > 0 || b->optimizer_steps > 0 ? "ms/step" : "ms/run", "%");
        for (int i = 0; i < n; i++)
            fprintf(out, "  %-28s %9lld %11.3f %10.4f %11.3f %5.1f%%\n", sorted[i].name, (long long)sorted[i].calls,
                    sorted[i].ms, sorted[i].calls ? sorted[i].ms / (double)sorted[i].calls : 0.0, sorted[i].ms / per,
                    total > 0 ? 100.0 * sorted[i].ms / total : 0.0);
        fprintf(out, "  %-28s %9s %11.3f %10s %11.3f\n", "all kernels", "", total, "", total / per);
    }
    fprintf(out, "  %-28s %9s %11s %12s %11s\n", "transfers", "calls/step", "bytes/step", "", "ms/step");
    for (int k = 0; k < OCL_XFER_KINDS; k++) {
        double ms = 0;
        for (int i = 0; i < b->n_profile; i++)
            if (!strcmp(b->profile[i].name, xfer_names[k]))
                ms = b->profile[i].ms;
        char bytes[32];
        format_bytes((double)b->xfer_bytes[k] / per, bytes, sizeof bytes);
        fprintf(out, "  %-28s %9.1f %11s %12s %11.3f\n", xfer_names[k], (double)b->xfer_calls[k] / per, bytes, "",
                ms / per);
    }
    /* Host waits (blocking copies, clFinish) and kernel launches: what
     * keeps the host and the device from overlapping. */
    fprintf(out, "  %-28s %9.1f\n", "blocking syncs", (double)b->syncs / per);
    fprintf(out, "  %-28s %9.1f\n", "kernel launches", (double)b->launches / per);
    return FX_OK;
}
