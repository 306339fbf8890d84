/**
 * An embedded DynamoDB (dynalite) in a child process, with the bucket table.
 * Why a child process: in-process, dynalite shares one event loop with the
 * limiter and the SDK, and a scale run would measure their contention; in a
 * child it gets the machine's second core, as a real table would be remote.
 * The child listens on loopback only and exits when its parent disconnects.
 */

import { fork } from 'node:child_process';
import type http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { bucketTableDefinition } from '../functions/store/table';

/** A dynalite running in a child process. */
export interface DynaliteChild {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** CPU time the child has used so far (µs, user + system), as it reports it. */
  cpuMicros(): Promise<number>;
  /** Kills the child (by its own pid). */
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 20_000;

/** Starts dynalite in a child process and creates the bucket table `tableName`. */
export function startDynaliteChild(tableName: string): Promise<DynaliteChild> {
  const script = fileURLToPath(import.meta.url);
  const child = fork(script, ['--child', tableName], { execArgv: ['--import', 'tsx'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('dynalite child did not start in time'));
    }, STARTUP_TIMEOUT_MS);
    child.once('message', (message: unknown) => {
      clearTimeout(timer);
      const m = message as { port?: number; error?: string };
      if (m.port === undefined) {
        child.kill('SIGKILL');
        reject(new Error(`dynalite child failed: ${m.error ?? 'no port'}`));
        return;
      }
      resolve({
        endpoint: `http://127.0.0.1:${m.port}`,
        cpuMicros: () =>
          new Promise<number>((done, fail) => {
            const onMessage = (answer: unknown) => {
              const a = answer as { cpuMicros?: number };
              if (typeof a.cpuMicros !== 'number') return;
              child.off('message', onMessage);
              done(a.cpuMicros);
            };
            child.on('message', onMessage);
            if (!child.send({ cpu: true })) fail(new Error('dynalite child is gone'));
          }),
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

async function childMain(tableName: string): Promise<void> {
  const require = createRequire(import.meta.url);
  const dynalite = require('dynalite') as (options: Record<string, unknown>) => http.Server;
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await client.send(new CreateTableCommand(bucketTableDefinition(tableName)));
  client.destroy();
  process.on('disconnect', () => process.exit(0));
  process.on('message', () => {
    const usage = process.cpuUsage();
    process.send?.({ cpuMicros: usage.user + usage.system });
  });
  process.send?.({ port });
}

if (process.argv[2] === '--child' && process.send !== undefined) {
  childMain(process.argv[3] ?? 'buckets').catch((error: unknown) => {
    process.send?.({ error: String(error) });
    process.exit(1);
  });
}
