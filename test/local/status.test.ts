import { describe, expect, it } from 'vitest';
import type { ReconcilerStatus } from '../../functions/shared/replication-status';
import { Display } from '../../local/display';
import {
  emptyCounters,
  plainChanged,
  type RegionSnapshot,
  renderPlain,
  renderTable,
  type StatusSnapshot,
  syncLagText,
  watchedLevels,
} from '../../local/status';

const reconciler = (region: string, lagMs: Record<string, number | null>, level: number | null) =>
  ({
    region,
    measuredAtMs: 0,
    durationMs: 10,
    lagMs,
    heartbeatAgeMs: {},
    watched: [{ policy: 'cap', key: 'all', levelRatio: level, divergenceTokens: 0, replicas: 2 }],
    errorCount: 0,
  }) satisfies ReconcilerStatus;

function snapshot(): StatusSnapshot {
  const regions = [
    { region: 'us-east-1', reconciler: reconciler('us-east-1', { 'eu-west-1': 212.4 }, 0.5) },
    { region: 'eu-west-1', reconciler: reconciler('eu-west-1', { 'us-east-1': null }, 0.25) },
  ];
  return {
    atMs: Date.UTC(2026, 0, 1, 12, 0, 5),
    lagMs: 200,
    jitterMs: 50,
    reconcileEveryMs: 5000,
    adminUrl: 'http://127.0.0.1:1',
    originUrl: 'http://127.0.0.1:2',
    regions: regions.map((r, i) => ({
      ...r,
      edgeUrl: `http://127.0.0.1:${10 + i}`,
      apiUrl: `http://127.0.0.1:${20 + i}`,
      storeEndpoint: `http://127.0.0.1:${30 + i}`,
      storeDown: i === 1 ? 'error' : null,
      edge: { ...emptyCounters(), allowed: 10 + i, refused: 5, fallbacks: i },
      reconcilerError: null,
      reconcilerRuns: 1,
      lagResolutionMs: (i === 0 ? { 'eu-west-1': 11 } : {}) as Record<string, number>,
    })),
    links: [
      {
        from: 'us-east-1',
        to: 'eu-west-1',
        cut: true,
        delivered: 1,
        superseded: 0,
        pending: 3,
        lastLagMs: 200,
        maxLagMs: 230,
      },
      {
        from: 'eu-west-1',
        to: 'us-east-1',
        cut: true,
        delivered: 1,
        superseded: 0,
        pending: 0,
        lastLagMs: 200,
        maxLagMs: 210,
      },
    ],
    watched: watchedLevels([{ policy: 'cap', key: 'all', capacityTokens: 5000 }], regions),
  };
}

describe('status rendering', () => {
  it('states the worst measured lag, or which replica did not see the heartbeat', () => {
    expect(syncLagText(null)).toBe('-');
    expect(syncLagText(reconciler('a', { b: 120, c: 340.6 }, null))).toBe('341 ms');
    expect(syncLagText(reconciler('a', { b: 120, c: null }, null))).toBe('not seen: c');
    // ± half the window the probe narrowed the worst link's arrival to.
    expect(syncLagText(reconciler('a', { b: 120, c: 340.6 }, null), { b: 90, c: 21 })).toBe(
      '341 ms ±11',
    );
    expect(syncLagText(reconciler('a', {}, null))).toBe('n/a');
  });

  it('turns watched level ratios into tokens per region', () => {
    expect(snapshot().watched[0]?.levelTokens).toEqual({ 'us-east-1': 2500, 'eu-west-1': 1250 });
  });

  it('draws one aligned row per region, the cut link and the watched levels', () => {
    const lines = renderTable(snapshot());
    expect(lines[0]).toContain('12:00:05 UTC');
    const us = lines.find((l) => l.startsWith('us-east-1'));
    const eu = lines.find((l) => l.startsWith('eu-west-1'));
    expect(us?.split(/\s+/)).toEqual([
      'us-east-1',
      '10',
      '5',
      '0',
      '0',
      '0',
      'up',
      '212',
      'ms',
      '±6',
    ]);
    expect(eu).toContain('down (error)');
    expect(eu).toContain('not seen: us-east-1');
    expect(lines).toContain(
      'links cut: eu-west-1 <-> us-east-1 · 3 deliveries queued or in flight',
    );
    expect(lines.find((l) => l.startsWith('cap:all'))?.split(/\s+/)).toEqual([
      'cap:all',
      '(of',
      '5000)',
      '2500',
      '1250',
    ]);
    const header = lines[1] ?? '';
    expect(us?.indexOf('up')).toBe(header.indexOf('store'));
  });

  it("states how long the emulator took for each link's last delivery", () => {
    const s = snapshot();
    const healed = {
      ...s,
      links: s.links.map((l, i) => ({ ...l, cut: false, lastLagMs: 231 + i * 17 })),
    };
    expect(renderTable(healed)).toContain(
      'links: all up · 3 deliveries in flight · last delivery per link took 231-248 ms',
    );
  });

  it('prints plain lines without colour, stable for the same state', () => {
    const a = renderPlain(snapshot());
    expect(renderPlain({ ...snapshot(), atMs: snapshot().atMs + 60_000 })).toEqual(a);
    expect(a.some((l) => l.includes('\x1b'))).toBe(false);
    expect(a[0]).toContain('syncLag="212 ms ±6"');
  });
});

