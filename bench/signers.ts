/**
 * The CPU time of one SigV4 signature of a bucket write, by the two signers
 * the edge's light transport could use: `aws4` (what it uses) and the SDK's
 * own `@smithy/signature-v4` on node's hash. Same request, same credentials
 * (with a session token, as at the edge), rounds alternating between the two.
 * A hot loop with nothing else running: a floor, lower than the same
 * signature costs inside a decision (docs/performance.md).
 *
 * Run: `npx tsx bench/signers.ts [--rounds 6] [--signatures 20000]`.
 */

import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import aws4 from 'aws4';
import { decide, EMPTY_VIEW } from '../functions/core';
import { median } from '../functions/edge/measure-bundle';
import { updateInputOf } from '../functions/store/dynamodb-store';
import { DYNAMODB_CONTENT_TYPE, DYNAMODB_TARGET_PREFIX } from '../functions/store/http-transport';

const REGION = 'eu-west-1';
const HOST = `dynamodb.${REGION}.amazonaws.com`;
const CREDENTIALS = {
  accessKeyId: 'ASIAEXAMPLEEXAMPLE',
  secretAccessKey: 'example-secret-access-key',
  sessionToken: 'example-session-token-'.repeat(20),
};

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!(Number.isSafeInteger(value) && value > 0)) {
    throw new Error(`--${name} must be a positive integer`);
  }
  return value;
}

/** The body of a typical bucket write (the store's own UpdateItem). */
function writeBody(): string {
  const policy = { capacityTokens: 100, refillTokens: 10, refillIntervalMs: 1000 };
  const d = decide({ policy, view: EMPTY_VIEW, slot: REGION, costTokens: 1, nowMs: Date.now() });
  if (!d.allowed) throw new Error('the fixture must admit');
  return JSON.stringify(updateInputOf('buckets', 'api#1#abcdefghijklmnopqrstuv', d.write));
}

async function main(): Promise<void> {
  const rounds = arg('rounds', 6);
  const signatures = arg('signatures', 20_000);
  const body = writeBody();
  const target = `${DYNAMODB_TARGET_PREFIX}UpdateItem`;
  const smithy = new SignatureV4({
    credentials: CREDENTIALS,
    region: REGION,
    service: 'dynamodb',
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: false,
  });
  const signers: [string, () => unknown][] = [
    [
      'aws4',
      () =>
        aws4.sign(
          {
            method: 'POST',
            path: '/',
            service: 'dynamodb',
            region: REGION,
            headers: { Host: HOST, 'Content-Type': DYNAMODB_CONTENT_TYPE, 'X-Amz-Target': target },
            body,
          },
          CREDENTIALS,
        ),
    ],
    [
      '@smithy/signature-v4',
      () =>
        smithy.sign({
          method: 'POST',
          protocol: 'https:',
          hostname: HOST,
          path: '/',
          query: {},
          headers: { host: HOST, 'content-type': DYNAMODB_CONTENT_TYPE, 'x-amz-target': target },
          body,
        }),
    ],
  ];
  const perSignature = new Map<string, number[]>(signers.map(([name]) => [name, []]));
  for (let round = 0; round <= rounds; round++) {
    const order = round % 2 === 0 ? signers : [...signers].reverse();
    for (const [name, sign] of order) {
      const start = process.cpuUsage();
      for (let i = 0; i < signatures; i++) await sign();
      const used = process.cpuUsage(start);
      // Round 0 warms both up and is not counted.
      if (round > 0) perSignature.get(name)?.push((used.user + used.system) / signatures);
    }
  }
  console.log(
    `SigV4 signature of a ${body.length}-byte UpdateItem, ${rounds} interleaved rounds of ${signatures} signatures each:`,
  );
  for (const [name, samples] of perSignature) {
    console.log(
      `  ${name.padEnd(22)} median ${median(samples).toFixed(1)} µs CPU (rounds ${samples.map((x) => x.toFixed(1)).join(', ')})`,
    );
  }
  const [a, s] = [...perSignature.values()].map((x) => median(x));
  console.log(`  aws4 / @smithy/signature-v4: ×${(a! / s!).toFixed(2)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
