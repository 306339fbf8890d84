/**
 * A clock that moves only when the test says so, for code that takes an
 * {@link EmulatorClock}: `advance(ms)` runs every timer that falls due on the
 * way, in order, each at its own time.
 */
import type { EmulatorClock } from '../../local/emulator';

export class ManualClock implements EmulatorClock {
  private readonly timers = new Map<number, { readonly dueMs: number; readonly run: () => void }>();
  private nextId = 1;

  constructor(private nowMs = 1_700_000_000_000) {}

  readonly now = (): number => this.nowMs;

  readonly setTimeout = (callback: () => void, ms: number): unknown => {
    const id = this.nextId++;
    this.timers.set(id, { dueMs: this.nowMs + Math.max(0, ms), run: callback });
    return id;
  };

  readonly clearTimeout = (handle: unknown): void => {
    this.timers.delete(handle as number);
  };

  /** Timers not run yet. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves the clock forward by `ms`, running the timers due on the way. */
  advance(ms: number): void {
    const targetMs = this.nowMs + ms;
    for (;;) {
      let next: [number, { dueMs: number; run: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].dueMs <= targetMs && (next === undefined || entry[1].dueMs < next[1].dueMs)) {
          next = entry;
        }
      }
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.nowMs = next[1].dueMs;
      next[1].run();
    }
    this.nowMs = targetMs;
  }
}
