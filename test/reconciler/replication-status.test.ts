import { describe, expect, it } from 'vitest';
import {
  isReconcilerStatusStale,
  type ReconcilerStatus,
} from '../../functions/shared/replication-status';

const status: ReconcilerStatus = {
  region: 'eu-west-1',
  measuredAtMs: 1_700_000_000_123,
  durationMs: 812,
  lagMs: {},
  heartbeatAgeMs: {},
  watched: [],
  errorCount: 0,
};

describe('isReconcilerStatusStale', () => {
  it('is stale once older than the allowed age, not at it', () => {
    expect(isReconcilerStatusStale(status, status.measuredAtMs + 60_000, 180_000)).toBe(false);
    expect(isReconcilerStatusStale(status, status.measuredAtMs + 180_000, 180_000)).toBe(false);
    expect(isReconcilerStatusStale(status, status.measuredAtMs + 180_001, 180_000)).toBe(true);
  });
});
