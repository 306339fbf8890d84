import { describe, expect, it } from 'vitest';
import { resolveReconcilerOptions } from '../../functions/reconciler/reconcile';
import { config as projectConfig } from '../../limiter.config';
import { localReconcilerOptions, staggerMs } from '../../local/runtime';

describe('local reconciler timing', () => {
  it('spreads the regions over one period, the first at once', () => {
    expect(Array.from({ length: 9 }, (_, i) => staggerMs(i, 9, 4500))).toEqual([
      0, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000,
    ]);
    expect(staggerMs(0, 1, 5000)).toBe(0);
  });

  it('waits long enough for a busy machine and polls at a tenth of the lag', () => {
    expect(localReconcilerOptions(250)).toEqual({
      probeWaitMs: 2000,
      firstPollIntervalMs: 25,
      maxPollIntervalMs: 25,
    });
    expect(localReconcilerOptions(0)).toMatchObject({ probeWaitMs: 2000, firstPollIntervalMs: 10 });
    expect(localReconcilerOptions(1000)).toMatchObject({
      probeWaitMs: 5000,
      maxPollIntervalMs: 100,
    });
    expect(localReconcilerOptions(60_000)).toMatchObject({
      probeWaitMs: 20_000,
      maxPollIntervalMs: 250,
    });
  });

  it.each([0, 250, 5000, 60_000])('gives options the reconciler accepts (lag %d ms)', (lagMs) => {
    expect(() =>
      resolveReconcilerOptions(projectConfig, localReconcilerOptions(lagMs)),
    ).not.toThrow();
  });
});
