/**
 * Whether clients get the RateLimit headers of admitted requests, decided in
 * one place for the stacks (infra/defaults.ts re-exports it) and the local
 * runtime, which must run the viewer-response function exactly when a
 * deployment of the same config would. Apart from infra/ so that the local
 * runtime does not load the CDK to read a default.
 */

import type { ClientHeadersMode, LimiterConfig } from './schema';

/**
 * How clients get their RateLimit headers unless the config says otherwise:
 * `none`. The viewer-response function is a second Lambda@Edge request per
 * admitted request ($0.60 per million before its duration): with it, the
 * default config cannot meet its cost target (docs/cost.md). Refusals carry
 * their headers either way.
 */
export const DEFAULT_CLIENT_HEADERS: ClientHeadersMode = 'none';

/** How clients get their RateLimit headers. */
export function clientHeadersMode(config: LimiterConfig): ClientHeadersMode {
  return config.clientHeaders ?? DEFAULT_CLIENT_HEADERS;
}
