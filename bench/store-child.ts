/**
 * Emulated regions replicating like a global table, each behind a counting
 * proxy, in a child process: the store side of the cost benchmark.
 *
 * Why a child process: the cost model charges Lambda@Edge duration from the
 * CPU time the handlers use per invocation, measured with
 * `process.cpuUsage()`. In-process, dynalite's own work (which is DynamoDB's,
 * not the function's) would be counted as the handler's. In a child, the
 * parent's CPU time is the handlers' alone: the limiter, the SDK, HTTP and
 * the metrics sink. The child listens on loopback only and exits when its
 * parent disconnects.
 */

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bucketTableDefinition } from '../functions/store/table';
import { RegionEmulator } from '../local/emulator';
import { CountingProxy, type TrafficCounts } from './counting-proxy';

/** The store side as the parent sees it. */
export interface StoreChild {
  /** Proxy endpoint of each region, e.g. `http://127.0.0.1:40123`. */
  readonly endpoints: Readonly<Record<string, string>>;
  /** Counters of every region's proxy, summed per operation. */
  snapshot(): Promise<TrafficCounts>;
  /** Waits until every replication delivery has landed. */
  settle(): Promise<void>;
  /** Stops the child (by its own pid). */
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 30_000;

type Request = { readonly id: number; readonly op: 'snapshot' | 'settle' };
type Answer = { readonly id: number; readonly snapshot?: TrafficCounts; readonly error?: string };

/** Starts the regions in a child process, with the bucket table `tableName`. */
export function startStoreChild(
  regions: readonly string[],
  tableName: string,
): Promise<StoreChild> {
  const script = fileURLToPath(import.meta.url);
  const child = fork(script, ['--child', tableName, ...regions], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  let nextId = 1;
  const ask = (op: Request['op']) =>
    new Promise<Answer>((resolve, reject) => {
      const id = nextId++;
      const onMessage = (message: unknown) => {
        const answer = message as Answer;
        if (answer.id !== id) return;
        child.off('message', onMessage);
        if (answer.error !== undefined) reject(new Error(answer.error));
        else resolve(answer);
      };
      child.on('message', onMessage);
      if (!child.send({ id, op } satisfies Request)) reject(new Error('store child is gone'));
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('store child did not start in time'));
    }, STARTUP_TIMEOUT_MS);
    child.once('message', (message: unknown) => {
      clearTimeout(timer);
      const m = message as { endpoints?: Record<string, string>; error?: string };
      if (m.endpoints === undefined) {
        child.kill('SIGKILL');
        reject(new Error(`store child failed: ${m.error ?? 'no endpoints'}`));
        return;
      }
      resolve({
        endpoints: m.endpoints,
        snapshot: async () => (await ask('snapshot')).snapshot ?? {},
        settle: async () => {
          await ask('settle');
        },
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function childMain(tableName: string, regions: readonly string[]): Promise<void> {
  const emulator = await RegionEmulator.start({ regions, lagMs: 0 });
  await emulator.createTable(bucketTableDefinition(tableName));
  const proxies = new Map<string, CountingProxy>();
  for (const region of regions) {
    proxies.set(region, await CountingProxy.start(emulator.endpoint(region)));
  }
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: unknown) => {
    const request = message as Request;
    const answer = async (): Promise<Answer> => {
      if (request.op === 'settle') {
        await emulator.settle();
        return { id: request.id };
      }
      const total: TrafficCounts = {};
      for (const proxy of proxies.values()) {
        for (const [op, c] of Object.entries(proxy.snapshot())) {
          const t = total[op] ?? { calls: 0, failedConditional: 0, errors: 0, units: 0 };
          t.calls += c.calls;
          t.failedConditional += c.failedConditional;
          t.errors += c.errors;
          t.units += c.units;
          total[op] = t;
        }
      }
      return { id: request.id, snapshot: total };
    };
    answer().then(
      (a) => process.send?.(a),
      (error: unknown) => process.send?.({ id: request.id, error: String(error) }),
    );
  });
  process.send?.({
    endpoints: Object.fromEntries([...proxies].map(([region, p]) => [region, p.endpoint])),
  });
}

if (process.argv[2] === '--child' && process.send !== undefined) {
  const [, , , tableName = 'buckets', ...regions] = process.argv;
  childMain(tableName, regions).catch((error: unknown) => {
    process.send?.({ error: String(error) });
    process.exit(1);
  });
}
