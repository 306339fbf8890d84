/**
 * The limiter's config: the one file an engineer edits to change regions,
 * limits, rules, alarms and who gets paged. It is validated before any stack
 * is built (`npx cdk synth` lists every problem), compiled into the edge
 * bundle, and used by `npm start` unless `--config FILE` is given.
 */
import type { LimiterConfig } from './functions/config/schema';

export const config: LimiterConfig = {
  appName: 'EdgeRateLimiter',
  // The account to deploy to; `cdk deploy` also reads CDK_DEFAULT_ACCOUNT.
  account: process.env.LIMITER_ACCOUNT ?? process.env.CDK_DEFAULT_ACCOUNT ?? '111111111111',
  regions: ['us-east-1', 'eu-west-1', 'ap-southeast-1'],
  tableName: 'edge-rate-limiter-buckets',
  origin: { domainName: 'api.example.com' },
  policies: [
    {
      id: 'demo',
      capacityTokens: 10,
      refillTokens: 1,
      refillIntervalMs: 1000,
      onStoreError: 'open',
    },
    {
      // Per client IP, under every API key that IP sends: inventing keys does not get around it.
      id: 'demo-ip',
      capacityTokens: 40,
      refillTokens: 2,
      refillIntervalMs: 1000,
      onStoreError: 'open',
    },
    {
      id: 'api',
      capacityTokens: 100,
      refillTokens: 50,
      refillIntervalMs: 1000,
      onStoreError: 'local',
      localShare: 0.1,
      // Leases are on by default for a bucket this size (sized to each container's demand,
      // at most a tenth of it): `lease: false` would turn them off.
      // Keyed per caller, so the regional API may consume it: at most 10 tokens per call (a
      // tenth of capacity, the default), never a viewer's `ip:` bucket.
    },
    {
      id: 'api-ip',
      capacityTokens: 400,
      refillTokens: 200,
      refillIntervalMs: 1000,
      onStoreError: 'open',
    },
    {
      id: 'global-cap',
      capacityTokens: 5000,
      refillTokens: 2000,
      refillIntervalMs: 1000,
      onStoreError: 'open',
      watchKeys: ['all'],
      // One bucket every client shares: the regional API may peek it, never consume it (the
      // default for a policy a rule keys by constants only, spelled out here).
      apiAccess: { consume: false },
    },
  ],
  // Each rule charges every one of its limits or none: a request is refused when any refuses.
  // A monthly allowance per key is one more limit, e.g. a policy
  // { id: 'api-monthly', quota: { limit: 1_000_000, period: 'month' } } charged by the API rules
  // with the key's parts (docs/configuration.md, Quotas). Add consistency: 'escrow' when the
  // allowance is money and must never be exceeded across regions (docs/escrow.md).
  rules: [
    {
      id: 'demo',
      match: { path: '/demo/**' },
      limits: [
        { policy: 'demo', key: [{ header: 'x-api-key' }], onMissingKey: 'ip' },
        { policy: 'demo-ip', key: [{ ip: true }] },
        { policy: 'global-cap', key: [{ constant: 'all' }] },
      ],
    },
    {
      id: 'api-writes',
      match: { path: '/api/**', methods: ['POST', 'PUT', 'PATCH', 'DELETE'] },
      limits: [
        {
          policy: 'api',
          key: [{ header: 'x-api-key' }],
          onMissingKey: 'reject',
          cost: { bodyBytesPerToken: 65536, minTokens: 1, maxTokens: 10 },
        },
        { policy: 'api-ip', key: [{ ip: true }] },
        { policy: 'global-cap', key: [{ constant: 'all' }] },
      ],
    },
    {
      id: 'api',
      match: { path: '/api/**' },
      limits: [
        { policy: 'api', key: [{ header: 'x-api-key' }], onMissingKey: 'ip' },
        { policy: 'api-ip', key: [{ ip: true }] },
        { policy: 'global-cap', key: [{ constant: 'all' }] },
      ],
    },
    {
      id: 'everything',
      match: { path: '/**' },
      policy: 'global-cap',
      key: [{ constant: 'all' }],
    },
  ],
  // Paths compare without letter case (the default, written out so it is not missed):
  // Express, ASP.NET Core and IIS serve /DEMO/x as /demo/x, so a case-sensitive `demo` rule
  // could be dodged. `false` only suits an origin that tells paths apart by case.
  matching: { caseInsensitive: true },
  alarms: {
    syncLagMs: 5000,
    replicationLatencyMs: 5000,
    depletionRatio: 0.1,
    storeErrorsPerMinute: 5,
    fallbacksPerMinute: 1,
    functionErrorsPerMinute: 1,
  },
  notifications: { emails: ['oncall@example.com'], httpsEndpoints: [] },
  runtime: { storeBudgetMs: 150, viewCacheMs: 250, maxKeyLength: 256 },
};

export default config;
