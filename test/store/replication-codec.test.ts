/**
 * The heartbeat and status items, attribute by attribute: the layout is
 * what replicas written by older and newer code must agree on.
 */
import { describe, expect, it } from 'vitest';
import type { ReconcilerStatus } from '../../functions/shared/replication-status';
import {
  decodeHeartbeat,
  decodeReconcilerStatus,
  encodeReconcilerStatus,
  HEARTBEAT_PK,
  heartbeatTtlOf,
  RECONCILER_STATUS_PK,
  ReplicationCodecError,
} from '../../functions/store/replication-codec';

const status: ReconcilerStatus = {
  region: 'eu-west-1',
  measuredAtMs: 1_700_000_000_123,
  durationMs: 812,
  lagMs: { 'us-east-1': 734, 'ap-southeast-1': null },
  heartbeatAgeMs: { 'us-east-1': 41_000, 'ap-southeast-1': null },
  watched: [
    { policy: 'global-cap', key: 'all', levelRatio: 0.25, divergenceTokens: 3.5, replicas: 2 },
    { policy: 'global-cap', key: 'other', levelRatio: null, divergenceTokens: null, replicas: 0 },
  ],
  errorCount: 2,
};

describe('reconciler status item', () => {
  it('round-trips through the item, nulls included', () => {
    expect(decodeReconcilerStatus(encodeReconcilerStatus(status))).toEqual(status);
  });

  it('keeps the stored layout: every attribute, its type and its value', () => {
    expect(encodeReconcilerStatus(status)).toEqual({
      pk: { S: '__reconciler__' },
      sk: { S: 'eu-west-1' },
      sv: { N: '1' },
      measuredAtMs: { N: '1700000000123' },
      durationMs: { N: '812' },
      lagMs: { M: { 'us-east-1': { N: '734' }, 'ap-southeast-1': { NULL: true } } },
      heartbeatAgeMs: { M: { 'us-east-1': { N: '41000' }, 'ap-southeast-1': { NULL: true } } },
      watched: {
        L: [
          {
            M: {
              policy: { S: 'global-cap' },
              key: { S: 'all' },
              levelRatio: { N: '0.25' },
              divergenceTokens: { N: '3.5' },
              replicas: { N: '2' },
            },
          },
          {
            M: {
              policy: { S: 'global-cap' },
              key: { S: 'other' },
              levelRatio: { NULL: true },
              divergenceTokens: { NULL: true },
              replicas: { N: '0' },
            },
          },
        ],
      },
      errorCount: { N: '2' },
      ttl: { N: String(1_700_000_001 + 24 * 3600) },
    });
    expect(RECONCILER_STATUS_PK).toBe('__reconciler__');
  });

  it('refuses an item of another shape version, naming it', () => {
    const future = { ...encodeReconcilerStatus(status), sv: { N: '2' } };
    expect(() => decodeReconcilerStatus(future)).toThrow(ReplicationCodecError);
    expect(() => decodeReconcilerStatus(future)).toThrow(/sv is 2, expected 1/);
  });

  it.each([
    ['measuredAtMs', { S: 'yesterday' }],
    ['lagMs', { N: '3' }],
    ['watched', { M: {} }],
    ['sk', { N: '1' }],
  ])('names a malformed %s', (name, value) => {
    const broken = { ...encodeReconcilerStatus(status), [name]: value };
    expect(() => decodeReconcilerStatus(broken)).toThrow(new RegExp(`malformed.*${name}`));
  });

  it('refuses to encode a number that is not finite, naming where it is', () => {
    const bad = { ...status, lagMs: { 'us-east-1': Number.NaN } };
    expect(() => encodeReconcilerStatus(bad)).toThrow(/lagMs\.us-east-1/);
    const worse = {
      ...status,
      watched: [
        { ...(status.watched[0] as ReconcilerStatus['watched'][number]), levelRatio: Infinity },
      ],
    };
    expect(() => encodeReconcilerStatus(worse)).toThrow(/watched\[0\]\.levelRatio/);
  });
});

describe('heartbeat item', () => {
  it('decodes sk, at and seq, and refuses an item missing any of them', () => {
    const item = {
      pk: { S: HEARTBEAT_PK },
      sk: { S: 'eu-west-1' },
      at: { N: '17' },
      seq: { N: '4' },
    };
    expect(decodeHeartbeat(item)).toEqual({ region: 'eu-west-1', atMs: 17, seq: 4 });
    for (const name of ['sk', 'at', 'seq'] as const) {
      const { [name]: _dropped, ...rest } = item;
      expect(() => decodeHeartbeat(rest)).toThrow(ReplicationCodecError);
    }
    expect(() => decodeHeartbeat({ ...item, at: { N: '1.5' } })).toThrow(/malformed heartbeat/);
  });

  it('expires a day after its write, and refuses a write time it could not read back', () => {
    expect(heartbeatTtlOf(1_700_000_000_001)).toBe(1_700_000_001 + 24 * 3600);
    expect(() => heartbeatTtlOf(1.5)).toThrow(ReplicationCodecError);
    expect(() => heartbeatTtlOf(Number.NaN)).toThrow(ReplicationCodecError);
  });
});
