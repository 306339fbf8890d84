/**
 * Virtual time for the simulator and the limiter's tests: a clock that moves only when the
 * test says so, and timers that fire in time order as it moves. Promises
 * chained on a fired timer run before the next timer fires (the queue is
 * drained between timers), so async code sees the same order of events it
 * would see on a real event loop, without waiting for real time.
 */
import type { Time, TimerHandle } from '../functions/limiter/timers';
import { MinHeap } from './heap';

interface Timer {
  readonly id: number;
  readonly atMs: number;
  readonly fn: () => void;
}

/** Virtual clock and timers (a binary heap by time, then creation order). */
export class VirtualTime implements Time {
  #nowMs: number;
  #nextId = 1;
  readonly #heap = new MinHeap<Timer>(earlier);
  /** Ids of timers set and neither fired nor cleared. */
  readonly #live = new Set<number>();

  constructor(startMs = 1_700_000_000_000) {
    this.#nowMs = startMs;
  }

  readonly now = (): number => this.#nowMs;
  readonly monotonicMs = (): number => this.#nowMs;

  setTimer(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#heap.push({ id, atMs: this.#nowMs + Math.max(0, Math.ceil(ms)), fn });
    this.#live.add(id);
    return id;
  }

  clearTimer(handle: TimerHandle): void {
    this.#live.delete(handle as number);
  }

  /** Timers not fired yet. */
  get pendingTimers(): number {
    return this.#live.size;
  }

  /** A promise that resolves after `ms` of virtual time. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(resolve, ms));
  }

  /**
   * Moves the clock forward by `ms`, firing every timer due on the way in
   * time order, and letting the promises each one settles run before the next.
   */
  async advance(ms: number): Promise<void> {
    const endMs = this.#nowMs + ms;
    await flush();
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.atMs > endMs) break;
      this.#heap.pop();
      this.#live.delete(next.id);
      this.#nowMs = Math.max(this.#nowMs, next.atMs);
      next.fn();
      await flush();
    }
    this.#nowMs = endMs;
    await flush();
  }

  /**
   * Runs `work` while moving time forward in `stepMs` steps until it settles
   * (or `maxMs` have passed, which fails the test): for awaiting a call that
   * waits on virtual timers.
   */
  async run<T>(work: Promise<T>, { stepMs = 1, maxMs = 60_000 } = {}): Promise<T> {
    let done = false;
    const settled = work.finally(() => {
      done = true;
    });
    settled.catch(() => undefined);
    let elapsed = 0;
    await flush();
    while (!done) {
      if (elapsed >= maxMs)
        throw new Error(`work did not settle within ${maxMs} ms of virtual time`);
      await this.advance(stepMs);
      elapsed += stepMs;
    }
    return settled;
  }

  /** The earliest live timer, dropping cleared ones from the top of the heap. */
  #earliest(): Timer | undefined {
    for (;;) {
      const top = this.#heap.peek();
      if (top === undefined || this.#live.has(top.id)) return top;
      this.#heap.pop();
    }
  }
}

function earlier(a: Timer, b: Timer): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.id < b.id);
}

/** Lets every queued promise reaction run (a macrotask turn). */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
