import { describe, expect, it } from 'vitest';
import { evaluateTargets, type TargetResult } from '../../bench/targets';
import {
  costResult,
  edgeRow,
  goodEdgeClient,
  goodEdgeLatency,
  goodEndToEnd,
  goodTraffic,
  trafficCase,
} from './fixtures';

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
      edgeClient: goodEdgeClient(),
      cost: costResult(),
      edgeLatency: goodEdgeLatency(),
    });
    expect(targets.map((t) => [t.id, t.status])).toEqual([
      ['writes-per-admitted', 'met'],
      ['writes-per-admitted-leased', 'met'],
      ['no-call-while-blocked', 'met'],
      ['edge-bundle-size', 'met'],
      ['allowed-hot-vs-rlf', 'met'],
      ['allowed-cold-vs-rlf', 'met'],
      ['refused-vs-rlf', 'met'],
      ['edge-client-cpu', 'met'],
      ['edge-module-load', 'met'],
      ['cost-per-million-admitted', 'met'],
      ['edge-busy-key-fallback', 'met'],
      ['edge-busy-key-p50', 'met'],
      ['edge-busy-key-p99', 'met'],
      ['edge-busy-key-store-wait', 'met'],
      ['edge-over-admission-bound', 'met'],
    ]);
  });

  it('misses each edge target in the regions that miss it, and names them', () => {
    const edge = goodEdgeLatency();
    const rows = [
      ...edge.rows,
      edgeRow('ap-northeast-2', {
        rttMs: 77,
        addedLatencyP50Ms: 2.5,
        addedLatencyP99Ms: 88,
        storeWaitShare: 0.15,
        fallbackRate: 0.01,
      }),
      edgeRow('eu-west-1', { workload: 'cold-keys', overAdmissionTokens: 5, boundTokens: 4 }),
    ];
    const targets = evaluateTargets({ edgeLatency: { ...edge, rows } });
    for (const id of [
      'edge-busy-key-fallback',
      'edge-busy-key-p50',
      'edge-busy-key-p99',
      'edge-busy-key-store-wait',
    ]) {
      expect(byId(targets, id)).toMatchObject({
        status: 'missed',
        note: 'missed in ap-northeast-2',
      });
    }
    expect(byId(targets, 'edge-busy-key-p99').measured).toBe(
      '2 of 3 rows; ap-northeast-2 88 ms (rtt 77)',
    );
    // Cold keys do not count for the busy-key targets, but every row counts for the bound.
    expect(byId(targets, 'edge-over-admission-bound')).toMatchObject({
      status: 'missed',
      note: 'missed in eu-west-1',
    });
    expect(byId(targets, 'edge-over-admission-bound').measured).toContain(
      'eu-west-1 (cold-keys) 5 ≤ 4',
    );
  });

  it("judges the default config as shipped and prices the admitted responses' headers beside it", () => {
    const t = byId(evaluateTargets({ cost: costResult() }), 'cost-per-million-admitted');
    expect(t.goal).toBe(
      'default config ≤ $1.50 per million admitted requests (as shipped, 3 replicas; RateLimit headers on admitted responses priced beside it)',
    );
    expect(t.status).toBe('met');
    // $0.60 + 2 ms of duration + DynamoDB + handler output; the headers: $0.60 + 1 ms + output.
    expect(t.measured).toMatch(
      /^\$0\.809 per request .*; RateLimit headers on admitted responses \(clientHeaders: 'viewer-response'\) add \$0\.609$/,
    );
    expect(t.note).toBeUndefined();
  });

  it('misses the cost target above $1.50 per million admitted, naming the largest parts', () => {
    const t = byId(
      evaluateTargets({ cost: costResult(10, true, 'INFO') }),
      'cost-per-million-admitted',
    );
    expect(t.status).toBe('missed');
    expect(t.measured).toMatch(
      /^\$1\.7\d+ per request .*; RateLimit headers on admitted responses \(clientHeaders: 'viewer-response'\) add \$0\.7\d+$/,
    );
    expect(t.note).toMatch(/^largest parts: Lambda@Edge requests, viewer request \$0\.6, /);
  });

  it('reports every target as not measured, with the reason, when parts are missing', () => {
    const targets = evaluateTargets({
      missing: {
        traffic: 'boom',
        e2e: 'no edge',
        bundle: 'x',
        'edge-client': 'no dynalite',
        cost: 'no store',
        edge: 'no simulator',
      },
    });
    expect(targets.every((t) => t.status === 'not measured')).toBe(true);
    expect(byId(targets, 'edge-client-cpu').note).toBe('no dynalite');
    expect(byId(targets, 'edge-module-load').note).toBe('no dynalite');
    expect(byId(targets, 'cost-per-million-admitted').note).toBe('no store');
    expect(byId(targets, 'edge-busy-key-p99').note).toBe('no simulator');
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
    expect(byId(targets, 'writes-per-admitted').note).toMatch(
      /^100 writes beyond one per admission.*: 100 conditional retries,/,
    );
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

  it('judges the allowed p99 at equal offered load when that run exists', () => {
    const e2e = goodEndToEnd();
    const [hot, cold, refused] = e2e.workloads;
    if (hot === undefined || cold === undefined || refused === undefined)
      throw new Error('fixture');
    if (hot.equalLoad === undefined) throw new Error('fixture');
    const saturatedTailOnly = {
      ...e2e,
      workloads: [{ ...hot, ratios: { ...hot.ratios, p99OursOverRlf: 1.2 } }, cold, refused],
    };
    const met = byId(evaluateTargets({ endToEnd: saturatedTailOnly }), 'allowed-hot-vs-rlf');
    expect(met.status).toBe('met');
    const slowerAtEqualLoad = {
      ...e2e,
      workloads: [{ ...hot, equalLoad: { ...hot.equalLoad, p99OursOverRlf: 1.2 } }, cold, refused],
    };
    const missed = byId(evaluateTargets({ endToEnd: slowerAtEqualLoad }), 'allowed-hot-vs-rlf');
    expect(missed.status).toBe('missed');
    expect(missed.note).toContain('at an equal 800 req/s');
    expect(
      byId(evaluateTargets({ endToEnd: slowerAtEqualLoad }), 'allowed-cold-vs-rlf').status,
    ).toBe('met');
    const { equalLoad: _dropped, ...noEqualLoad } = cold;
    const saturationOnly = {
      ...e2e,
      workloads: [
        hot,
        { ...noEqualLoad, ratios: { ...cold.ratios, p99OursOverRlf: 1.2 } },
        refused,
      ],
    };
    const cut = byId(evaluateTargets({ endToEnd: saturationOnly }), 'allowed-cold-vs-rlf');
    expect(cut.note).toContain('at saturation');
  });

  it('names both shortfalls when throughput and p99 both miss', () => {
    const e2e = goodEndToEnd();
    const [hot, cold, refused] = e2e.workloads;
    if (hot === undefined || cold === undefined || refused === undefined)
      throw new Error('fixture');
    const worse = {
      ...e2e,
      workloads: [
        hot,
        {
          ...cold,
          ratios: { ...cold.ratios, throughputOursOverRlf: 0.5 },
          equalLoad: {
            ...(cold.equalLoad as NonNullable<typeof cold.equalLoad>),
            p99OursOverRlf: 1.5,
          },
        },
        refused,
      ],
    };
    const t = byId(evaluateTargets({ endToEnd: worse }), 'allowed-cold-vs-rlf');
    expect(t.status).toBe('missed');
    expect(t.note).toContain('lower throughput');
    expect(t.note).toContain('higher p99');
  });

  it('says when an allowed ratio is too close to 1 to call on a shared machine', () => {
    const e2e = goodEndToEnd();
    const [hot, cold, refused] = e2e.workloads;
    if (hot === undefined || cold === undefined || refused === undefined)
      throw new Error('fixture');
    const close = {
      ...e2e,
      workloads: [
        { ...hot, ratios: { ...hot.ratios, throughputOursOverRlf: 1.05 } },
        cold,
        refused,
      ],
    };
    const t = byId(evaluateTargets({ endToEnd: close }), 'allowed-hot-vs-rlf');
    expect(t.status).toBe('met');
    expect(t.note).toContain('run-to-run noise');
    const clear = byId(evaluateTargets({ endToEnd: e2e }), 'allowed-hot-vs-rlf');
    expect(clear.note).toBeUndefined();
    expect(clear.measured).toContain('CPU per request ×0.67');
  });

  it('needs 5× the reference throughput when most requests are refused', () => {
    const e2e = goodEndToEnd();
    const [hot, cold, refused] = e2e.workloads;
    if (hot === undefined || cold === undefined || refused === undefined)
      throw new Error('fixture');
    const slower = {
      ...e2e,
      workloads: [
        hot,
        cold,
        { ...refused, ratios: { ...refused.ratios, throughputOursOverRlf: 4.9 } },
      ],
    };
    expect(byId(evaluateTargets({ endToEnd: slower }), 'refused-vs-rlf').status).toBe('missed');
  });

  it('holds the edge client to a third of the SDK client’s CPU and half its module load', () => {
    const at = evaluateTargets({ edgeClient: goodEdgeClient(300) });
    expect(byId(at, 'edge-client-cpu').status).toBe('met');
    expect(byId(at, 'edge-client-cpu').measured).toMatch(/^×0\.33: 100 µs vs 300 µs/);
    const above = evaluateTargets({ edgeClient: goodEdgeClient(299) });
    expect(byId(above, 'edge-client-cpu').status).toBe('missed');
    const slow = goodEdgeClient();
    const slowLoad = evaluateTargets({
      edgeClient: { ...slow, moduleLoad: { ...slow.moduleLoad, requireRatio: 0.51 } },
    });
    expect(byId(slowLoad, 'edge-module-load').status).toBe('missed');
    expect(byId(slowLoad, 'edge-client-cpu').status).toBe('met');
  });
});
