/**
 * The store guard alone, on virtual time: how long a decision waits, how a
 * store that stopped answering is told from a slow one, and what happens to
 * a call its decision gave up on.
 */
import { describe, expect, it } from 'vitest';
import {
  RETRANSMISSION_ALLOWANCE_MS,
  type StoreCallEvent,
  StoreDownError,
  StoreGuard,
  StoreWaitError,
} from '../../functions/limiter/store-guard';
import type { CallSignal } from '../../functions/store/call-signal';
import { StoreError } from '../../functions/store/types';
import { VirtualTime } from '../../sim/virtual-time';

function guardOn(
  time: VirtualTime,
  extra: Partial<ConstructorParameters<typeof StoreGuard>[0]> = {},
) {
  const calls: StoreCallEvent[] = [];
  const changes: boolean[] = [];
  const guard = new StoreGuard({
    time,
    budgetMs: 150,
    coldBudgetMs: 1000,
    maxWaitMs: 3000,
    onCall: (e) => calls.push(e),
    onStateChange: (open) => changes.push(open),
    ...extra,
  });
  return { guard, calls, changes };
}

/** A call that answers `value` after `ms` of virtual time. */
const answering =
  <T>(time: VirtualTime, ms: number, value: T) =>
  () =>
    time.sleep(ms).then(() => value);

const failing = (kind: 'unavailable' | 'throttled' | 'timeout') => () =>
  Promise.reject(new StoreError(`injected ${kind}`, kind));

