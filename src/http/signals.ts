// The signals that stop the service gracefully. SIGHUP is one of them: the
// service has nothing to reload (its settings come from flags and the
// environment, read once), and SIGHUP's default action would end it at once,
// unlogged, dropping requests in flight; so it stops as for SIGTERM.

/** The signals that start a graceful shutdown. */
const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/**
 * The first shutdown signal. Handled once: a second one gets the default
 * action and ends the process at once.
 */
export function nextSignal(signals: readonly NodeJS.Signals[] = SHUTDOWN_SIGNALS): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      for (const s of signals) process.off(s, on);
      resolve(signal);
    };
    for (const s of signals) process.once(s, on);
  });
}
