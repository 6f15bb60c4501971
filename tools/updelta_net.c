/* updelta-net: the network commands of updelta (fetch, install), which
 * `updelta fetch|install` runs; a program of its own so that only these
 * commands load libcurl. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "fetch"))
        return cmd_fetch(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "install"))
        return cmd_install(argc - 1, argv + 1);
    fprintf(stderr, "usage: updelta fetch URL -o FILE ... | updelta install URL --in-place TARGET ...\n"
                    "(see updelta --help)\n");
    return 2;
}
