/**
 * Invalid configs stop the app before anything is built, with every problem
 * named at once: through validateConfig, through buildLimiterApp, and through
 * the real entry point (`infra/app.ts`, as `cdk synth` runs it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import {
  type ConfigProblem,
  InvalidConfigError,
  type LimiterConfig,
  MAX_WATCHED_BUCKETS,
  validateConfig,
} from '../../functions/config/schema';
import { buildLimiterApp } from '../../infra/limiter-app';
import { REPO_ROOT } from '../../scripts/build-functions';
import { baseConfig, singleRegionConfig, strongConfig } from './fixtures';

/** Five independent mistakes, each in its own field. */
function brokenConfig(): LimiterConfig {
  const base = strongConfig();
  return {
    ...base,
    // duplicate region
    regions: [...base.regions, 'eu-west-1'],
    // strong table across two region sets
    strong: {
      tableName: 'edge-rate-limiter-strong',
      regions: ['us-east-1', 'us-east-2', 'eu-west-1'],
    },
    rules: [
      // cost above the policy's capacity (demo: 10 tokens)
      {
        id: 'too-dear',
        match: { path: '/x' },
        policy: 'demo',
        key: [{ ip: true }],
        cost: { fixed: 11 },
      },
      // unknown policy
      { id: 'ghost', match: { path: '/y' }, policy: 'no-such-policy', key: [{ ip: true }] },
      ...base.rules,
    ],
    notifications: { emails: ['oncall@example.com', 'not-an-email'] },
  };
}

const at = (problems: readonly ConfigProblem[], path: string) =>
  problems.filter((p) => p.path === path).map((p) => p.message);

describe('validateConfig', () => {
  it('accepts the shipped config and the test variants', () => {
    expect(validateConfig(baseConfig())).toEqual([]);
    expect(validateConfig(strongConfig())).toEqual([]);
    expect(validateConfig(singleRegionConfig())).toEqual([]);
  });

  it('names every problem of a config at once, each at its field', () => {
    const problems = validateConfig(brokenConfig());
    expect(at(problems, 'regions[4]')).toEqual([
      expect.stringContaining('duplicate region "eu-west-1"'),
    ]);
    expect(at(problems, 'strong.regions')).toEqual([expect.stringContaining('one region set')]);
    expect(at(problems, 'rules[0].cost.fixed')).toEqual([
      expect.stringContaining('cost 11 exceeds capacityTokens 10'),
    ]);
    expect(at(problems, 'rules[1].policy')).toEqual(['unknown policy "no-such-policy"']);
    expect(at(problems, 'notifications.emails[1]')).toEqual([
      '"not-an-email" is not an email address',
    ]);
    expect(problems).toHaveLength(5);
  });

  it.each([
    ['origin.httpsPort', { origin: { domainName: 'api.example.com', httpsPort: 70_000 } }],
    ['origin.protocol', { origin: { domainName: 'api.example.com', protocol: 'ftp' } }],
    ['alarms.syncLagMillis', { alarms: { syncLagMillis: 10 } }],
    ['regionalApi.auth', { regionalApi: { auth: 'public' } }],
    ['policies', { policies: 'api' }],
    ['clientHeaders', { clientHeaders: 'origin-response' }],
    ['edgeSystemLogLevel', { edgeSystemLogLevel: 'warn' }],
  ])('rejects a bad %s', (path, patch) => {
    const config = { ...baseConfig(), ...patch } as unknown as LimiterConfig;
    expect(validateConfig(config).map((p) => p.path)).toContain(path);
  });

  it('names the accepted client-header modes, alongside the other problems', () => {
    const config = { ...brokenConfig(), clientHeaders: true } as unknown as LimiterConfig;
    const problems = validateConfig(config);
    expect(at(problems, 'clientHeaders')).toEqual(['must be viewer-response or none (got true)']);
    expect(problems).toHaveLength(6);
    for (const clientHeaders of ['viewer-response', 'none'] as const) {
      expect(validateConfig({ ...baseConfig(), clientHeaders })).toEqual([]);
    }
  });

  it('names the accepted edge system log levels, alongside the other problems', () => {
    const config = {
      ...brokenConfig(),
      clientHeaders: 'both',
      edgeSystemLogLevel: 'ERROR',
    } as unknown as LimiterConfig;
    const problems = validateConfig(config);
    expect(at(problems, 'edgeSystemLogLevel')).toEqual([
      'must be WARN, INFO or DEBUG (got "ERROR")',
    ]);
    expect(at(problems, 'clientHeaders')).toHaveLength(1);
    expect(problems).toHaveLength(7);
    for (const edgeSystemLogLevel of ['WARN', 'INFO', 'DEBUG'] as const) {
      expect(validateConfig({ ...baseConfig(), edgeSystemLogLevel })).toEqual([]);
    }
  });

  it('refuses more watched buckets than the reconciler measures per run', () => {
    const config = baseConfig();
    const watch = (n: number): LimiterConfig => ({
      ...config,
      policies: config.policies.map((p, i) =>
        i === 0 ? { ...p, watchKeys: Array.from({ length: n }, (_, j) => `k${j}`) } : p,
      ),
    });
    const others = config.policies.slice(1).reduce((sum, p) => sum + (p.watchKeys?.length ?? 0), 0);
    expect(validateConfig(watch(MAX_WATCHED_BUCKETS - others))).toEqual([]);
    expect(
      at(validateConfig(watch(MAX_WATCHED_BUCKETS - others + 1)), 'policies[].watchKeys'),
    ).toEqual([expect.stringContaining(`at most ${MAX_WATCHED_BUCKETS}`)]);
  });

  it('rejects a strong table whose regions have no regional stack', () => {
    const config = strongConfig();
    const problems = validateConfig({ ...config, regions: ['us-east-1', 'eu-west-1'] });
    expect(at(problems, 'strong.regions')).toEqual([
      'region "us-east-2" is not in regions',
      'region "us-west-2" is not in regions',
    ]);
  });
});

describe('buildLimiterApp', () => {
  it('throws InvalidConfigError listing every problem and builds nothing', () => {
    const app = new App();
    let error: unknown;
    try {
      buildLimiterApp(brokenConfig(), { app });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as InvalidConfigError).problems).toHaveLength(5);
    expect((error as Error).message).toContain('5 problems');
    expect(app.node.children).toHaveLength(0);
  });
});

describe('infra/app.ts', () => {
  it('exits non-zero listing every problem, before writing a cloud assembly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'limiter-config-'));
    const file = join(dir, 'broken.config.ts');
    writeFileSync(file, `export default ${JSON.stringify(brokenConfig())};\n`);
    const outdir = join(dir, 'cdk.out');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, LIMITER_CONFIG: file, CDK_OUTDIR: outdir },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    for (const path of [
      'regions[4]',
      'strong.regions',
      'rules[0].cost.fixed',
      'rules[1].policy',
      'notifications.emails[1]',
    ]) {
      expect(run.stderr).toContain(`  - ${path}: `);
    }
    expect(run.stderr).toContain('5 problems');
    expect(existsSync(join(outdir, 'manifest.json'))).toBe(false);
  });
});
