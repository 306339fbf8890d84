/**
 * Opening the replica's connections ahead of the first viewer: the store's
 * warm-up (two GetItems of no bucket, side by side), and the edge container
 * that does it at init and whose first decision then reuses them.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../functions/config/resolve';
import { LOCAL_STORE_CREDENTIALS } from '../../functions/edge/build-defines';
import { composeEdgeContainer, warmAtInit } from '../../functions/edge/handler';
import { DynamoDbStore, WARM_KEY } from '../../functions/store/dynamodb-store';
import type { DynamoDbTransport } from '../../functions/store/transport';
import { edgeTestConfig, requestEvent } from './fixtures';

/** A transport whose answers the test releases one by one, recording the order of calls. */
function scriptedTransport() {
  const log: string[] = [];
  const pending: (() => void)[] = [];
  let failGetItem = false;
  const answer = <T>(name: string, value: T) =>
    new Promise<T>((resolve, reject) => {
      log.push(name);
      pending.push(() =>
        name === 'GetItem' && failGetItem ? reject(new Error('no route to host')) : resolve(value),
      );
    });
  const requests: unknown[] = [];
  const transport: DynamoDbTransport = {
    getItem: (request) => {
      requests.push(request);
      return answer('GetItem', {});
    },
    query: () => answer('Query', { Items: [] }),
    updateItem: () => answer('UpdateItem', {}),
  };
  return {
    transport,
    log,
    requests,
    failGetItem: () => {
      failGetItem = true;
    },
    release: () => pending.shift()?.(),
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('DynamoDbStore.warm', () => {
  it('reads a key no bucket has twice side by side (two connections); calls meanwhile do not wait', async () => {
    const t = scriptedTransport();
    const store = new DynamoDbStore({ transport: t.transport, tableName: 'buckets' });
    const warmed = store.warm();
    const read = store.readView('api#1#abc');
    await tick();
    // The read went out at once (on a connection of its own), beside the warm-up.
    expect(t.log).toEqual(['GetItem', 'GetItem', 'Query']);
    expect(t.requests).toEqual([
      { TableName: 'buckets', Key: { pk: { S: WARM_KEY }, sk: { S: WARM_KEY } } },
      { TableName: 'buckets', Key: { pk: { S: WARM_KEY }, sk: { S: WARM_KEY } } },
    ]);
    t.release();
    t.release();
    await warmed;
    t.release();
    expect(await read).toEqual([]);
  });

  it('never rejects, even when the replica cannot be reached', async () => {
    const t = scriptedTransport();
    t.failGetItem();
    const store = new DynamoDbStore({ transport: t.transport, tableName: 'buckets' });
    const warmed = store.warm();
    t.release();
    t.release();
    await expect(warmed).resolves.toBeUndefined();
    // And a later one starts again.
    const again = store.warm();
    await tick();
    expect(t.log).toEqual(['GetItem', 'GetItem', 'GetItem', 'GetItem']);
    t.release();
    t.release();
    await again;
  });

  it('one warm-up at a time', async () => {
    const t = scriptedTransport();
    const store = new DynamoDbStore({ transport: t.transport, tableName: 'buckets' });
    const a = store.warm();
    const b = store.warm();
    await tick();
    expect(t.log).toEqual(['GetItem', 'GetItem']);
    t.release();
    t.release();
    await Promise.all([a, b]);
  });
});

describe('the edge container warms its connection', () => {
  let server: Server | undefined;
  afterEach(
    () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
  );

  it('the first decision after the warm-up reuses its connections: two, opened by the warm-up', async () => {
    const targets: string[] = [];
    let connections = 0;
    server = createServer((req, res) => {
      const target = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      targets.push(target);
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/x-amz-json-1.0');
        res.end(target === 'Query' ? '{"Items":[]}' : '{}');
      });
    });
    server.on('connection', () => {
      connections += 1;
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const container = composeEdgeContainer({
      config: resolveConfig(edgeTestConfig()),
      awsRegion: 'us-east-1',
      access: { endpointOf: () => endpoint, credentials: LOCAL_STORE_CREDENTIALS },
    });
    await container.warm();
    // The two warming reads, then the overrides' first read on one of their connections.
    expect(targets).toEqual(['GetItem', 'GetItem', 'Query']);
    expect(connections).toBe(2);
    const result = await container.handle(requestEvent('viewer-request-get-ipv4'));
    expect(result).toBeDefined();
    // A take: its read and its write side by side, on the two warm connections.
    expect(targets.slice(3).sort()).toEqual(['Query', 'UpdateItem']);
    expect(connections).toBe(2);
  });

  it('happens at module load only inside Lambda', () => {
    expect(warmAtInit({})).toBeUndefined();
    expect(warmAtInit({ AWS_REGION: 'us-east-1' })).toBeUndefined();
  });
});
