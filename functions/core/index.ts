/**
 * The pure limiter core: bucket math, merge on read, checkpoints and leases.
 * No AWS SDK, no environment, no clock: time is always an argument.
 */
export * from './bucket';
export * from './lease';
export * from './policy';
export * from './slot';
export * from './take';
