/* comm/comm_mpi_unavailable.c - fx_comm_create_mpi in builds without MPI
 * (-DFX_MPI=OFF, or AUTO without Open MPI's development files): refuses
 * with the fix, so libfx never needs libmpi. */
#include "fx/comm.h"

int fx_comm_mpi_available(void) { return 0; }

fx_status fx_comm_create_mpi(fx_context *ctx, fx_comm **out)
{
    *out = NULL;
    return fx_fail(ctx, FX_ERR_UNSUPPORTED,
                   "this fx was built without MPI: install Open MPI (apt-get install openmpi-bin libopenmpi-dev) "
                   "and rebuild with -DFX_MPI=ON");
}
