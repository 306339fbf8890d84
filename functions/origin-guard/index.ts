/**
 * Origin protection for the origin behind the limiter's distribution: check
 * the secret header CloudFront adds. See docs/origin-protection.md.
 *
 * ```ts
 * const guard = new OriginGuard({
 *   source: secretsManagerSource({ client: new SecretsManagerClient({ region: 'us-east-1' }), secretId }),
 * });
 * app.use(originGuardMiddleware(guard));
 * ```
 */
export {
  DEFAULT_ORIGIN_HEADER,
  type GuardVerdict,
  InvalidOriginGuardOptionsError,
  OriginGuard,
  type OriginGuardOptions,
  type RefusalReason,
  type SecretSource,
} from './guard';
export {
  type Middleware,
  type OriginGuardMiddlewareOptions,
  originGuardMiddleware,
} from './middleware';
export {
  ACCEPTED_STAGES,
  type SecretsManagerSourceOptions,
  secretsManagerSource,
} from './secrets-manager';
