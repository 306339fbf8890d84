/**
 * The config compiled into a function bundle. Lambda@Edge has no environment
 * variables, so scripts/build-functions.ts injects the validated config as
 * the global `__LIMITER_CONFIG__` with esbuild's `define`; the regional
 * functions read the same global so every function of a deployment runs the
 * exact config that was synthesised. Nothing is imported as a fallback: a
 * bundle built without the define fails loudly at its first invocation.
 */
import { assertConfig, type LimiterConfig } from '../config/schema';

declare const __LIMITER_CONFIG__: LimiterConfig | undefined;

/** The bundle was built without `__LIMITER_CONFIG__`. */
export class MissingBundledConfigError extends Error {
  override readonly name = 'MissingBundledConfigError';
  constructor(options?: { cause?: unknown }) {
    super(
      'no limiter config compiled into this bundle: build it with scripts/build-functions.ts, which defines __LIMITER_CONFIG__',
      options,
    );
  }
}

let cached: LimiterConfig | undefined;

/**
 * The compiled-in config, validated once per container.
 *
 * @throws {@link MissingBundledConfigError} when the bundle has none.
 * @throws InvalidConfigError when it is invalid (listing every problem).
 */
export function bundledConfig(): LimiterConfig {
  if (cached !== undefined) return cached;
  if (typeof __LIMITER_CONFIG__ === 'undefined') throw new MissingBundledConfigError();
  cached = assertConfig(__LIMITER_CONFIG__);
  return cached;
}
