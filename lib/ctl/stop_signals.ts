/**
 * The signals that end an attached ijrctl, the way they end `docker run`: SIGINT (Ctrl-C),
 * SIGTERM (scancel, a CI runner's cancel, systemd, kill) and SIGHUP (a closed terminal).
 * @module
 */

/** The signals an attached ijrctl handles. */
export const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** One of {@link STOP_SIGNALS}. */
export type StopSignal = typeof STOP_SIGNALS[number];

const SIGNAL_NUMBERS: Record<StopSignal, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/**
 * The exit code of a process ended by `signal`, as shells report it: 128 + its number
 * (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).
 */
export function signalExitCode(signal: StopSignal): number {
  return 128 + SIGNAL_NUMBERS[signal];
}

/**
 * Calls `onSignal` with each of the signals as it arrives and how many of them have arrived so
 * far (1 for the first). While it listens, the signals no longer end ijrctl by themselves.
 * Returns the function that stops listening and gives the signals their default action back.
 */
export function listenForStopSignals(
  onSignal: (signal: StopSignal, count: number) => void,
): () => void {
  let count = 0;
  const listeners = STOP_SIGNALS.map((signal) => {
    const listener = () => onSignal(signal, ++count);
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  };
}
