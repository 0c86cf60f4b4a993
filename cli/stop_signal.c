/* cli/stop_signal.c - graceful stop of `fxrun train` on SIGINT/SIGTERM.
 * The first signal only sets the fx_stop_flag that fx_train checks after
 * every step (it then finishes the step, writes the checkpoint and returns);
 * a second signal restores the default action and re-raises, so the
 * process stops at once. The handler does nothing else: setting a volatile
 * sig_atomic_t, signal() and raise() are async-signal-safe. The flag is
 * the caller's object; this file only remembers which one the handler
 * sets, as a signal handler gets no argument (fxrun's state, not libfx's). */
#include <signal.h>
#include <string.h>
#include "cli/cli.h"

static fx_stop_flag *stop_target;

static void on_stop_signal(int sig)
{
    if (stop_target && !stop_target->requested) {
        stop_target->requested = 1;
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void cli_stop_signals_install(fx_stop_flag *flag)
{
    stop_target = flag;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void cli_stop_signals_remove(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    stop_target = NULL;
}
