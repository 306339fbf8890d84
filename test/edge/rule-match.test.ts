import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LimiterConfig, RuleConfig } from '../../functions/config/schema';
import {
  compileRules,
  globToRegExp,
  type MatchInput,
  matchRule,
  normaliseHost,
  normalisePathForMatch,
  RuleCompileError,
} from '../../functions/edge/rule-match';

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

describe('normalisePathForMatch', () => {
  const cases: [string, string][] = [
    ['/api/x', '/api/x'],
    ['//api///x', '/api/x'],
    ['/public/../api/x', '/api/x'],
    ['/./api/./x', '/api/x'],
    ['/../../api', '/api'],
    ['/%61pi/x', '/api/x'],
    ['/%2e%2e/api', '/api'],
    ['/api%2Fx', '/api%2Fx'],
    ['/api%2fx', '/api%2Fx'],
    ['/api/', '/api/'],
    ['/a/..', '/'],
    ['', '/'],
    ['/', '/'],
  ];
  it.each(cases)('%s → %s', (uri, expected) => {
    expect(normalisePathForMatch(uri)).toBe(expected);
  });

  it('is idempotent on well-formed escapes and always absolute without dot segments', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^([a-z./0-9]|%(2[eEfF]|6[0-9a-fA-F]|[0-9A-F]{2})){0,20}$/),
        (uri) => {
          const once = normalisePathForMatch(uri);
          expect(normalisePathForMatch(once)).toBe(once);
          expect(once.startsWith('/')).toBe(true);
          expect(once.split('/').some((s) => s === '.' || s === '..')).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('normaliseHost', () => {
  it.each([
    ['API.Example.com', 'api.example.com'],
    ['api.example.com:8443', 'api.example.com'],
    ['api.example.com.', 'api.example.com'],
    ['[2001:db8::1]:443', '[2001:db8::1]'],
    ['', undefined],
  ] as const)('%s → %s', (host, expected) => {
    expect(normaliseHost(host)).toBe(expected);
  });
});

const policies = [{ id: 'p1', capacityTokens: 10, refillTokens: 1 }];
const rule = (id: string, match: RuleConfig['match']): RuleConfig => ({
  id,
  match,
  policy: 'p1',
  key: [{ ip: true }],
});
const input = (
  uri: string,
  method = 'GET',
  host: string | undefined = 'api.example.com',
): MatchInput => ({
  uri,
  method,
  host,
});

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
