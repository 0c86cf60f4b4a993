/* cli/fxrun.c - placeholder main while the CLI is written (replaced next). */
#include <stdio.h>
#include "fx/fx.h"
int main(void)
{
    fprintf(stderr, "fxrun: not built yet\n");
    return 1;
}
