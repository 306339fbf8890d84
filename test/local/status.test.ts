import { describe, expect, it } from 'vitest';
import type { ReconcilerStatus } from '../../functions/shared/replication-status';
import {
  emptyCounters,
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
  });

  it('turns watched level ratios into tokens per region', () => {
    expect(snapshot().watched[0]?.levelTokens).toEqual({ 'us-east-1': 2500, 'eu-west-1': 1250 });
  });

  it('draws one aligned row per region, the cut link and the watched levels', () => {
    const lines = renderTable(snapshot());
    expect(lines[0]).toContain('12:00:05 UTC');
    const us = lines.find((l) => l.startsWith('us-east-1'));
    const eu = lines.find((l) => l.startsWith('eu-west-1'));
    expect(us?.split(/\s+/)).toEqual(['us-east-1', '10', '5', '0', '0', '0', 'up', '212', 'ms']);
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

  it('prints plain lines that change only when the state does', () => {
    const a = renderPlain(snapshot());
    const later = { ...snapshot(), atMs: snapshot().atMs + 60_000 };
    expect(renderPlain(later)).toEqual(a);
    const changed = snapshot();
    (changed.regions[0]!.edge as { allowed: number }).allowed++;
    expect(renderPlain(changed)).not.toEqual(a);
    expect(a.some((l) => l.includes('\x1b'))).toBe(false);
  });
});
