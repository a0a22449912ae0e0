/* hub_signal.c - the stop-signal setup of the long-running binaries
 * (hub_signal.h). */
#include <pthread.h>

#include "hub_signal.h"

void hub_signals_block(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}
