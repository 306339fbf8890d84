import type { CloudFrontHeaders } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyPart, LimitConfig } from '../../functions/config/schema';
import {
  buildKey,
  checkValue,
  type KeyInput,
  queryValue,
  UNKNOWN_IP_KEY,
} from '../../functions/edge/request-key';

const MAX = 256;

function headers(lines: Record<string, string | string[]>): CloudFrontHeaders {
  const out: CloudFrontHeaders = {};
  for (const [name, value] of Object.entries(lines)) {
    out[name] = (Array.isArray(value) ? value : [value]).map((v) => ({ key: name, value: v }));
  }
  return out;
}

function input(partial: Partial<KeyInput> = {}): KeyInput {
  return { headers: {}, querystring: '', clientIp: '203.0.113.9', ...partial };
}

function rule(
  key: KeyPart[],
  onMissingKey?: 'ip' | 'reject',
): Pick<LimitConfig, 'key' | 'onMissingKey'> {
  return onMissingKey === undefined ? { key } : { key, onMissingKey };
}

function jwt(payload: unknown): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc(payload)}.c2lnbmF0dXJl`;
}

describe('buildKey: one part', () => {
  it('uses a header value as it is, trimmed', () => {
    const out = buildKey(
      rule([{ header: 'x-api-key' }]),
      input({ headers: headers({ 'x-api-key': '  k-123 ' }) }),
    );
    expect(out).toEqual({ kind: 'key', key: 'k-123', source: 'parts' });
  });

  it('uses the viewer IP, v4 and v6', () => {
    expect(buildKey(rule([{ ip: true }]), input())).toMatchObject({ key: 'ip:203.0.113.9' });
    expect(
      buildKey(rule([{ ip: true }]), input({ clientIp: '2001:db8:1:2:3:4:5:6' })),
    ).toMatchObject({
      key: 'ip:2001:db8:1:2::/64',
    });
  });

  it('decodes a query parameter', () => {
    const out = buildKey(
      rule([{ query: 'api_key' }]),
      input({ querystring: 'a=1&api_key=k%2F1+x&b=2' }),
    );
    expect(out).toMatchObject({ kind: 'key', key: 'k/1 x' });
  });

  it('uses a constant', () => {
    expect(buildKey(rule([{ constant: 'all' }]), input({ clientIp: undefined }))).toMatchObject({
      key: 'all',
    });
  });

  it('reads a JWT claim from Authorization without verifying it', () => {
    const out = buildKey(
      rule([{ jwtClaim: 'sub' }]),
      input({ headers: headers({ authorization: `Bearer ${jwt({ sub: 'auth0|42', exp: 1 })}` }) }),
    );
    expect(out).toMatchObject({ kind: 'key', key: 'auth0|42', source: 'parts' });
  });

  it('reads a numeric JWT claim, and a token from another header without a scheme', () => {
    const out = buildKey(
      rule([{ jwtClaim: 'tenant', header: 'x-id-token' }]),
      input({ headers: headers({ 'x-id-token': jwt({ tenant: 7 }) }) }),
    );
    expect(out).toMatchObject({ key: '7' });
  });
});

describe('buildKey: combinations', () => {
  it('joins parts with | and escapes | and \\ inside values', () => {
    const out = buildKey(
      rule([{ constant: 'tenant' }, { header: 'x-user' }, { ip: true }]),
      input({ headers: headers({ 'x-user': 'a|b\\c' }) }),
    );
    expect(out).toMatchObject({ key: 'tenant|a\\|b\\\\c|ip:203.0.113.9' });
  });

  it('never maps two different part lists to one key', () => {
    const value = fc.stringMatching(/^[a-z|\\]{1,6}$/);
    fc.assert(
      fc.property(value, value, value, value, (a, b, c, d) => {
        fc.pre(a !== c || b !== d);
        const key = (x: string, y: string) =>
          buildKey(
            rule([{ header: 'x-a' }, { header: 'x-b' }]),
            input({ headers: headers({ 'x-a': x, 'x-b': y }) }),
          );
        expect(key(a, b)).not.toEqual(key(c, d));
      }),
      { numRuns: 300 },
    );
  });

  it('treats a combined key longer than the bound as malformed', () => {
    const long = 'k'.repeat(150);
    const out = buildKey(
      rule([{ header: 'x-a' }, { header: 'x-b' }], 'reject'),
      input({ headers: headers({ 'x-a': long, 'x-b': long }) }),
    );
    expect(out).toEqual({ kind: 'reject', problem: { part: 'key', reason: 'too-long' } });
  });
});

describe('buildKey: bad input gets a defined answer', () => {
  const apiKey = [{ header: 'x-api-key' }] as KeyPart[];
  const cases: [string, KeyInput, string][] = [
    ['absent header', input(), 'missing'],
    ['empty header', input({ headers: headers({ 'x-api-key': '   ' }) }), 'missing'],
    [
      'oversized header',
      input({ headers: headers({ 'x-api-key': 'k'.repeat(MAX + 1) }) }),
      'too-long',
    ],
    ['huge header', input({ headers: headers({ 'x-api-key': 'k'.repeat(100_000) }) }), 'too-long'],
    ['non-ASCII header', input({ headers: headers({ 'x-api-key': 'clé' }) }), 'non-ascii'],
    [
      'control character',
      input({ headers: headers({ 'x-api-key': 'a\u0000b' }) }),
      'control-character',
    ],
    [
      'reserved prefix',
      input({ headers: headers({ 'x-api-key': 'IP:198.51.100.1' }) }),
      'reserved-prefix',
    ],
    [
      'conflicting duplicates',
      input({ headers: headers({ 'x-api-key': ['mine', 'yours'] }) }),
      'conflicting',
    ],
  ];

  it.each(cases)('%s → 401 with reject', (_name, request, reason) => {
    expect(buildKey(rule(apiKey, 'reject'), request, MAX)).toEqual({
      kind: 'reject',
      problem: { part: 'header x-api-key', reason },
    });
  });

  it.each(cases)('%s → viewer IP with ip (the default)', (_name, request, reason) => {
    expect(buildKey(rule(apiKey), request, MAX)).toEqual({
      kind: 'key',
      key: 'ip:203.0.113.9',
      source: 'ip',
      problem: { part: 'header x-api-key', reason },
    });
  });

  it('accepts identical duplicate header lines as one value', () => {
    const out = buildKey(
      rule(apiKey, 'reject'),
      input({ headers: headers({ 'x-api-key': ['same', 'same'] }) }),
    );
    expect(out).toMatchObject({ kind: 'key', key: 'same' });
  });

  it('falls back to one shared bucket when even the viewer IP is missing', () => {
    expect(buildKey(rule(apiKey), input({ clientIp: undefined }))).toMatchObject({
      kind: 'key',
      key: UNKNOWN_IP_KEY,
      source: 'unknown-ip',
    });
    expect(buildKey(rule([{ ip: true }], 'reject'), input({ clientIp: '' }))).toEqual({
      kind: 'reject',
      problem: { part: 'ip', reason: 'missing' },
    });
  });

  it.each([
    ['no header', {}, 'missing'],
    ['not three parts', { authorization: 'Bearer abc' }, 'malformed-token'],
    ['payload not base64url', { authorization: 'Bearer a.b$c.d' }, 'malformed-token'],
    [
      'payload not JSON',
      { authorization: `Bearer a.${Buffer.from('nope').toString('base64url')}.c` },
      'malformed-token',
    ],
    ['payload an array', { authorization: `Bearer ${jwt([1])}` }, 'malformed-token'],
    ['claim absent', { authorization: `Bearer ${jwt({ other: 1 })}` }, 'missing'],
    ['claim an object', { authorization: `Bearer ${jwt({ sub: { a: 1 } })}` }, 'malformed-token'],
    ['huge token', { authorization: `Bearer ${'a'.repeat(10_000)}` }, 'too-long'],
    ['claim non-ASCII', { authorization: `Bearer ${jwt({ sub: 'José' })}` }, 'non-ascii'],
  ] as const)('JWT %s → %s', (_name, lines, reason) => {
    expect(
      buildKey(rule([{ jwtClaim: 'sub' }], 'reject'), input({ headers: headers(lines) })),
    ).toEqual({
      kind: 'reject',
      problem: { part: 'jwt sub', reason },
    });
  });

  it('never returns a key over the bound, whatever the header holds', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 600 }), fc.integer({ min: 8, max: 300 }), (value, max) => {
        const out = buildKey(
          rule(apiKey),
          input({ headers: headers({ 'x-api-key': value }) }),
          max,
        );
        expect(out.kind).toBe('key');
        if (out.kind === 'key') {
          expect(out.key.length).toBeLessThanOrEqual(Math.max(max, 'ip:203.0.113.9'.length));
          expect(out.key).toMatch(/^[\u0020-\u007e]+$/);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('queryValue', () => {
  it.each([
    ['key=a', 'a'],
    ['key=a&key=a', 'a'],
    ['x=1&key=hello%20world', 'hello world'],
    ['k%65y=v', 'v'],
  ])('%s → %s', (query, value) => {
    expect(queryValue(query, 'key', MAX)).toEqual({ ok: true, value });
  });

  it.each([
    ['', 'missing'],
    ['key', 'missing'],
    ['key=', 'missing'],
    ['key=a&key=b', 'conflicting'],
    ['key=%E0%A4%A', 'malformed-token'],
    [`key=${'a'.repeat(10_000)}`, 'too-long'],
  ])('%s → %s', (query, reason) => {
    expect(queryValue(query, 'key', MAX)).toEqual({ ok: false, reason });
  });
});

describe('checkValue', () => {
  it('keeps printable ASCII, trimmed, up to the bound', () => {
    expect(checkValue('p', ' a b ', 10)).toEqual({ ok: true, value: 'a b' });
    expect(checkValue('p', 'x'.repeat(10), 10)).toEqual({ ok: true, value: 'x'.repeat(10) });
    expect(checkValue('p', 'x'.repeat(11), 10)).toEqual({
      ok: false,
      problem: { part: 'p', reason: 'too-long' },
    });
  });
});
