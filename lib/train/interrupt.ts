/**
 * Stopping a run on SIGINT / SIGTERM without losing finished updates. Without a handler Node dies at once and a
 * run loses every update since its last checkpoint (up to saveEvery). With `watchSignals` installed for the
 * duration of trainRun, the first signal only raises a flag: the loop finishes the update in flight, writes a
 * checkpoint and throws RunInterruptedError (the CLI prints its one line and exits 130 / 143). A second signal
 * means "now": with exitOnSecond (the CLI) the process exits at once with the same code.
 *
 * In a notebook the tslab kernel receives the Jupyter interrupt as SIGINT: the handlers exist only while
 * trainRun runs (removed in its finally), and nothing here calls process.exit unless exitOnSecond was asked
 * for, so an interrupted cell ends with the error and the kernel lives on. A SIGTERM there (the kernel being
 * shut down, a timeout) still terminates the process, once the checkpoint is written (honorTermination).
 */
import { releaseAllLocks } from "./lock";

/** The exit codes of a shell for a process stopped by these signals (128 + signal number). */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
export type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

/** Thrown by trainRun after a signal stopped it and its checkpoint was written. */
export class RunInterruptedError extends Error {
  constructor(message: string, readonly signal: StopSignal, readonly exitCode: number) {
    super(message);
    this.name = "RunInterruptedError";
  }
}

/** The signal that asked the run to stop (undefined: none yet); stop() removes the handlers. */
export interface SignalWatch {
  signal: StopSignal | undefined;
  stop(): void;
}

/** Installs SIGINT and SIGTERM handlers until stop(). */
export function watchSignals(exitOnSecond: boolean): SignalWatch {
  const handlers = new Map<StopSignal, () => void>();
  const watch: SignalWatch = {
    signal: undefined,
    stop() {
      for (const [sig, h] of handlers) process.removeListener(sig, h);
      handlers.clear();
    },
  };
  for (const sig of Object.keys(SIGNAL_EXIT_CODES) as StopSignal[]) {
    const h = () => {
      if (watch.signal === undefined) watch.signal = sig;
      else if (exitOnSecond) process.exit(SIGNAL_EXIT_CODES[sig]); // the exit hook of lock.ts releases the run lock
    };
    handlers.set(sig, h);
    process.on(sig, h);
  }
  return watch;
}

/**
 * After `signal` stopped a run outside the CLI and the handlers are removed: a SIGTERM asked the process to end,
 * so it is delivered again with its default action (the run locks released first: death by a signal runs no
 * exit hooks), unless something else in the process handles SIGTERM. A SIGINT (a kernel interrupt) ends here.
 */
export function honorTermination(signal: StopSignal): void {
  if (signal !== "SIGTERM" || process.listenerCount("SIGTERM") > 0) return;
  releaseAllLocks();
  process.kill(process.pid, "SIGTERM");
}
