import { afterEach, describe, expect, it, vi } from 'vitest';
import { CallAbort, withAbortSignal } from '../../functions/store/call-signal';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('CallAbort', () => {
  it('aborts once, with its reason, running each listener once in the order added', () => {
    const abort = new CallAbort();
    const ran: string[] = [];
    abort.signal.addEventListener('abort', () => ran.push('first'));
    abort.signal.addEventListener('abort', () => ran.push('second'), { once: true });
    expect(abort.signal.aborted).toBe(false);
    expect(abort.signal.reason).toBeUndefined();
    const reason = new Error('ceiling');
    abort.abort(reason);
    abort.abort(new Error('again'));
    expect(ran).toEqual(['first', 'second']);
    expect(abort.signal.aborted).toBe(true);
    expect(abort.signal.reason).toBe(reason);
  });

  it('gives an AbortError as the reason when none is given', () => {
    const abort = new CallAbort();
    abort.abort();
    expect(abort.reason).toMatchObject({ name: 'AbortError' });
  });

  it('never runs a listener removed before, or added after, the abort', () => {
    const abort = new CallAbort();
    const removed = vi.fn();
    const kept = vi.fn();
    abort.addEventListener('abort', removed);
    abort.addEventListener('abort', kept);
    abort.removeEventListener('abort', removed);
    abort.removeEventListener('abort', () => undefined);
    abort.abort();
    const late = vi.fn();
    abort.addEventListener('abort', late);
    expect(removed).not.toHaveBeenCalled();
    expect(kept).toHaveBeenCalledTimes(1);
    expect(late).not.toHaveBeenCalled();
  });

  it('runs every listener when one throws, and rethrows its error in a microtask', () => {
    const deferred: (() => void)[] = [];
    vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((task) => {
      deferred.push(task);
    });
    const abort = new CallAbort();
    const after = vi.fn();
    const failure = new Error('listener failed');
    abort.addEventListener('abort', () => {
      throw failure;
    });
    abort.addEventListener('abort', after);
    expect(() => abort.abort()).not.toThrow();
    expect(after).toHaveBeenCalledTimes(1);
    expect(deferred).toHaveLength(1);
    expect(() => deferred[0]!()).toThrow(failure);
  });
});

describe('withAbortSignal', () => {
  it('passes no signal, and a platform AbortSignal, as they are', async () => {
    const seen: (AbortSignal | undefined)[] = [];
    const run = async (signal: AbortSignal | undefined) => {
      seen.push(signal);
      return 'done';
    };
    const platform = new AbortController().signal;
    await expect(withAbortSignal(undefined, run)).resolves.toBe('done');
    await expect(withAbortSignal(platform, run)).resolves.toBe('done');
    expect(seen).toEqual([undefined, platform]);
  });

  it('gives a CallAbort’s call a platform AbortSignal that aborts with it, until the call settles', async () => {
    const abort = new CallAbort();
    let given: AbortSignal | undefined;
    let finish!: () => void;
    const call = withAbortSignal(abort, (signal) => {
      given = signal;
      return new Promise<void>((resolve) => {
        finish = resolve;
      });
    });
    expect(given).toBeInstanceOf(AbortSignal);
    const reason = new Error('ceiling');
    abort.abort(reason);
    expect(given!.aborted).toBe(true);
    expect(given!.reason).toBe(reason);
    finish();
    await call;

    const later = new CallAbort();
    let second: AbortSignal | undefined;
    await withAbortSignal(later, async (signal) => {
      second = signal;
    });
    later.abort();
    expect(second!.aborted).toBe(false);
  });

  it('hands an already aborted CallAbort on as an aborted signal, and unlinks a call that throws', () => {
    const aborted = new CallAbort();
    const reason = new Error('spent');
    aborted.abort(reason);
    let given: AbortSignal | undefined;
    void withAbortSignal(aborted, async (signal) => {
      given = signal;
    });
    expect(given?.aborted).toBe(true);
    expect(given?.reason).toBe(reason);

    const source = new CallAbort();
    let thrownWith: AbortSignal | undefined;
    expect(() =>
      withAbortSignal(source, (signal) => {
        thrownWith = signal;
        throw new Error('bad request');
      }),
    ).toThrow('bad request');
    source.abort();
    expect(thrownWith!.aborted).toBe(false);
  });
});
