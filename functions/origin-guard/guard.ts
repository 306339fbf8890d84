/**
 * The origin's half of origin protection: accept a request only when it
 * carries the secret header CloudFront adds (`originProtection` in the
 * limiter config), so nobody can call the origin around the limiter, or
 * forge the `x-ratelimit-*` headers the limiter sends.
 *
 * Rules it keeps:
 * - Two values are accepted while a secret rotates (the current and the
 *   previous version), so CloudFront may send either during its roll-out.
 * - Values are compared in constant time over SHA-256 digests, against every
 *   accepted value (no early exit), so timing tells nothing about them.
 * - Values are cached for `refreshMs`; a request whose value matches none
 *   triggers at most one early reload per `recheckMs` (a rotation is picked
 *   up quickly, and wrong values cannot drive calls to the secret store).
 * - Fails closed: when the values cannot be loaded and none was loaded
 *   before, every request is refused (503) and loading is retried at most
 *   once per `retryMs`; a failed reload keeps the values it had and is
 *   retried at most once per `recheckMs`.
 *
 * No AWS SDK here: values come from a {@link SecretSource}
 * (secrets-manager.ts reads them from Secrets Manager), time from `nowMs`.
 */

import { createHash, timingSafeEqual } from 'node:crypto';

/** Header CloudFront adds unless the config names another. */
export const DEFAULT_ORIGIN_HEADER = 'x-origin-verify';

/** Where the accepted values come from. */
export interface SecretSource {
  /**
   * The values to accept, newest first (at least one). Rejects when they
   * cannot be read; the guard then keeps the values it has.
   */
  load(signal?: AbortSignal): Promise<readonly string[]>;
}

/** Options of {@link OriginGuard}. */
export interface OriginGuardOptions {
  readonly source: SecretSource;
  /** Lower-case header name. @default 'x-origin-verify' */
  readonly headerName?: string;
  /** How long loaded values are used before they are loaded again (ms). @default 300000 */
  readonly refreshMs?: number;
  /** Earliest reload caused by a value that matches none, or after a failed reload (ms). @default 30000 */
  readonly recheckMs?: number;
  /** Earliest new attempt while no value was ever loaded (ms). @default 1000 */
  readonly retryMs?: number;
  /** Epoch milliseconds. @default Date.now */
  readonly nowMs?: () => number;
  /** Called when loading the values fails (the guard keeps what it has). @default ignore */
  readonly onLoadError?: (error: unknown) => void;
}

/** Why a request was refused. */
export type RefusalReason = 'missing' | 'mismatch' | 'unavailable';

/** The guard's answer: being refused is data, not an exception. */
export type GuardVerdict =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      readonly reason: RefusalReason;
      /** 403 for a missing or wrong value, 503 when no value could be loaded. */
      readonly status: 403 | 503;
    };

/** The options are unusable. */
export class InvalidOriginGuardOptionsError extends Error {
  override readonly name = 'InvalidOriginGuardOptionsError';
  constructor(
    readonly problems: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(`invalid origin guard options: ${problems.join('; ')}`, options);
  }
}

const HEADER = /^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$/;

/** Checks the secret origin header of requests. */
export class OriginGuard {
  readonly headerName: string;
  readonly #source: SecretSource;
  readonly #refreshMs: number;
  readonly #recheckMs: number;
  readonly #retryMs: number;
  readonly #nowMs: () => number;
  readonly #onLoadError: (error: unknown) => void;
  #digests: readonly Buffer[] = [];
  #loadedAtMs = Number.NEGATIVE_INFINITY;
  #attemptedAtMs = Number.NEGATIVE_INFINITY;
  #loading: Promise<void> | undefined;

  constructor(options: OriginGuardOptions) {
    const problems: string[] = [];
    const headerName = options.headerName ?? DEFAULT_ORIGIN_HEADER;
    if (!HEADER.test(headerName))
      problems.push(`headerName "${headerName}" must be a lower-case header name`);
    const refreshMs = options.refreshMs ?? 300_000;
    const recheckMs = options.recheckMs ?? 30_000;
    const retryMs = options.retryMs ?? 1000;
    for (const [name, value] of [
      ['refreshMs', refreshMs],
      ['recheckMs', recheckMs],
      ['retryMs', retryMs],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) {
        problems.push(`${name} must be a positive integer (got ${value})`);
      }
    }
    if (problems.length > 0) throw new InvalidOriginGuardOptionsError(problems);
    this.headerName = headerName;
    this.#source = options.source;
    this.#refreshMs = refreshMs;
    this.#recheckMs = recheckMs;
    this.#retryMs = retryMs;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#onLoadError = options.onLoadError ?? (() => {});
  }

  /**
   * Checks one request's header value (as Node or a Lambda event hands it
   * over: a string, several, or none). Never rejects.
   */
  async check(value: string | readonly string[] | undefined): Promise<GuardVerdict> {
    // A repeated header is not what CloudFront sends: refuse it rather than pick one.
    if (value === undefined || (typeof value !== 'string' && value.length !== 1)) {
      return value === undefined || value.length === 0 ? refuse('missing') : refuse('mismatch');
    }
    const presented = typeof value === 'string' ? value : (value[0] ?? '');
    if (presented.length === 0) return refuse('missing');
    const now = this.#nowMs();
    const backOffMs = this.#digests.length === 0 ? this.#retryMs : this.#recheckMs;
    if (now - this.#loadedAtMs >= this.#refreshMs && now - this.#attemptedAtMs >= backOffMs) {
      await this.#reload(now);
    } else if (this.#loading !== undefined && this.#digests.length === 0) {
      // Another request started the first load: wait for it rather than refuse.
      await this.#loading;
    }
    if (this.#digests.length === 0) return refuse('unavailable');
    if (this.#matches(presented)) return { allowed: true };
    if (now - this.#attemptedAtMs >= this.#recheckMs) {
      await this.#reload(now);
      if (this.#matches(presented)) return { allowed: true };
    }
    return refuse('mismatch');
  }

  /** Loads the values now (e.g. at start-up, so the first request does not wait). */
  async refresh(): Promise<void> {
    await this.#reload(this.#nowMs());
  }

  #matches(presented: string): boolean {
    const digest = sha256(presented);
    let matched = false;
    for (const accepted of this.#digests) {
      // Every value is compared, so the time taken does not depend on which one matched.
      if (timingSafeEqual(digest, accepted)) matched = true;
    }
    return matched;
  }

  #reload(now: number): Promise<void> {
    if (this.#loading === undefined) {
      this.#attemptedAtMs = now;
      this.#loading = this.#source
        .load()
        .then((values) => {
          const usable = values.filter((v) => typeof v === 'string' && v.length > 0);
          if (usable.length === 0) throw new Error('the secret source returned no value');
          this.#digests = usable.map(sha256);
          this.#loadedAtMs = now;
        })
        .catch((error: unknown) => this.#onLoadError(error))
        .finally(() => {
          this.#loading = undefined;
        });
    }
    return this.#loading;
  }
}

function refuse(reason: RefusalReason): GuardVerdict {
  return { allowed: false, reason, status: reason === 'unavailable' ? 503 : 403 };
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
