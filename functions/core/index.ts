/**
 * The pure limiter core: bucket math, merge on read, checkpoints, leases, the
 * calendar periods of quotas and escrow (rights split between regions).
 * No AWS SDK, no environment, no clock: time is always an argument.
 */
export * from './bucket';
export * from './calendar';
export * from './escrow';
export * from './lease';
export * from './policy';
export * from './slot';
export * from './take';