describe('store guard', () => {
  it('waits the cold budget until the store has answered once, then a wait that follows the latency', async () => {
    const time = new VirtualTime(0);
    const { guard } = guardOn(time);
    expect(guard.waitMs()).toBe(1000);
    await time.run(guard.call('readView', answering(time, 800, 'ok')));
    // 2 × 800 + 4 × 400, capped at the 3 s ceiling.
    expect(guard.waitMs()).toBe(3000);
    for (let i = 0; i < 40; i++) await time.run(guard.call('readView', answering(time, 20, 'ok')));
    // Twice the round trip plus its deviations, plus one retransmission timeout.
    expect(guard.waitMs()).toBeGreaterThanOrEqual(2 * 20 + RETRANSMISSION_ALLOWANCE_MS);
    expect(guard.waitMs()).toBeLessThan(2 * 20 + RETRANSMISSION_ALLOWANCE_MS + 40);
    // One lost packet (the round trip plus Linux's 200 ms retransmission timeout) is waited for.
    expect(await time.run(guard.call('write', answering(time, 20 + 200, 'ok')))).toBe('ok');
    // The store slows down to 600 ms: the first such call outlives its wait, and its late
    // answer teaches the guard; from then on the wait covers the new round trip.
    const first = await time.run(
      guard.call('write', answering(time, 600, 'ok')).catch((e: unknown) => e),
    );
    expect(first).toBeInstanceOf(StoreWaitError);
    await time.advance(100);
    for (let i = 0; i < 40; i++) {
      expect(await time.run(guard.call('write', answering(time, 600, 'ok')))).toBe('ok');
    }
    expect(guard.waitMs()).toBeGreaterThanOrEqual(2 * 600);
    expect(guard.waitMs()).toBeLessThan(3000);
  });

  it('a call slower than its wait fails only that wait; the call goes on and its result is not lost', async () => {
    const time = new VirtualTime(0);
    const { guard, calls } = guardOn(time);
    await time.run(guard.call('readView', answering(time, 10, 'warm')));
    const waitMs = guard.waitMs();
    expect(waitMs).toBeLessThan(400);
    const slow = guard.call('write', answering(time, 400, 'landed'));
    const error = await time.run(slow.catch((e: unknown) => e));
    expect(error).toBeInstanceOf(StoreWaitError);
    expect(time.now()).toBe(10 + waitMs);
    // The guard stays closed: one slow answer is not a store that is down.
    expect(guard.available()).toBe(true);
    expect(await time.run((error as StoreWaitError<string>).late)).toBe('landed');
    expect(calls.at(-1)).toMatchObject({ operation: 'write', late: true, latencyMs: 400 });
  });

  it('opens after consecutive failures, lets one probe through per open period, closes on success', async () => {
    const time = new VirtualTime(0);
    const { guard, changes } = guardOn(time, { errorsToOpen: 3, openMs: 250, maxOpenMs: 1000 });
    for (let i = 0; i < 2; i++)
      await time.run(guard.call('readView', failing('unavailable')).catch(() => undefined));
    expect(guard.open).toBe(false);
    await time.run(guard.call('readView', failing('unavailable')).catch(() => undefined));
    expect(guard.open).toBe(true);
    expect(changes).toEqual([true]);
    // While open nothing is sent.
    let sent = 0;
    const count = () => {
      sent += 1;
      return Promise.resolve('ok');
    };
    await expect(guard.call('readView', count)).rejects.toBeInstanceOf(StoreDownError);
    expect(sent).toBe(0);
    // The probe after 250 ms fails: the next open period doubles.
    await time.advance(250);
    expect(guard.available()).toBe(true);
    await time.run(guard.call('readView', failing('unavailable')).catch(() => undefined));
    await time.advance(250);
    expect(guard.available()).toBe(false);
    await time.advance(250);
    expect(guard.available()).toBe(true);
    expect(await time.run(guard.call('readView', count))).toBe('ok');
    expect(guard.open).toBe(false);
    expect(changes).toEqual([true, false]);
  });

  it('throttling fails its own call but never opens the guard', async () => {
    const time = new VirtualTime(0);
    const { guard } = guardOn(time, { errorsToOpen: 2 });
    for (let i = 0; i < 10; i++) {
      const e = await time.run(guard.call('write', failing('throttled')).catch((x: unknown) => x));
      expect((e as StoreError).kind).toBe('throttled');
    }
    expect(guard.open).toBe(false);
  });

  it('a store that stopped answering opens the guard after twice the wait, with nothing else answered', async () => {
    const time = new VirtualTime(0);
    const { guard, calls } = guardOn(time);
    await time.run(guard.call('readView', answering(time, 10, 'warm')));
    const waitMs = guard.waitMs();
    const hung = guard.call('readView', () => new Promise<never>(() => undefined));
    await time.run(hung.catch(() => undefined));
    expect(time.now()).toBe(10 + waitMs);
    await time.advance(waitMs - 10);
    expect(guard.open).toBe(false);
    await time.advance(20);
    expect(guard.open).toBe(true);
    // The ceiling ends the hung call as a timeout (it would never settle on its own).
    await time.advance(3000);
    expect(calls.at(-1)).toMatchObject({ errorKind: 'timeout', late: true });
  });

  it('at the ceiling the call fails with a timeout and the store’s signal aborts with that same error', async () => {
    const time = new VirtualTime(0);
    const { guard } = guardOn(time);
    let given: CallSignal | undefined;
    const hung = guard.call(
      'write',
      (signal) => {
        given = signal;
        return new Promise<never>(() => undefined);
      },
      { background: true },
    );
    const failure = hung.catch((e: unknown) => e);
    await time.advance(2999);
    expect(given?.aborted).toBe(false);
    await time.advance(10);
    const error = await failure;
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).kind).toBe('timeout');
    expect(given?.aborted).toBe(true);
    expect(given?.reason).toBe(error);
  });

  it('a slow store that keeps answering other calls is not considered down', async () => {
    const time = new VirtualTime(0);
    const { guard } = guardOn(time, { errorsToOpen: 99 });
    await time.run(guard.call('readView', answering(time, 10, 'warm')));
    const slow = guard.call('readView', answering(time, 1000, 'late'));
    slow.catch(() => undefined);
    // Meanwhile other calls succeed.
    for (let i = 0; i < 5; i++) await time.run(guard.call('write', answering(time, 50, 'ok')));
    await time.advance(1000);
    expect(guard.open).toBe(false);
  });

  describe('a container that freezes between invocations', () => {
    it('a late answer seen after a long freeze teaches at most twice the wait, not the freeze', async () => {
      const time = new VirtualTime(0);
      const { guard } = guardOn(time);
      for (let i = 0; i < 20; i++)
        await time.run(guard.call('readView', answering(time, 20, 'ok')));
      const before = guard.waitMs();
      // The decision gives up at its wait; the answer is processed almost 3 s later (the
      // container was frozen meanwhile). Taken as a latency it would push the wait to the ceiling.
      const gaveUp = await time.run(
        guard.call('write', answering(time, 2_900, 'ok')).catch((e: unknown) => e),
      );
      expect(gaveUp).toBeInstanceOf(StoreWaitError);
      expect(await time.run((gaveUp as StoreWaitError).late)).toBe('ok');
      expect(guard.waitMs()).toBeGreaterThan(before);
      expect(guard.waitMs()).toBeLessThan(1000);
    });

    it('a background call has no wait, teaches no latency, and its timeouts do not open the guard', async () => {
      const time = new VirtualTime(0);
      const { guard, calls } = guardOn(time, { errorsToOpen: 2 });
      await time.run(guard.call('readView', answering(time, 20, 'warm')));
      const waitBefore = guard.waitMs();
      // Slower than any wait, still answered: nothing gives up on it.
      expect(
        await time.run(guard.call('write', answering(time, 2_500, 'landed'), { background: true })),
      ).toBe('landed');
      expect(guard.waitMs()).toBe(waitBefore);
      for (let i = 0; i < 3; i++) {
        const e = await time.run(
          guard
            .call('write', () => new Promise<never>(() => undefined), { background: true })
            .catch((x: unknown) => x),
        );
        expect((e as StoreError).kind).toBe('timeout');
      }
      expect(guard.open).toBe(false);
      // Other failures of background calls are evidence like any other.
      for (let i = 0; i < 2; i++) {
        await time.run(
          guard.call('write', failing('unavailable'), { background: true }).catch(() => undefined),
        );
      }
      expect(guard.open).toBe(true);
      expect(calls.filter((c) => c.late).length).toBeGreaterThanOrEqual(6);
    });

    it('an answer due when the ceiling fires wins over the abort (it was received before the timer ran)', async () => {
      const time = new VirtualTime(0);
      const { guard } = guardOn(time);
      await time.run(guard.call('readView', answering(time, 20, 'warm')));
      // The ceiling's timer and the answer are due at the same moment, the ceiling first.
      const call = guard.call('write', answering(time, 3000, 'landed'), { background: true });
      expect(await time.run(call)).toBe('landed');
    });

    it('an answer due when the down watch fires keeps the guard closed', async () => {
      const time = new VirtualTime(0);
      const { guard } = guardOn(time);
      await time.run(guard.call('readView', answering(time, 20, 'warm')));
      const wait = guard.waitMs();
      const call = guard.call('write', answering(time, 2 * wait, 'landed'));
      const gaveUp = await time.run(call.catch((e: unknown) => e));
      expect(gaveUp).toBeInstanceOf(StoreWaitError);
      expect(await time.run((gaveUp as StoreWaitError).late)).toBe('landed');
      expect(guard.open).toBe(false);
    });
  });
});
