import { describe, expect, it } from 'vitest';
import { evaluateTargets, type TargetResult } from '../../bench/targets';
import { goodEndToEnd, goodTraffic, trafficCase } from './fixtures';

function byId(targets: TargetResult[], id: string): TargetResult {
  const t = targets.find((x) => x.id === id);
  if (t === undefined) throw new Error(`no target ${id}`);
  return t;
}

describe('evaluateTargets', () => {
  it('marks every target met on good figures', () => {
    const targets = evaluateTargets({
      storeTraffic: goodTraffic(),
      endToEnd: goodEndToEnd(),
      bundle: { bytes: 500_000, zippedBytes: 120_000 },
    });
    expect(targets.map((t) => [t.id, t.status])).toEqual([
      ['writes-per-admitted', 'met'],
      ['writes-per-admitted-leased', 'met'],
      ['no-call-while-blocked', 'met'],
      ['edge-bundle-size', 'met'],
      ['allowed-vs-rlf', 'met'],
      ['refused-vs-rlf', 'met'],
    ]);
  });

  it('reports every target as not measured, with the reason, when parts are missing', () => {
    const targets = evaluateTargets({ missing: { traffic: 'boom', e2e: 'no edge', bundle: 'x' } });
    expect(targets.every((t) => t.status === 'not measured')).toBe(true);
    expect(byId(targets, 'writes-per-admitted').note).toBe('boom');
    expect(byId(targets, 'refused-vs-rlf').note).toBe('no edge');
  });

  it('misses the write targets when writes exceed their bounds', () => {
    const traffic = goodTraffic();
    const targets = evaluateTargets({
      storeTraffic: {
        ...traffic,
        cases: [
          trafficCase('allowed-heavy', 'view-cache', 1000, 1100, { conditionalRetries: 100 }),
          trafficCase('allowed-heavy', 'lease-10', 1000, 150),
        ],
      },
    });
    expect(byId(targets, 'writes-per-admitted').status).toBe('missed');
    expect(byId(targets, 'writes-per-admitted').measured).toContain('1.1');
    expect(byId(targets, 'writes-per-admitted-leased').status).toBe('missed');
  });

  it('misses the blocked target when a blocked decision reached the store', () => {
    const traffic = goodTraffic();
    const targets = evaluateTargets({
      storeTraffic: {
        ...traffic,
        cases: [
          trafficCase('refused-heavy', 'view-cache', 5, 5, {
            blockedDecisions: 990,
            storeCallsWhileBlocked: 1,
          }),
        ],
      },
    });
    expect(byId(targets, 'no-call-while-blocked').status).toBe('missed');
  });

  it('misses the bundle target at 300 KB and above', () => {
    const at = evaluateTargets({ bundle: { bytes: 1, zippedBytes: 300 * 1024 } });
    expect(byId(at, 'edge-bundle-size').status).toBe('missed');
    const below = evaluateTargets({ bundle: { bytes: 1, zippedBytes: 300 * 1024 - 1 } });
    expect(byId(below, 'edge-bundle-size').status).toBe('met');
  });

  it('needs both throughput and p99 for the allowed comparison, and 5× for the refused one', () => {
    const e2e = goodEndToEnd();
    const [allowed, refused] = e2e.workloads;
    if (allowed === undefined || refused === undefined) throw new Error('fixture');
    const slowerTail = {
      ...e2e,
      workloads: [
        { ...allowed, ratios: { ...allowed.ratios, p99OursOverRlf: 1.2 } },
        { ...refused, ratios: { ...refused.ratios, throughputOursOverRlf: 4.9 } },
      ],
    };
    const targets = evaluateTargets({ endToEnd: slowerTail });
    expect(byId(targets, 'allowed-vs-rlf').status).toBe('missed');
    expect(byId(targets, 'allowed-vs-rlf').note).toContain('p99');
    expect(byId(targets, 'refused-vs-rlf').status).toBe('missed');
  });
});
