/**
 * The reconciler's composition root, without I/O: what it refuses up front,
 * and that it builds each replica's stores once and keeps them.
 */
import { describe, expect, it } from 'vitest';
import { reconcilerDependencies } from '../../functions/reconciler/handler';
import { InvalidReconcilerOptionsError } from '../../functions/reconciler/reconcile';
import { CAP, RecordingLogger, testConfig } from './fakes';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];
const config = {
  ...testConfig(REGIONS, [CAP]),
  appName: 'ReconcilerTest',
  account: '111111111111',
  origin: { domainName: 'api.example.com' },
  rules: [],
};
const quiet = { logger: new RecordingLogger(), metrics: { publish: async () => undefined } };

describe('reconcilerDependencies', () => {
  it('refuses endpoints that miss configured regions, listing every one', () => {
    let error: unknown;
    try {
      reconcilerDependencies(config, 'us-east-1', {
        ...quiet,
        endpoints: { 'us-east-1': 'http://127.0.0.1:1' },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidReconcilerOptionsError);
    expect((error as InvalidReconcilerOptionsError).problems).toEqual([
      'no DynamoDB endpoint for region "eu-west-1"',
      'no DynamoDB endpoint for region "ap-southeast-1"',
    ]);
  });

  it('refuses inconsistent options before building anything', () => {
    expect(() =>
      reconcilerDependencies(config, 'us-east-1', { ...quiet, options: { callTimeoutMs: 0 } }),
    ).toThrow(InvalidReconcilerOptionsError);
  });

  it('builds one bucket store and one replication store per replica, and keeps them', () => {
    const deps = reconcilerDependencies(config, 'eu-west-1', {
      ...quiet,
      endpoints: Object.fromEntries(REGIONS.map((r, i) => [r, `http://127.0.0.1:${i + 1}`])),
    });
    try {
      expect(deps.region).toBe('eu-west-1');
      expect(deps.replicationStore('us-east-1')).toBe(deps.replicationStore('us-east-1'));
      expect(deps.bucketStore('us-east-1')).toBe(deps.bucketStore('us-east-1'));
      expect(deps.replicationStore('us-east-1')).not.toBe(deps.replicationStore('eu-west-1'));
    } finally {
      deps.close();
    }
  });
});
