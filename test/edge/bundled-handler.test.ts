/**
 * The real bundles, end to end: the edge functions are bundled with esbuild
 * exactly as for deployment (scripts/build-functions.ts options, config
 * compiled in), plus the store-endpoint define pointing the replica at an
 * embedded DynamoDB started here, then loaded as CommonJS and invoked with
 * CloudFront fixtures.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import type {
  CloudFrontRequest,
  CloudFrontRequestEvent,
  CloudFrontRequestResult,
  CloudFrontResponseEvent,
  CloudFrontResponseResult,
} from 'aws-lambda';
import { type BuildOptions, build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LimiterConfig } from '../../functions/config/schema';
import { storeEndpointsDefine } from '../../functions/edge/build-defines';
import {
  EDGE_VIEWER_MAX_ZIPPED_BYTES,
  esbuildOptions,
  type FunctionName,
} from '../../scripts/build-functions';
import { type LocalDynamo, startDynalite } from '../helpers/dynalite';
import { edgeTestConfig, requestEvent, responseEvent } from './fixtures';

interface EdgeBundle {
  handler(event: CloudFrontRequestEvent): Promise<CloudFrontRequestResult>;
  handlerForRegion(
    region: string,
  ): (event: CloudFrontRequestEvent) => Promise<CloudFrontRequestResult>;
  replicaRegionFor(region: string): string;
}

interface ResponseBundle {
  responseHandler(event: CloudFrontResponseEvent): Promise<CloudFrontResponseResult>;
}

const dir = mkdtempSync(join(tmpdir(), 'edge-bundle-'));
const requireBundle = createRequire(join(dir, 'index.js'));

const deflatedBytes = new Map<FunctionName, number>();

async function bundle<T>(
  name: FunctionName,
  config: LimiterConfig,
  define: Record<string, string>,
): Promise<T> {
  const options = esbuildOptions({ name, config });
  const result = await build({
    ...options,
    define: { ...options.define, ...define },
    write: false,
  } as BuildOptions & {
    write: false;
  });
  const file = join(dir, `${name}.cjs`);
  writeFileSync(file, result.outputFiles[0]!.contents);
  deflatedBytes.set(name, deflateRawSync(result.outputFiles[0]!.contents).byteLength);
  return requireBundle(file) as T;
}

function header(
  result: CloudFrontRequestResult | CloudFrontResponseResult,
  name: string,
): string | undefined {
  return result?.headers?.[name]?.[0]?.value;
}

/** Nothing listens there: every store call is refused at once. */
const CLOSED_ENDPOINT = 'http://127.0.0.1:1';

let db: LocalDynamo;
let edge: EdgeBundle;
let viewerResponse: ResponseBundle;
let stdout: string[] = [];
const originalWrite = process.stdout.write.bind(process.stdout);

beforeAll(async () => {
  db = await startDynalite({ tables: ['buckets'] });
  const config = edgeTestConfig();
  edge = await bundle<EdgeBundle>(
    'edge',
    config,
    storeEndpointsDefine({ 'eu-west-1': db.endpoint, 'us-east-1': CLOSED_ENDPOINT }),
  );
  viewerResponse = await bundle<ResponseBundle>('edge-response', config, {});
  // EMF documents go to stdout; keep them for assertions instead of the test log.
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
});

afterAll(async () => {
  process.stdout.write = originalWrite;
  await db?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the bundled edge handler', () => {
  it('fits the Lambda@Edge viewer-trigger package limit', () => {
    expect(deflatedBytes.get('edge')).toBeLessThan(EDGE_VIEWER_MAX_ZIPPED_BYTES);
    expect(deflatedBytes.get('edge-response')).toBeLessThan(EDGE_VIEWER_MAX_ZIPPED_BYTES);
  });

  it('maps an edge region to its nearest replica', () => {
    expect(edge.replicaRegionFor('eu-west-2')).toBe('eu-west-1');
    expect(edge.replicaRegionFor('ap-northeast-1')).toBe('ap-southeast-1');
  });

  it('admits up to capacity through DynamoDB, then answers 429; the viewer response gets RateLimit headers', async () => {
    const previous = process.env.AWS_REGION;
    process.env.AWS_REGION = 'eu-west-2';
    stdout = [];
    try {
      const results: CloudFrontRequestResult[] = [];
      for (let i = 0; i < 4; i++)
        results.push(await edge.handler(requestEvent('viewer-request-get-ipv4')));
      const [first, , third, fourth] = results;
      expect(header(first, 'x-ratelimit-remaining')).toBe('2');
      expect(header(third, 'x-ratelimit-remaining')).toBe('0');
      expect(fourth).toMatchObject({ status: '429' });
      expect(header(fourth, 'retry-after')).toBe('1');
      expect(header(fourth, 'ratelimit-policy')).toBe('"demo";q=3;w=3');

      const out = await viewerResponse.responseHandler(responseEvent(first as CloudFrontRequest));
      expect(header(out, 'ratelimit')).toBe('"demo";r=2;t=0');
      expect(header(out, 'ratelimit-policy')).toBe('"demo";q=3;w=3');
    } finally {
      process.env.AWS_REGION = previous;
    }

    // One slot, the replica's, holding the three admitted tokens.
    const items = await db.client.send(
      new QueryCommand({
        TableName: 'buckets',
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: await pkOfDemoBucket() } },
      }),
    );
    expect(items.Items?.map((i) => [i.sk?.S, i.n?.N])).toEqual([['eu-west-1', '3']]);

    // Metrics are aggregated in the container and written once per interval:
    // nothing yet, then everything at the end of the first invocation a
    // minute later (virtual time: the bundle reads the faked Date).
    const emfOf = () =>
      stdout
        .filter((line) => line.includes('"_aws"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(emfOf().filter((doc) => 'Decisions' in doc)).toEqual([]);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 61_000 });
    try {
      process.env.AWS_REGION = 'eu-west-2';
      await edge.handler(requestEvent('viewer-request-get-ipv4'));
    } finally {
      process.env.AWS_REGION = previous;
      vi.useRealTimers();
    }
    const decisions = emfOf().filter((doc) => 'Decisions' in doc && doc.Policy === 'demo');
    const total = (outcome: string) =>
      decisions
        .filter((doc) => doc.Outcome === outcome)
        .reduce((sum, doc) => sum + Number(doc.Decisions), 0);
    // Three admitted and one refused in the first minute; the bucket refilled by the fifth.
    expect([total('allowed'), total('refused')]).toEqual([4, 1]);
  });

  it('passes requests no rule matches and strips spoofed headers, without touching the store', async () => {
    const result = await edge.handlerForRegion('us-east-1')(
      requestEvent('viewer-request-spoofed-headers'),
    );
    expect(
      Object.keys((result as CloudFrontRequest).headers).some((h) => h.startsWith('x-ratelimit-')),
    ).toBe(false);
  });

  it('fails open, and says so to the origin, when its replica refuses connections', async () => {
    const result = await edge.handlerForRegion('us-east-1')(
      requestEvent('viewer-request-get-ipv4'),
    );
    expect(header(result, 'x-ratelimit-fallback')).toBe('open');
  });
});

async function pkOfDemoBucket(): Promise<string> {
  const { bucketIdOf } = await import('../../functions/limiter/bucket-id');
  return bucketIdOf('demo', 1, 'key-alice-0001', 64);
}
