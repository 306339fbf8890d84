import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LimiterConfig, RuleConfig } from '../../functions/config/schema';
import { normalisePath } from '../../functions/edge/normalise-path';
import {
  compileRules,
  globToRegExp,
  type MatchInput,
  matchInputOf,
  matchRule,
  normaliseHost,
  RuleCompileError,
  readHost,
} from '../../functions/edge/rule-match';
import projectConfig from '../../limiter.config';

describe('globToRegExp', () => {
  const cases: [glob: string, path: string, matches: boolean][] = [
    ['/api/**', '/api', true],
    ['/api/**', '/api/', true],
    ['/api/**', '/api/a/b/c', true],
    ['/api/**', '/apix', false],
    ['/api/**', '/ap', false],
    ['/**', '/', true],
    ['/**', '/anything/at/all', true],
    ['/api/*', '/api/users', true],
    ['/api/*', '/api/users/1', false],
    ['/api/*', '/api/', true],
    ['/api/*/orders', '/api/42/orders', true],
    ['/api/*/orders', '/api/42/43/orders', false],
    ['/a/**/b', '/a/b', true],
    ['/a/**/b', '/a/x/y/b', true],
    ['/a/**/b', '/a/xb', false],
    ['/files/*.json', '/files/a.json', true],
    ['/files/*.json', '/files/ajson', false],
    ['/files/**.json', '/files/a/b.json', true],
    ['/v1.0/(x)', '/v1.0/(x)', true],
    ['/v1.0/(x)', '/v1x0/(x)', false],
    ['/exact', '/exact', true],
    ['/exact', '/exact/', false],
    ['/exact', '/Exact', false],
  ];
  it.each(cases)('%s against %s → %s', (glob, path, matches) => {
    expect(globToRegExp(glob).test(path)).toBe(matches);
  });

  it('treats regex metacharacters in a glob literally', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z.+?^${}()|[\]\\]{1,12}$/), (segment) => {
        const re = globToRegExp(`/${segment}`);
        expect(re.test(`/${segment}`)).toBe(true);
        expect(re.test(`/${segment}x`)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

describe('globToRegExp without letter case', () => {
  it('matches ASCII letters of any case, and nothing more', () => {
    const re = globToRegExp('/demo/**', true);
    for (const p of ['/demo/x', '/DEMO/x', '/Demo', '/dEmO/a/b']) expect(re.test(p), p).toBe(true);
    for (const p of ['/demox', '/dem/o', '/%44EMO/x']) expect(re.test(p), p).toBe(false);
    expect(globToRegExp('/demo/**').test('/DEMO/x')).toBe(false);
  });
});

describe('normaliseHost', () => {
  it.each([
    ['API.Example.com', 'api.example.com'],
    ['api.example.com:8443', 'api.example.com'],
    ['api.example.com.', 'api.example.com'],
    ['api.example.com..', 'api.example.com'],
    ['API.example.com...:443', 'api.example.com'],
    ['[2001:db8::1]:443', '[2001:db8::1]'],
    ['', undefined],
  ] as const)('%s → %s', (host, expected) => {
    expect(normaliseHost(host)).toBe(expected);
  });
});

describe('readHost', () => {
  const lines = (...values: string[]) => values.map((value) => ({ key: 'Host', value }));
  it.each([
    [lines('api.example.com'), 'api.example.com'],
    [lines(' API.Example.COM.. '), 'api.example.com'],
    [lines('api.example.com:'), 'api.example.com'],
    [lines('203.0.113.7:8080'), '203.0.113.7'],
    [lines('[2001:DB8::1]'), '[2001:db8::1]'],
    [lines(''), undefined],
    [undefined, undefined],
    [[], undefined],
  ])('%j → %s', (given, host) => {
    expect(readHost(given)).toEqual({ kind: 'host', host });
  });

  it('refuses two Host lines, even equal ones', () => {
    expect(readHost(lines('api.example.com', 'admin.example.com'))).toEqual({
      kind: 'refused',
      reason: 'several-host-lines',
    });
    expect(readHost(lines('api.example.com', 'api.example.com'))).toEqual({
      kind: 'refused',
      reason: 'several-host-lines',
    });
  });

  it.each([
    'api.example.com, admin.example.com',
    'api..example.com',
    '.api.example.com',
    'api.example.com:https',
    'api.example.com:443:443',
    'user@api.example.com',
    'api.example.com/x',
    'api example.com',
    '[2001:db8::1',
    '...',
  ])('refuses the Host value %j', (value) => {
    expect(readHost(lines(value))).toEqual({ kind: 'refused', reason: 'invalid-host' });
  });
});

describe('matchInputOf', () => {
  const request = (uri: unknown, host?: string[]) => ({
    uri,
    method: 'get',
    headers: host === undefined ? {} : { host: host.map((value) => ({ key: 'Host', value })) },
  });
  it('gives the normalised path, the upper-case method and the normalised host', () => {
    expect(matchInputOf(request('/demo;a=b/./x', ['Api.Example.com.']))).toEqual({
      kind: 'input',
      input: { path: '/demo/x', method: 'GET', host: 'api.example.com' },
    });
    expect(matchInputOf(request(undefined))).toEqual({
      kind: 'input',
      input: { path: '/', method: 'GET', host: undefined },
    });
  });

  it('names the part and the reason of a refusal', () => {
    expect(matchInputOf(request('/demo%00'))).toEqual({
      kind: 'refused',
      problem: { part: 'path', reason: 'control-character' },
    });
    expect(matchInputOf(request('/demo', ['a.example.com', 'b.example.com']))).toEqual({
      kind: 'refused',
      problem: { part: 'host', reason: 'several-host-lines' },
    });
  });
});

const policies = [{ id: 'p1', capacityTokens: 10, refillTokens: 1 }];
const rule = (id: string, match: RuleConfig['match']): RuleConfig => ({
  id,
  match,
  policy: 'p1',
  key: [{ ip: true }],
});
/** A request as the edge reads it: the path normalised, as matchInputOf gives it. */
const input = (
  uri: string,
  method = 'GET',
  host: string | undefined = 'api.example.com',
): MatchInput => {
  const path = normalisePath(uri);
  if (path.kind !== 'path') throw new Error(`${uri} is refused: ${path.reason}`);
  return { path: path.path, method, host };
};

describe('matchRule', () => {
  const config: Pick<LimiterConfig, 'rules' | 'policies' | 'defaultRule'> = {
    policies,
    rules: [
      rule('writes', { path: '/api/**', methods: ['POST', 'PUT'] }),
      rule('api', { path: '/api/**' }),
      rule('admin-host', { hosts: ['admin.example.com'] }),
    ],
  };
  const compiled = compileRules(config);

  it('takes the first rule that matches', () => {
    expect(matchRule(compiled, input('/api/x', 'POST'))?.rule.id).toBe('writes');
    expect(matchRule(compiled, input('/api/x', 'GET'))?.rule.id).toBe('api');
  });

  it('requires every given field to match', () => {
    expect(matchRule(compiled, input('/other', 'GET', 'admin.example.com'))?.rule.id).toBe(
      'admin-host',
    );
    expect(matchRule(compiled, input('/other', 'GET', 'api.example.com'))).toBeUndefined();
    expect(matchRule(compiled, input('/other', 'GET', undefined))).toBeUndefined();
  });

  it('matches the normalised path, so dot segments and double slashes do not dodge a rule', () => {
    expect(matchRule(compiled, input('/public/../api/x', 'POST'))?.rule.id).toBe('writes');
    expect(matchRule(compiled, input('//api//x'))?.rule.id).toBe('api');
    expect(matchRule(compiled, input('/%61pi/x'))?.rule.id).toBe('api');
  });

  it('returns nothing when no rule matches and there is no default', () => {
    expect(matchRule(compiled, input('/static/logo.png'))).toBeUndefined();
  });

  it('falls back to the default rule', () => {
    const withDefault = compileRules({ ...config, defaultRule: 'api' });
    expect(matchRule(withDefault, input('/static/logo.png'))?.rule.id).toBe('api');
    expect(matchRule(withDefault, input('/api/x', 'PUT'))?.rule.id).toBe('writes');
  });

  it('resolves each rule to its policy', () => {
    expect(matchRule(compiled, input('/api/x'))?.limits[0]?.policy.id).toBe('p1');
  });

  it('refuses a config naming unknown policies or default rules', () => {
    expect(() => compileRules({ policies, rules: [{ ...rule('r', {}), policy: 'nope' }] })).toThrow(
      RuleCompileError,
    );
    expect(() => compileRules({ policies, rules: [rule('r', {})], defaultRule: 'nope' })).toThrow(
      RuleCompileError,
    );
  });
});

describe('case-insensitive paths', () => {
  const rules = [rule('demo', { path: '/demo/**' }), rule('rest', { path: '/**' })];
  const idOf = (config: Parameters<typeof compileRules>[0], uri: string) =>
    matchRule(compileRules(config), input(uri))?.rule.id;

  it('are the default', () => {
    expect(idOf({ policies, rules }, '/DEMO/x')).toBe('demo');
    expect(idOf({ policies, rules }, '/Demo')).toBe('demo');
  });

  it('can be turned off for every rule, and back on for one', () => {
    const off = { policies, rules, matching: { caseInsensitive: false } };
    expect(idOf(off, '/DEMO/x')).toBe('rest');
    expect(idOf(off, '/demo/x')).toBe('demo');
    const oneOn = {
      ...off,
      rules: [rule('demo', { path: '/demo/**', caseInsensitive: true }), rules[1]!],
    };
    expect(idOf(oneOn, '/DEMO/x')).toBe('demo');
  });

  it('can be turned off for one rule', () => {
    const oneOff = {
      policies,
      rules: [rule('demo', { path: '/demo/**', caseInsensitive: false }), rules[1]!],
    };
    expect(idOf(oneOff, '/DEMO/x')).toBe('rest');
  });
});

describe('host rules', () => {
  it('compare the normalised host with the normalised hosts of the config', () => {
    const compiled = compileRules({
      policies,
      rules: [rule('admin', { hosts: ['Admin.Example.com.'] })],
    });
    expect(matchRule(compiled, input('/', 'GET', 'admin.example.com'))?.rule.id).toBe('admin');
  });
});

/** Every spelling of `/demo/x` the audit moved from `demo` to `global-cap`, and a few more. */
const AUDIT_CASES = [
  '/DEMO/x',
  '/Demo/x',
  '/demo./x',
  '/demo../x',
  '/demo%2Fx',
  '/demo%2fx',
  '/demo;a=b/x',
  '/demo\\x',
  '/demo%5Cx',
  '/demo%20/x',
  '/demo.%20/x',
  '/%64emo/x',
  '/%44EMO/x',
  '//demo//x',
  '/./demo/x',
  '/public/../demo/x',
  '/public/..;/demo/x',
  '/public/%2e%2e/demo/x',
  '/DEMO;jsessionid=1./x',
];

describe('the shipped config', () => {
  const compiled = compileRules(projectConfig);

  it.each(AUDIT_CASES)('charges %s to the demo rule', (uri) => {
    expect(matchRule(compiled, input(uri))?.rule.id).toBe('demo');
  });

  it('still sends other paths elsewhere', () => {
    expect(matchRule(compiled, input('/demox'))?.rule.id).toBe('everything');
    expect(matchRule(compiled, input('/demo/../x'))?.rule.id).toBe('everything');
  });
});
