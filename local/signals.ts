/**
 * Stopping on SIGINT and SIGTERM, however the process was started.
 *
 * One Ctrl-C can arrive more than once: the terminal sends SIGINT to every
 * process of the foreground group, and npm (`npm start`) and the tsx CLI
 * (`npx tsx local/main.ts`) each forward the signal to their child as well.
 * A copy of the same signal within {@link DUPLICATE_SIGNAL_WINDOW_MS} of the
 * first is therefore the same request, not a second one; a signal after that
 * window (or a different one) is the user insisting, and the process exits at
 * once.
 */

/** Where signals come from (`process`, or a test's emitter). */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

/** How long a repeat of the first signal counts as a copy of it (ms). */
export const DUPLICATE_SIGNAL_WINDOW_MS = 500;

/** Options of {@link ShutdownSignals}. */
export interface ShutdownSignalsOptions {
  /** @default process */
  readonly source?: SignalSource;
  /** @default ['SIGINT', 'SIGTERM'] */
  readonly signals?: readonly NodeJS.Signals[];
  /** @default Date.now */
  readonly nowMs?: () => number;
  /** @default {@link DUPLICATE_SIGNAL_WINDOW_MS} */
  readonly duplicateWindowMs?: number;
  /** A second request while stopping: exit now (the caller decides how). */
  readonly onInsist: (signal: NodeJS.Signals) => void;
}

/** Listens for stop signals from construction until {@link ShutdownSignals.dispose}. */
export class ShutdownSignals {
  /** Resolves with the first signal. */
  readonly requested: Promise<NodeJS.Signals>;
  private first: { signal: NodeJS.Signals; atMs: number } | undefined;
  private resolve!: (signal: NodeJS.Signals) => void;
  private readonly source: SignalSource;
  private readonly signals: readonly NodeJS.Signals[];
  private readonly nowMs: () => number;
  private readonly windowMs: number;
  private readonly listener = (signal: NodeJS.Signals) => this.receive(signal);

  constructor(private readonly options: ShutdownSignalsOptions) {
    this.requested = new Promise((resolve) => {
      this.resolve = resolve;
    });
    this.source = options.source ?? process;
    this.signals = options.signals ?? ['SIGINT', 'SIGTERM'];
    this.nowMs = options.nowMs ?? Date.now;
    this.windowMs = options.duplicateWindowMs ?? DUPLICATE_SIGNAL_WINDOW_MS;
    for (const s of this.signals) this.source.on(s, this.listener);
  }

  /** Stops listening (signals then get their default action again). */
  dispose(): void {
    for (const s of this.signals) this.source.off(s, this.listener);
  }

  private receive(signal: NodeJS.Signals): void {
    const nowMs = this.nowMs();
    if (this.first === undefined) {
      this.first = { signal, atMs: nowMs };
      this.resolve(signal);
      return;
    }
    if (signal === this.first.signal && nowMs - this.first.atMs < this.windowMs) return;
    this.options.onInsist(signal);
  }
}
