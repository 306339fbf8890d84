/**
 * The viewer's address as a rate-limit key.
 *
 * Why IPv6 is keyed by its /64 prefix: a single customer line usually gets a
 * whole /64 (and often a /56), and a host can pick a fresh address in it for
 * every request, so a per-address bucket would not limit anybody. IPv4 keeps
 * the full address. IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are keyed
 * as the IPv4 address they carry, so both spellings share a bucket.
 *
 * Keys are prefixed with `ip:` (`ip:203.0.113.7`, `ip:2001:db8:0:1::/64`);
 * the prefix is reserved for addresses (request-key.ts refuses header, query
 * and JWT values that start with it), so no client can name another
 * client's address bucket through a header.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Prefix of every address key. */
export const IP_KEY_PREFIX = 'ip:';

/** Length of the IPv6 prefix that forms one bucket. */
export const IPV6_PREFIX_BITS = 64;

/**
 * The key of a viewer address, or `undefined` when `clientIp` is missing or
 * not an IP address.
 */
export function ipKey(clientIp: string | undefined): string | undefined {
  if (typeof clientIp !== 'string' || clientIp.length === 0 || clientIp.length > 64)
    return undefined;
  if (isIPv4(clientIp)) return `${IP_KEY_PREFIX}${clientIp}`;
  // Zone ids (`fe80::1%eth0`) never reach CloudFront; refuse them rather than guess.
  if (!isIPv6(clientIp) || clientIp.includes('%')) return undefined;
  const groups = expandIpv6(clientIp);
  if (groups === undefined) return undefined;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const hi = groups[6]!;
    const lo = groups[7]!;
    return `${IP_KEY_PREFIX}${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  const prefix = groups.slice(0, IPV6_PREFIX_BITS / 16).map((g) => g.toString(16));
  return `${IP_KEY_PREFIX}${prefix.join(':')}::/${IPV6_PREFIX_BITS}`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` and a dotted IPv4 tail expanded). */
export function expandIpv6(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    if (!isIPv4(last)) return undefined;
    const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number];
    // Rewrite the dotted tail as the two groups it stands for.
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part
          .split(':')
          .map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? Number.parseInt(g, 16) : Number.NaN));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...rest];
  return groups.every((g) => Number.isInteger(g)) ? groups : undefined;
}
