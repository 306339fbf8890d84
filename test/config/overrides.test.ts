/**
 * Validation of run-time overrides: every problem listed at once, with the
 * path of the field at fault, against the config's policies and rules.
 */
import { describe, expect, it } from 'vitest';
import {
  isOperator,
  overrideSortKey,
  overrideTargetOf,
  validateOverride,
} from '../../functions/config/overrides';
import { resolveConfig } from '../../functions/config/resolve';
import { validateConfig } from '../../functions/config/schema';
import { configWith } from '../limiter/fixtures';

const config = resolveConfig(
  configWith(
    [
      { id: 'api', capacityTokens: 100, refillTokens: 10 },
      { id: 'upload', capacityTokens: 50, refillTokens: 5 },
    ],
    { maxKeyLength: 16 },
    {
      rules: [
        {
          id: 'uploads',
          match: { path: '/upload/**' },
          policy: 'upload',
          key: [{ header: 'x-api-key' }],
          cost: { fixed: 20 },
        },
      ],
    },
  ),
);

const paths = (problems: readonly { path: string }[]) => problems.map((p) => p.path);

describe('validateOverride', () => {
  it('accepts a 10x tenant, a denied key, an allowed key and a policy patch', () => {
    expect(validateOverride(config, { policy: 'api', key: 'acme' }, { factor: 10 })).toEqual([]);
    expect(validateOverride(config, { policy: 'api', key: 'k' }, { mode: 'deny' })).toEqual([]);
    expect(validateOverride(config, { policy: 'api', key: 'j' }, { mode: 'allow' })).toEqual([]);
    expect(
      validateOverride(
        config,
        { policy: 'api' },
        { capacityTokens: 500, refillTokens: 50, shadow: true, enabled: true, denyKeys: ['x'] },
        'incident 42',
      ),
    ).toEqual([]);
  });

  it('lists every problem of one override at once', () => {
    const problems = validateOverride(
      config,
      { policy: 'api', key: 'a-key-far-too-long-for-this-config' },
      {
        mode: 'block',
        capacityTokens: -5,
        refillTokens: 1.5,
        factor: 0,
        shadow: 'yes',
        enabled: false,
        quota: 10,
      },
      42,
    );
    expect(paths(problems).sort()).toEqual(
      [
        'key',
        'reason',
        'settings.mode',
        'settings.capacityTokens',
        'settings.refillTokens',
        'settings.factor',
        'settings.shadow',
        'settings.enabled',
        'settings.quota',
      ].sort(),
    );
    expect(problems.find((p) => p.path === 'key')?.message).toMatch(/at most 16/);
    expect(problems.find((p) => p.path === 'settings.enabled')?.message).toMatch(
      /policy-level override only/,
    );
    expect(problems.find((p) => p.path === 'settings.quota')?.message).toMatch(/unknown field/);
  });

  it('names an unknown policy with the known ones', () => {
    const problems = validateOverride(config, { policy: 'nope', key: 'k' }, { mode: 'deny' });
    expect(problems).toEqual([
      { path: 'policy', message: 'unknown policy "nope" (known: api, upload)' },
    ]);
  });

  it('refuses per-key fields on a policy and list fields on a key', () => {
    expect(paths(validateOverride(config, { policy: 'api' }, { mode: 'deny' }))).toEqual([
      'settings.mode',
    ]);
    expect(
      paths(validateOverride(config, { policy: 'api', key: 'k' }, { allowKeys: ['a'] })),
    ).toEqual(['settings.allowKeys']);
  });

  it('refuses an empty override, a non-object and bucket fields beside allow or deny', () => {
    expect(paths(validateOverride(config, { policy: 'api' }, {}))).toEqual(['settings']);
    expect(paths(validateOverride(config, { policy: 'api' }, [1]))).toEqual(['settings']);
    expect(
      paths(
        validateOverride(config, { policy: 'api', key: 'k' }, { mode: 'deny', capacityTokens: 5 }),
      ),
    ).toEqual(['settings.capacityTokens']);
  });

  it('refuses a capacity below the cost a rule of the policy charges', () => {
    const problems = validateOverride(config, { policy: 'upload' }, { capacityTokens: 10 });
    expect(problems).toHaveLength(1);
    expect(problems[0]?.message).toMatch(/rule "uploads": cost 20 exceeds capacityTokens 10/);
    // The same capacity is fine for a policy no rule charges 20.
    expect(validateOverride(config, { policy: 'api' }, { capacityTokens: 10 })).toEqual([]);
  });

  it('checks added list keys and refuses a key in both lists', () => {
    const problems = validateOverride(
      config,
      { policy: 'api' },
      { allowKeys: ['a', ' '], denyKeys: ['a', 'b'.repeat(17)] },
    );
    expect(problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'settings.allowKeys: [1] must not be empty',
      'settings.denyKeys: [1] is 17 characters long; at most 16 (runtime.maxKeyLength)',
      'settings.denyKeys: key "a" is in both allowKeys and denyKeys',
    ]);
  });

  it('round-trips targets through sort keys, keys holding "#" included', () => {
    for (const target of [{ policy: 'api' }, { policy: 'api', key: 'tenant#7' }]) {
      expect(overrideTargetOf(overrideSortKey(target))).toEqual(target);
    }
  });
});

describe('isOperator', () => {
  const role = 'arn:aws:iam::111111111111:role/ops/oncall';
  it('admits a role and its sessions, a user, and every principal of a listed account', () => {
    expect(isOperator('arn:aws:sts::111111111111:assumed-role/oncall/alice', [role])).toBe(true);
    expect(
      isOperator('arn:aws:iam::111111111111:user/bob', ['arn:aws:iam::111111111111:user/bob']),
    ).toBe(true);
    expect(isOperator('arn:aws:iam::222222222222:user/carol', ['222222222222'])).toBe(true);
  });

  it('refuses other roles, other accounts, and callers without an identity', () => {
    expect(isOperator('arn:aws:sts::111111111111:assumed-role/billing/alice', [role])).toBe(false);
    expect(isOperator('arn:aws:sts::222222222222:assumed-role/oncall/alice', [role])).toBe(false);
    expect(isOperator('unauthenticated:bob', [role, '111111111111'])).toBe(false);
  });

  it('is validated in the config like the callers', () => {
    const problems = validateConfig({
      ...configWith([{ id: 'api', capacityTokens: 1, refillTokens: 1 }]),
      regionalApi: { operators: ['arn:aws:iam::111111111111:role/ok', 'oncall'] },
    });
    expect(problems.map((p) => p.path)).toEqual(['regionalApi.operators[1]']);
  });
});
