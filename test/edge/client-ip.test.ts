import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandIpv6, ipKey } from '../../functions/edge/client-ip';

describe('ipKey', () => {
  it.each([
    ['203.0.113.178', 'ip:203.0.113.178'],
    ['2001:0db8:85a3:0000:0000:8a2e:0370:7334', 'ip:2001:db8:85a3:0::/64'],
    ['2001:db8:85a3::8a2e:370:7334', 'ip:2001:db8:85a3:0::/64'],
    ['2001:DB8:85A3::1', 'ip:2001:db8:85a3:0::/64'],
    ['::1', 'ip:0:0:0:0::/64'],
    ['::ffff:192.0.2.1', 'ip:192.0.2.1'],
    ['::ffff:c000:201', 'ip:192.0.2.1'],
  ])('%s → %s', (address, key) => {
    expect(ipKey(address)).toBe(key);
  });

  it.each([
    undefined,
    '',
    'not-an-ip',
    '256.1.1.1',
    '1.2.3',
    'fe80::1%eth0',
    'x'.repeat(100),
    '1::2::3',
  ])('has no key for %s', (address) => {
    expect(ipKey(address)).toBeUndefined();
  });

  it('puts every address of one /64 in one bucket and different /64s apart', () => {
    const group = fc.integer({ min: 0, max: 0xffff }).map((g) => g.toString(16));
    fc.assert(
      fc.property(
        fc.array(group, { minLength: 8, maxLength: 8 }),
        fc.array(group, { minLength: 4, maxLength: 4 }),
        (a, hostPart) => {
          const b = [...a.slice(0, 4), ...hostPart];
          expect(ipKey(a.join(':'))).toBe(ipKey(b.join(':')));
          const c = [...a];
          c[3] = ((Number.parseInt(a[3]!, 16) + 1) % 0x10000).toString(16);
          const isMapped = (x: string[]) =>
            x.slice(0, 5).every((g) => Number.parseInt(g, 16) === 0) && x[5] === 'ffff';
          if (!isMapped(a) && !isMapped(c)) expect(ipKey(a.join(':'))).not.toBe(ipKey(c.join(':')));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('expandIpv6', () => {
  it('agrees with the full form for every valid compressed spelling', () => {
    fc.assert(
      fc.property(fc.ipV6(), (address) => {
        fc.pre(isIPv6(address));
        const groups = expandIpv6(address);
        expect(groups).toHaveLength(8);
        const full = groups!.map((g) => g.toString(16)).join(':');
        expect(expandIpv6(full)).toEqual(groups);
      }),
      { numRuns: 300 },
    );
  });

  it('expands :: and dotted tails', () => {
    expect(expandIpv6('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(expandIpv6('1::')).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(expandIpv6('::1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0, 0x102, 0x304]);
    expect(expandIpv6('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(expandIpv6('1:2:3')).toBeUndefined();
  });
});
