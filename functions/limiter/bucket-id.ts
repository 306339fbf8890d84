/**
 * Bucket ids: the partition key of a bucket's slot items.
 *
 * `<policyId>#<version>#<key hash>`. The key is normalised (trimmed, Unicode
 * NFC) so that visually equal keys share a bucket, bounded before hashing so
 * a huge key is refused early, and hashed (SHA-256, base64url, 22 characters
 * = 132 bits) so items stay small and keys (API keys, e-mail addresses) are
 * not stored in clear. Bumping the policy version starts every bucket afresh.
 *
 * The refill interval is part of the generation (`<version>.i<interval>`,
 * omitted for the default 1000 ms): stored levels are in units of
 * `tokens × refillIntervalMs`, so a bucket written under one interval must
 * never be read under another. Changing the interval therefore starts fresh
 * buckets by itself instead of silently misreading the old ones.
 */
import { createHash } from 'node:crypto';
import { LimitRequestError } from './errors';

/** Default longest key, in characters after normalisation. */
export const DEFAULT_MAX_KEY_LENGTH = 256;

/** Characters of the base64url SHA-256 kept in the bucket id. */
export const KEY_HASH_CHARS = 22;

/**
 * Normalises a caller key (trim, NFC) and checks its bounds.
 *
 * @throws {@link LimitRequestError} (field `key`) when the key is empty or longer than `maxKeyLength`.
 */
export function normaliseKey(key: string, maxKeyLength = DEFAULT_MAX_KEY_LENGTH): string {
  if (typeof key !== 'string') {
    throw new LimitRequestError('key', 'key must be a string');
  }
  // Bound before normalising too: NFC of a huge string is work we refuse to do.
  if (key.length > maxKeyLength * 4) {
    throw new LimitRequestError('key', `key is longer than ${maxKeyLength} characters`);
  }
  const normalised = key.trim().normalize('NFC');
  if (normalised.length === 0) throw new LimitRequestError('key', 'key is empty');
  if (normalised.length > maxKeyLength) {
    throw new LimitRequestError(
      'key',
      `key is ${normalised.length} characters long, longer than ${maxKeyLength}`,
    );
  }
  return normalised;
}

/** The hash part of a bucket id for an already normalised key. */
export function keyHash(normalisedKey: string): string {
  return createHash('sha256')
    .update(normalisedKey, 'utf8')
    .digest('base64url')
    .slice(0, KEY_HASH_CHARS);
}

/**
 * The bucket id (`pk`) of `key` under a policy.
 *
 * @param policyId - the policy id (`[a-z0-9-]`, so it never contains `#`)
 * @param version - the policy version (default 1)
 * @param key - the caller key, raw: it is normalised and bounded here
 * @throws {@link LimitRequestError} when the key is empty or too long.
 */
export function bucketIdOf(
  policyId: string,
  version: number | string | undefined,
  key: string,
  maxKeyLength = DEFAULT_MAX_KEY_LENGTH,
): string {
  return `${policyId}#${version ?? 1}#${keyHash(normaliseKey(key, maxKeyLength))}`;
}

/** The refill interval that leaves the generation as the bare version. */
export const DEFAULT_GENERATION_INTERVAL_MS = 1000;

/**
 * The generation part of a bucket id: the policy version, plus the refill
 * interval when it is not the default (see the module comment).
 */
export function bucketGeneration(
  version: number | undefined,
  refillIntervalMs: number | undefined,
): string {
  const interval = refillIntervalMs ?? DEFAULT_GENERATION_INTERVAL_MS;
  const v = version ?? 1;
  return interval === DEFAULT_GENERATION_INTERVAL_MS ? `${v}` : `${v}.i${interval}`;
}

/** Characters of the split's hash in an escrow generation. */
const ESCROW_TAG_CHARS = 8;

/**
 * The generation of an `escrow` bucket: the policy's, tagged with a hash of
 * what its rights split (capacity, refill, interval, the region list), before
 * a quota's period suffix (`.q<start>`, which stays last). Escrow items hold
 * shares of one `C` and `R` among those regions; items written under another
 * split would hold rights that no longer add up (over- or under-admitting),
 * so a new capacity, a per-key override resizing the bucket, or a new region
 * starts fresh items, full, like any new bucket.
 */
export function escrowGeneration(
  generation: string,
  bucket: {
    readonly capacityTokens: number;
    readonly refillTokens: number;
    readonly refillIntervalMs: number;
  },
  regions: readonly string[],
): string {
  const split = JSON.stringify([
    bucket.capacityTokens,
    bucket.refillTokens,
    bucket.refillIntervalMs,
    regions,
  ]);
  const tag = `.e${createHash('sha256').update(split, 'utf8').digest('base64url').slice(0, ESCROW_TAG_CHARS)}`;
  const quota = /\.q\d+$/.exec(generation);
  return quota === null
    ? `${generation}${tag}`
    : `${generation.slice(0, quota.index)}${tag}${quota[0]}`;
}
