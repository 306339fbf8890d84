/**
 * Run-time overrides end to end: set with `npm run limits` (the script as a
 * process) against one region's API of the local runtime, they take effect
 * at the edge and the API of every emulated region within the documented
 * bound (the maximum age plus the replication lag), with no restart; and
 * deleting them puts the configured limits back the same way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalHandle, startLocal } from '../../local/runtime';
import { e2eConfig, edgeGet, peekAll, policyOf } from './harness';
import { runProcess, waitFor } from './processes';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];
const LAG_MS = 200;
const REFRESH_MS = 500;
const MAX_AGE_MS = 1500;
/**
 * The documented bound for this config (docs/design.md, Overrides): the
 * maximum age plus the replication lag plus one read; plus room for a busy
 * machine (the runtime's own calls take milliseconds, not seconds).
 */
const BOUND_MS = MAX_AGE_MS + LAG_MS + 1000;
const SLACK_MS = 3000;

describe('overrides set with the command, in every region', () => {
  let local: LocalHandle;

  beforeAll(async () => {
    const base = e2eConfig(REGIONS);
    local = await startLocal({
      config: {
        ...base,
        runtime: { ...base.runtime, overridesRefreshMs: REFRESH_MS, overridesMaxAgeMs: MAX_AGE_MS },
      },
      lagMs: LAG_MS,
      jitterMs: 0,
      reconcileEveryMs: 0,
    });
  });
  afterAll(() => local?.stop());

  const limits = (...args: string[]) =>
    runProcess(
      'tsx',
      'scripts/limits.ts',
      [...args, '--api-url', local.apiUrls['eu-west-1'] as string],
      {
        env: { USER: 'e2e' },
      },
    );

  /**
   * Resolves once every region meets `condition`; fails when one has not
   * within the documented bound (plus room for a busy machine).
   */
  async function everyRegion(condition: (region: string) => Promise<boolean>): Promise<void> {
    await Promise.all(
      REGIONS.map((region) =>
        waitFor(
          () => condition(region),
          () => `${region} did not apply the override`,
          BOUND_MS + SLACK_MS,
        ),
      ),
    );
  }

  it('denies a key at every edge, then limits it as configured again once deleted', async () => {
    const key = 'e2e-override-deny';
    for (const region of REGIONS) {
      expect((await edgeGet(local, region, '/demo/x', key)).status).toBe(200);
    }
    const set = await limits('set', 'demo', key, '--deny', '--reason', 'e2e incident');
    expect(set.code, set.stderr).toBe(0);
    const answer = JSON.parse(set.stdout) as Record<string, unknown>;
    expect(answer).toMatchObject({
      policy: 'demo',
      key,
      settings: { mode: 'deny' },
      reason: 'e2e incident',
      updatedBy: 'unauthenticated:e2e',
    });
    await everyRegion(
      async (region) => (await edgeGet(local, region, '/demo/x', key)).status === 403,
    );

    const listed = await limits('list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).overrides).toContainEqual(
      expect.objectContaining({ key, updatedBy: 'unauthenticated:e2e' }),
    );

    const deleted = await limits('delete', 'demo', key, '--reason', 'resolved');
    expect(deleted.code, deleted.stderr).toBe(0);
    // Limited again, not denied: a 200, or a 429 when the polling above spent the key's
    // bucket (its level then says how long; the deny no longer decides).
    await everyRegion(async (region) =>
      [200, 429].includes((await edgeGet(local, region, '/demo/x', key)).status),
    );
  });

  it('gives a tenant 10x capacity in every region', async () => {
    const key = 'e2e-override-tenant';
    const capacity = policyOf(local.config, 'demo').capacityTokens;
    const set = await limits('set', 'demo', key, '--factor', '10');
    expect(set.code, set.stderr).toBe(0);
    await everyRegion(async (region) => {
      const peeks = await peekAll(local, 'demo', key);
      return peeks.find((p) => p.region === region)?.answer.limit === capacity * 10;
    });
  });

  it('refuses an invalid override with every problem, and changes nothing', async () => {
    const bad = await limits('set', 'nope', 'k', '--capacity=-1', '--deny');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/refused \(400\): 3 problem\(s\)/);
    expect(bad.stderr).toMatch(/- policy: unknown policy "nope"/);
    expect(bad.stderr).toMatch(/- settings.capacityTokens: must be a positive integer/);
    expect(bad.stderr).toMatch(/- settings.capacityTokens: has no effect with mode "deny"/);
    const listed = await limits('list');
    expect(
      JSON.parse(listed.stdout).overrides.some((o: { policy: string }) => o.policy === 'nope'),
    ).toBe(false);
  });
});