/** A snapshot whose first region measured `lagMs` to the second. */
function withLag(lagMs: number | null): StatusSnapshot {
  const s = snapshot();
  const first = s.regions[0] as RegionSnapshot;
  return {
    ...s,
    regions: [
      { ...first, reconciler: reconciler('us-east-1', { 'eu-west-1': lagMs }, 0.5) },
      ...s.regions.slice(1),
    ],
  };
}

describe('status with the network model', () => {
  const withEdges = (allowed: number): StatusSnapshot => ({
    ...snapshot(),
    edges: [
      {
        region: 'sa-east-1',
        edgeUrl: 'http://127.0.0.1:40',
        replica: 'us-east-1',
        storeMedianMs: 118.3,
        storeP99Ms: 127.7,
        estimated: false,
        storeCalls: 4,
        meanDelayMs: 119.6,
        edge: { ...emptyCounters(), allowed },
      },
    ],
  });

  it('draws a row per edge region with its replica, the model and the calls that crossed it', () => {
    const row = renderTable(withEdges(2)).find((l) => l.startsWith('sa-east-1'));
    expect(row?.split(/\s{2,}/)).toEqual([
      'sa-east-1',
      'us-east-1',
      '118/128 ms',
      '4',
      '120 ms',
      '2',
      '0',
      '0',
      '0',
      '0',
    ]);
    expect(renderPlain(withEdges(2)).at(-1)).toBe(
      '[status] edge sa-east-1 -> us-east-1: allowed=2 refused=0 other=0 fallbacks=0 errors=0 storeCalls=4',
    );
  });

  it('counts an edge region’s counters as a change', () => {
    expect(plainChanged(withEdges(2), withEdges(2))).toBe(false);
    expect(plainChanged(withEdges(2), withEdges(3))).toBe(true);
  });
});

describe('plainChanged', () => {
  it('ignores the time and the run-to-run noise of measured lags', () => {
    expect(plainChanged(snapshot(), { ...snapshot(), atMs: snapshot().atMs + 60_000 })).toBe(false);
    expect(plainChanged(withLag(250), withLag(330))).toBe(false);
    expect(plainChanged(withLag(250), withLag(180))).toBe(false);
  });

  it('sees counters, stores, links, heartbeats, watched levels and real lag changes', () => {
    const base = snapshot();
    const counted = snapshot();
    (counted.regions[0]?.edge as { allowed: number }).allowed++;
    expect(plainChanged(base, counted)).toBe(true);
    const healed = { ...snapshot(), links: base.links.map((l) => ({ ...l, cut: false })) };
    expect(plainChanged(base, healed)).toBe(true);
    const up = snapshot();
    (up.regions[1] as { storeDown: unknown }).storeDown = null;
    expect(plainChanged(base, up)).toBe(true);
    expect(plainChanged(withLag(250), withLag(null))).toBe(true);
    expect(plainChanged(withLag(250), withLag(2250))).toBe(true);
    const refilled = {
      ...snapshot(),
      watched: [{ ...base.watched[0], levelTokens: { 'us-east-1': 2600, 'eu-west-1': 1250 } }],
    };
    expect(plainChanged(base, refilled as StatusSnapshot)).toBe(true);
    expect(plainChanged(base, { ...snapshot(), lagMs: 1000 })).toBe(true);
  });
});

describe('Display, piped', () => {
  it('prints the status once, then only when something changed', async () => {
    const written: string[] = [];
    let current = withLag(250);
    const display = new Display({
      out: { write: (t: string) => written.push(t), isTTY: false },
      snapshot: async () => current,
    });
    await display.refresh();
    current = { ...withLag(262), atMs: current.atMs + 10_000 };
    await display.refresh();
    await display.refresh();
    expect(written).toHaveLength(1);
    expect(written[0]).toContain('syncLag="250 ms ±6"');
    current = withLag(null);
    await display.refresh();
    expect(written).toHaveLength(2);
    expect(written[1]).toContain('syncLag="not seen: eu-west-1"');
  });
});
