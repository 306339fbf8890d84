/**
 * The cancellation signal of one store call: what the store, the transports
 * and the limiter's store guard need of an `AbortSignal`, and a one-shot
 * implementation of it without `EventTarget`.
 *
 * Why not `AbortController` everywhere: the guard gives every store call a
 * signal that aborts at its hard ceiling, and almost none ever does. On
 * Node 20 an `AbortController` and one listener on its signal cost about
 * 4 µs of CPU per call in a tight loop, and more at the edge, between
 * requests (docs/performance.md, "The call signal, and the floors", has the
 * side-by-side figures). {@link CallAbort} is a flag, a reason and a list.
 *
 * A real `AbortSignal` is a {@link CallSignal} too, so callers may pass
 * either; an API that wants a real one (the AWS SDK) gets it from
 * {@link withAbortSignal}.
 */

/** What a store call reads of its signal: an `AbortSignal` is one. */
export interface CallSignal {
  readonly aborted: boolean;
  /** Why it aborted (undefined until it has). */
  readonly reason: unknown;
  /** `listener` runs once, when the signal aborts; nothing runs if it has aborted already. */
  addEventListener(
    type: 'abort',
    listener: () => void,
    options?: { readonly once?: boolean },
  ): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * A signal and its `abort()`, for one call. Like an `AbortController`'s
 * signal: it aborts once; its listeners run in the order they were added,
 * once each (whether or not they asked for `once`); a listener added after
 * the abort never runs; a listener that throws does not stop the others, and
 * its error is rethrown in a microtask, as an uncaught error (an
 * `EventTarget` reports it the same way).
 */
export class CallAbort implements CallSignal {
  #aborted = false;
  #reason: unknown;
  #listeners: (() => void)[] | undefined;

  /** This object: the signal side, for code written against `AbortController`. */
  get signal(): CallSignal {
    return this;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.#aborted) return;
    if (this.#listeners === undefined) this.#listeners = [listener];
    else this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const listeners = this.#listeners;
    if (listeners === undefined) return;
    const at = listeners.indexOf(listener);
    if (at >= 0) listeners.splice(at, 1);
  }

  /** Aborts (once; later calls do nothing). `reason` defaults to an `AbortError`. */
  abort(reason?: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason ?? abortError();
    const listeners = this.#listeners;
    this.#listeners = undefined;
    for (const listener of listeners ?? []) {
      try {
        listener();
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/**
 * Runs `run` with a real `AbortSignal` that follows `signal` (the signal
 * itself when it is one; none when there is none), for APIs that need a real
 * one. The link is removed when the call settles.
 */
export function withAbortSignal<T>(
  signal: CallSignal | undefined,
  run: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  if (signal === undefined || signal instanceof AbortSignal) return run(signal);
  const controller = new AbortController();
  if (signal.aborted) {
    controller.abort(signal.reason);
    return run(controller.signal);
  }
  const follow = () => controller.abort(signal.reason);
  signal.addEventListener('abort', follow);
  let running: Promise<T>;
  try {
    running = run(controller.signal);
  } catch (error) {
    signal.removeEventListener('abort', follow);
    throw error;
  }
  return running.finally(() => signal.removeEventListener('abort', follow));
}

function abortError(): Error {
  const error = new Error('This operation was aborted');
  error.name = 'AbortError';
  return error;
}
