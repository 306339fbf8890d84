import { defineConfig } from 'vitest/config';

/**
 * Test files that start an embedded DynamoDB, the emulated regions, an HTTP
 * server or a bundle build: the `integration` project (`npm run test:integration`).
 * Listed one by one so that a new file lands in `unit` only if it is pure;
 * test/projects.test.ts checks that no file in `unit` starts any of them.
 */
export const INTEGRATION_FILES = [
  'test/bench/counting-proxy.test.ts',
  'test/bench/edge-client-floors.test.ts',
  'test/edge/bundled-handler.test.ts',
  'test/edge/warm.test.ts',
  'test/limiter/limiter.dynalite.test.ts',
  'test/limiter/multi-region.test.ts',
  'test/local/admin.test.ts',
  'test/local/edge-server.test.ts',
  'test/local/emulator-down.test.ts',
  'test/local/emulator-replication.test.ts',
  'test/local/emulator-throughput.test.ts',
  'test/local/emulator.test.ts',
  'test/local/latency-proxy.test.ts',
  'test/origin-guard/middleware.test.ts',
  'test/reconciler/reconcile-emulator.test.ts',
  'test/store/dynamodb-replication-store.dynalite.test.ts',
  'test/store/dynamodb-store-escrow.dynalite.test.ts',
  'test/store/dynamodb-store.dynalite.test.ts',
  'test/store/override-table.dynalite.test.ts',
  'test/store/transports.test.ts',
];

/** The local runtime over HTTP and the CLI as a process (`npm run test:e2e`). */
export const E2E_GLOB = 'test/e2e/**/*.test.ts';

/** The simulators and their generated docs: seconds of virtual time each (`npm run test:sim`). */
export const SIM_GLOB = 'test/sim/**/*.test.ts';

/** CDK templates, cdk-nag, the bundle build and the synth entry point (`npm run test:infra`). */
export const INFRA_GLOB = 'test/infra/**/*.test.ts';

/** Every test file; whatever is not in another project is `unit` (`npm run test:unit`). */
export const ALL_TESTS_GLOB = 'test/**/*.test.ts';

export default defineConfig({
  test: {
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: {
      // The SDK warns once per module instance that releases after January 2027
      // need Node 22; every bundle the local runtime loads is one instance, so a
      // run would print it a dozen times. It says nothing about these tests.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [ALL_TESTS_GLOB],
          exclude: [...INTEGRATION_FILES, E2E_GLOB, INFRA_GLOB, SIM_GLOB],
        },
      },
      { extends: true, test: { name: 'sim', include: [SIM_GLOB] } },
      { extends: true, test: { name: 'integration', include: INTEGRATION_FILES } },
      // Processes and nine-region runtimes start slowly on a busy machine; the
      // tests wait for conditions with their own deadlines inside this one.
      { extends: true, test: { name: 'e2e', include: [E2E_GLOB], testTimeout: 180_000 } },
      { extends: true, test: { name: 'infra', include: [INFRA_GLOB] } },
    ],
  },
});
