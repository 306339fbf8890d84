import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyListOf, listedKeyProblem } from '../../functions/config/key-list';
import { normaliseListedKey, resolvePolicy } from '../../functions/config/resolve';
import { type LimiterConfig, validateConfig } from '../../functions/config/schema';
import { ipKey } from '../../functions/edge/client-ip';
import { edgeTestConfig } from '../edge/fixtures';

/** The key the edge builds for a viewer address. */
const keyOf = (address: string) => {
  const key = ipKey(address);
  if (key === undefined) throw new Error(`no key for ${address}`);
  return key;
};

describe('keyListOf', () => {
  const list = keyListOf(
    [
      'key-internal',
      'ip:203.0.113.7',
      'ip:10.0.0.0/8',
      'ip:2001:DB8:85A3::/48',
      'ip:2001:db8:aaaa:1::/64',
      'ip:::ffff:192.0.2.0/120',
    ],
    normaliseListedKey,
  );

  it.each([
    ['key-internal', true],
    ['key-other', false],
    [keyOf('203.0.113.7'), true],
    [keyOf('203.0.113.8'), false],
    [keyOf('10.255.0.1'), true],
    [keyOf('11.0.0.1'), false],
    [keyOf('::ffff:10.1.2.3'), true],
    [keyOf('2001:0db8:85a3:0000:0000:8a2e:0370:7334'), true],
    [keyOf('2001:db8:85a3:ffff::1'), true],
    [keyOf('2001:db8:85a4::1'), false],
    [keyOf('2001:db8:aaaa:1:ffff::1'), true],
    [keyOf('2001:db8:aaaa:2::1'), false],
    [keyOf('192.0.2.200'), true],
    ['ip:2001:db8:85a3::1', true],
    ['ip:2001:db8:85a3::/64', true],
    // Wider than the entries' /64s: its range does not lie in a listed one.
    ['ip:2001:db8:85a3::/40', false],
    ['ip:unknown', false],
    ['ip:not-an-address', false],
  ])('has(%s) → %s', (key, expected) => {
    expect(list.has(key)).toBe(expected);
  });

  it('counts its entries', () => {
    expect(list.size).toBe(6);
    expect(keyListOf([]).size).toBe(0);
  });

  it('matches exact entries after normalisation, ip:unknown included', () => {
    const exact = keyListOf(['  spaced  ', 'ip:unknown'], normaliseListedKey);
    expect(exact.has('spaced')).toBe(true);
    expect(exact.has('ip:unknown')).toBe(true);
  });

  it('is what a resolved policy checks', () => {
    const policy = resolvePolicy({
      id: 'p',
      capacityTokens: 1,
      refillTokens: 1,
      denyKeys: ['ip:2001:db8::/32'],
      allowKeys: ['ip:10.0.0.0/8'],
    });
    expect(policy.denyKeys.has(keyOf('2001:db8:1:2::3'))).toBe(true);
    expect(policy.allowKeys.has(keyOf('10.9.8.7'))).toBe(true);
    expect(policy.allowKeys.has(keyOf('2001:db8:1:2::3'))).toBe(false);
  });

  it('puts an IPv6 address in a listed /n exactly when its first n bits are the range’s', () => {
    const group = fc.integer({ min: 0, max: 0xffff });
    fc.assert(
      fc.property(
        fc.array(group, { minLength: 8, maxLength: 8 }),
        fc.array(group, { minLength: 8, maxLength: 8 }),
        fc.integer({ min: 0, max: 64 }),
        (network, client, prefix) => {
          const bits = (groups: number[]) =>
            groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n) >> BigInt(128 - prefix);
          const masked = (bits(network) << BigInt(128 - prefix)).toString(16).padStart(32, '0');
          const entry = `ip:${masked.match(/.{4}/g)!.join(':')}/${prefix}`;
          const clientText = client.map((g) => g.toString(16)).join(':');
          const inside = bits(network) === bits(client);
          // An IPv4-mapped client is keyed as IPv4; BlockList still places it in ::/n ranges.
          const key = keyOf(clientText);
          if (!key.includes('::/64')) return;
          expect(listedKeyProblem(entry)).toBeUndefined();
          expect(keyListOf([entry]).has(key)).toBe(inside);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('listedKeyProblem', () => {
  it.each([
    'key-123',
    'all',
    'ip:unknown',
    'ip:203.0.113.7',
    'ip:10.0.0.0/8',
    'ip:0.0.0.0/0',
    'ip:2001:db8::/64',
    'ip:2001:DB8::/32',
    'ip:2001:db8:85a3:0::/64',
    'ip:::/0',
    'ip:::ffff:192.0.2.1',
    'ip:::ffff:192.0.2.0/120',
  ])('accepts %s', (entry) => {
    expect(listedKeyProblem(entry)).toBeUndefined();
  });

  it.each([
    ['', 'must be a non-empty key'],
    ['ip:10.0.0', 'is neither an IP address nor a CIDR range'],
    ['ip:10.0.0.0/33', 'an IPv4 range takes /0 to /32'],
    ['ip:10.0.0.0/', 'has prefix length "/"'],
    ['ip:10.0.0.0/8/8', 'has prefix length "/8/8"'],
    ['ip:2001:db8::/129', 'an IPv6 range takes /0 to /128'],
    ['ip:10.0.0.1/8', 'write ip:10.0.0.0/8'],
    ['ip:2001:db8::1/32', 'write ip:2001:db8::/32'],
    ['ip:2001:db8::/96', 'list the /64 (ip:2001:db8::/64)'],
    ['ip:2001:db8:1:2:3::1', 'list the /64 (ip:2001:db8:1:2::/64)'],
    ['ip:fe80::1%eth0/64', 'is neither an IP address nor a CIDR range'],
    ['ip: 10.0.0.0/8', 'is neither an IP address nor a CIDR range'],
  ])('refuses %j: %s', (entry, message) => {
    expect(listedKeyProblem(entry)).toContain(message);
  });

  it('refuses what is not a string', () => {
    expect(listedKeyProblem(42)).toBe('must be a non-empty key');
  });
});

describe('validateConfig and listed keys', () => {
  it('lists every malformed range at once, each at its index', () => {
    const base = edgeTestConfig();
    const config: LimiterConfig = {
      ...base,
      policies: base.policies.map((p) =>
        p.id === 'listed'
          ? {
              ...p,
              allowKeys: ['friend', 'ip:10.0.0.0/33'],
              denyKeys: ['enemy', 'ip:2001:db8::/64', 'ip:2001:db8::1', 'ip:1.2.3.4/24'],
            }
          : p,
      ),
    };
    const at = `policies[${base.policies.findIndex((p) => p.id === 'listed')}]`;
    expect(validateConfig(config).map((p) => p.path)).toEqual([
      `${at}.allowKeys[1]`,
      `${at}.denyKeys[2]`,
      `${at}.denyKeys[3]`,
    ]);
  });
});
