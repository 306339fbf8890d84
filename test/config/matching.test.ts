import { describe, expect, it } from 'vitest';
import { caseInsensitivePathsOf } from '../../functions/config/resolve';
import {
  globNormalFormProblem,
  type LimiterConfig,
  validateConfig,
} from '../../functions/config/schema';
import projectConfig from '../../limiter.config';
import { edgeTestConfig } from '../edge/fixtures';

describe('caseInsensitivePathsOf', () => {
  const rule = (caseInsensitive?: boolean) => ({ match: { path: '/a/**', caseInsensitive } });
  it('takes the rule’s choice, else the config’s, else on', () => {
    expect(caseInsensitivePathsOf({}, rule())).toBe(true);
    expect(caseInsensitivePathsOf({ matching: {} }, rule())).toBe(true);
    expect(caseInsensitivePathsOf({ matching: { caseInsensitive: false } }, rule())).toBe(false);
    expect(caseInsensitivePathsOf({ matching: { caseInsensitive: false } }, rule(true))).toBe(true);
    expect(caseInsensitivePathsOf({ matching: { caseInsensitive: true } }, rule(false))).toBe(
      false,
    );
  });

  it('is on for every rule of the shipped config', () => {
    expect(projectConfig.rules.map((r) => caseInsensitivePathsOf(projectConfig, r))).toEqual(
      projectConfig.rules.map(() => true),
    );
  });
});

describe('globNormalFormProblem', () => {
  it.each([
    '/api/**',
    '/**',
    '/',
    '/api/',
    '/t/*/items',
    '/files/**.json',
    '/v1.0/(x)',
    '/my%20files/*',
  ])('accepts %s', (glob) => {
    expect(globNormalFormProblem(glob)).toBeUndefined();
  });

  it.each([
    ['/api//x', 'write "/api/x"'],
    ['/api/./x', 'write "/api/x"'],
    ['/a/../api/**', 'write "/api/**"'],
    ['/api;v=1/**', 'write "/api/**"'],
    ['/api./**', 'write "/api/**"'],
    ['/%61pi/**', 'write "/api/**"'],
    ['/api\\x', 'write "/api/x"'],
    ['/my files', 'write "/my%20files"'],
    ['/api%00', 'requests with such paths are refused (control-character)'],
  ])('refuses %j: %s', (glob, message) => {
    expect(globNormalFormProblem(glob)).toContain(message);
  });
});

describe('validateConfig and matching', () => {
  it('lists every problem of matching settings and rule paths at once', () => {
    const base = edgeTestConfig();
    const config = {
      ...base,
      matching: { caseInsensitive: 'yes', caseFolding: true },
      rules: base.rules.map((r, i) =>
        i === 1 ? { ...r, match: { path: '/demo;v=1/**', caseInsensitive: 1 } } : r,
      ),
    } as unknown as LimiterConfig;
    expect(validateConfig(config)).toEqual([
      {
        path: 'rules[1].match.path',
        message: '"/demo;v=1/**" can never match: paths are matched normalised, write "/demo/**"',
      },
      { path: 'rules[1].match.caseInsensitive', message: 'must be true or false (got 1)' },
      { path: 'matching.caseInsensitive', message: 'must be true or false (got "yes")' },
      {
        path: 'matching.caseFolding',
        message: 'unknown matching setting (known: caseInsensitive)',
      },
    ]);
  });

  it('refuses a matching that is not an object', () => {
    const config = { ...edgeTestConfig(), matching: true } as unknown as LimiterConfig;
    expect(validateConfig(config)).toEqual([
      { path: 'matching', message: 'must be an object { caseInsensitive? }' },
    ]);
  });
});
