/**
 * A policy's allow or deny list: exact keys, plus `ip:` entries that are
 * addresses or CIDR ranges (`ip:203.0.113.7`, `ip:10.0.0.0/8`,
 * `ip:2001:db8::/48`) and match every address key in them.
 *
 * Why not a Set of strings: an address key is one spelling of many
 * (`ip:2001:db8:85a3:0::/64` as functions/edge/client-ip.ts writes it, and
 * `ip:2001:DB8:85A3::/64` in a config are the same network), and a range
 * has no spelling at all. Ranges are matched by `node:net`'s `BlockList`,
 * which compares addresses, not strings (IPv4-mapped IPv6 included); the
 * pipeline keeps asking `has(key)`.
 *
 * IPv6 clients are keyed by their /64, so an IPv6 entry must cover whole
 * /64s (a prefix of at most 64 bits): a longer one could never be told apart
 * from its neighbours and is refused by validation, as is a range with bits
 * set past its prefix (`ip:10.0.0.1/8`: a typo for which range?).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** Prefix of address keys (functions/edge/client-ip.ts). */
const IP = 'ip:';
/** The key of viewers without an address (functions/edge/request-key.ts): an exact key. */
const UNKNOWN_IP = 'ip:unknown';
/** Longest IPv6 prefix an entry may have: clients are keyed by their /64. */
const MAX_IPV6_ENTRY_PREFIX = 64;

/** The part of a set the limiter's pipeline uses. */
export interface KeyList {
  /** Whether `key` is listed: exactly, or as an address within a listed range. */
  has(key: string): boolean;
  /** Number of entries. */
  readonly size: number;
}

/** An `ip:` entry read as an address range. */
interface Range {
  readonly family: 'ipv4' | 'ipv6';
  readonly address: string;
  readonly prefix: number;
}

/** The range an `ip:` entry or key stands for, or why it stands for none. */
function parseRange(text: string): Range | string {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined || address.includes('%')) {
    return 'is neither an IP address nor a CIDR range (write ip:203.0.113.7, ip:10.0.0.0/8 or ip:2001:db8::/64)';
  }
  const bits = family === 'ipv4' ? 32 : 128;
  if (slash === -1) return { family, address, prefix: bits };
  const digits = text.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(digits) ? Number(digits) : Number.NaN;
  if (!(prefix <= bits)) {
    return `has prefix length "/${digits}": an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} range takes /0 to /${bits}`;
  }
  return { family, address, prefix };
}

/** The 32 or 128 bits of a valid address. */
function addressBits(family: 'ipv4' | 'ipv6', address: string): bigint {
  if (family === 'ipv4') {
    return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(part), 0n);
  }
  let text = address.toLowerCase();
  const dotted = text.lastIndexOf(':');
  const tail = text.slice(dotted + 1);
  if (tail.includes('.')) {
    const v4 = addressBits('ipv4', tail);
    text = `${text.slice(0, dotted + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all = [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(`0x${g}`), 0n);
}

function formatRange(range: Range, bits: bigint): string {
  const width = range.family === 'ipv4' ? 32 : 128;
  const masked = (bits >> BigInt(width - range.prefix)) << BigInt(width - range.prefix);
  if (range.family === 'ipv4') {
    const octets = [24n, 16n, 8n, 0n].map((s) => String((masked >> s) & 0xffn));
    return `${IP}${octets.join('.')}/${range.prefix}`;
  }
  const groups = Array.from({ length: 8 }, (_, i) =>
    ((masked >> BigInt(112 - 16 * i)) & 0xffffn).toString(16),
  );
  const text = groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  return `${IP}${text}/${range.prefix}`;
}

/**
 * Why a listed key is unusable, if it is: an `ip:` entry must be an IPv4
 * address or range, an IPv6 range of at most /64 (or an IPv4-mapped address
 * or range, which matches those IPv4 clients), without bits past its prefix.
 */
export function listedKeyProblem(entry: unknown): string | undefined {
  if (typeof entry !== 'string' || entry.trim() === '') return 'must be a non-empty key';
  const key = entry.trim();
  if (!key.startsWith(IP) || key === UNKNOWN_IP) return undefined;
  const range = parseRange(key.slice(IP.length));
  if (typeof range === 'string') return `${JSON.stringify(entry)} ${range}`;
  const bits = addressBits(range.family, range.address);
  const mapped = range.family === 'ipv6' && bits >> 32n === 0xffffn && range.prefix >= 96;
  if (range.family === 'ipv6' && !mapped && range.prefix > MAX_IPV6_ENTRY_PREFIX) {
    const wider = formatRange({ ...range, prefix: MAX_IPV6_ENTRY_PREFIX }, bits);
    return `${JSON.stringify(entry)} is narrower than a /64, but IPv6 clients are keyed by their /64: list the /64 (${wider}) or a wider range`;
  }
  const width = range.family === 'ipv4' ? 32 : 128;
  const hostBits = (1n << BigInt(width - range.prefix)) - 1n;
  if ((bits & hostBits) !== 0n) {
    return `${JSON.stringify(entry)} has bits set past its /${range.prefix} prefix: write ${formatRange(range, bits)}`;
  }
  return undefined;
}

/**
 * The list of a policy's `allowKeys` or `denyKeys`. Entries are compared
 * after `normalise` (the keys the pipeline asks about are normalised the same
 * way). An `ip:` entry that is not an address or range (only in a config that
 * was not validated) is kept as an exact key.
 */
export function keyListOf(
  entries: readonly string[],
  normalise: (key: string) => string = (k) => k,
): KeyList {
  const exact = new Set<string>();
  const ranges = new BlockList();
  let hasRanges = false;
  for (const entry of entries) {
    const key = normalise(entry);
    exact.add(key);
    if (!key.startsWith(IP) || listedKeyProblem(key) !== undefined) continue;
    const range = parseRange(key.slice(IP.length));
    if (typeof range === 'string') continue;
    // BlockList checks IPv4 addresses against IPv4-mapped IPv6 ranges too (`::ffff:10.0.0.0/104`).
    ranges.addSubnet(range.address, range.prefix, range.family);
    hasRanges = true;
  }
  return {
    size: entries.length,
    has: (key) => exact.has(key) || (hasRanges && key.startsWith(IP) && inRanges(ranges, key)),
  };
}

/** `list` and `extra` together: a key is listed when either lists it (an override's additions). */
export function keyListWith(
  list: KeyList,
  extra: readonly string[],
  normalise: (key: string) => string = (k) => k,
): KeyList {
  if (extra.length === 0) return list;
  const more = keyListOf(extra, normalise);
  return { size: list.size + more.size, has: (key) => more.has(key) || list.has(key) };
}

/**
 * Whether an address key (`ip:<IPv4>`, `ip:<IPv6>`, or an IPv6 network of at
 * least /64 as the edge writes it) lies in a listed range. Any other key
 * (`ip:unknown`, a wider network) matches exact entries only.
 */
function inRanges(ranges: BlockList, key: string): boolean {
  const range = parseRange(key.slice(IP.length));
  if (typeof range === 'string') return false;
  if (range.family === 'ipv4' ? range.prefix !== 32 : range.prefix < MAX_IPV6_ENTRY_PREFIX) {
    return false;
  }
  return ranges.check(range.address, range.family);
}
