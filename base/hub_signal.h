/* hub_signal.h - the signal setup shared by the long-running binaries
 * (flist-hub-api, flist-hub-worker): stop signals are taken by one thread
 * with sigwait/sigtimedwait, never by handlers.
 */
#ifndef HUB_SIGNAL_H
#define HUB_SIGNAL_H

#include <signal.h>

/* Fills *set with the stop signals (SIGTERM, SIGINT) and blocks them in the
 * calling thread, so every thread created afterwards inherits the mask and
 * the signals wait for sigwait(set); ignores SIGPIPE (a write to a peer that
 * left fails with EPIPE instead). Call from main before starting threads.
 * Never fails. */
void hub_signals_block(sigset_t *set);

#endif
