/**
 * The two transports of the store side by side on a scripted endpoint
 * (test/helpers/scripted-dynamodb.ts): the same wire-level answer gives the
 * same store error kind through either; the light transport sends what the
 * SDK sends and signs what it sends; it retries no more than the SDK,
 * honours its timeouts and the abort signal, reads credentials from the
 * Lambda environment, and puts a background write on the wire before the
 * container can be frozen.
 */
import { Worker } from 'node:worker_threads';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Admission, decide, EMPTY_VIEW, type SlotItem } from '../../functions/core';
import { CallAbort, type CallSignal } from '../../functions/store/call-signal';
import { createDynamoDbClient } from '../../functions/store/client';
import { encodeItem } from '../../functions/store/codec';
import { DynamoDbStore } from '../../functions/store/dynamodb-store';
import {
  createHttpTransport,
  errorCodeOf,
  type HttpTransport,
  type HttpTransportOptions,
  InvalidTransportOptionsError,
} from '../../functions/store/http-transport';
import { SdkTransport } from '../../functions/store/sdk-transport';
import type { DynamoDbTransport } from '../../functions/store/transport';
import { StoreConflictError, StoreError } from '../../functions/store/types';
import { LOCAL_CREDENTIALS } from '../helpers/dynalite';
import {
  type RecordedRequest,
  type ScriptedAnswer,
  type ScriptedDynamo,
  startScriptedDynamo,
} from '../helpers/scripted-dynamodb';

const REGION = 'us-east-1';
const BUCKET = 'api#1#abcdefghijklmnopqrstuv';
const policy = { capacityTokens: 10, refillTokens: 1, refillIntervalMs: 1000 };

function admission(): Admission {
  const d = decide({
    policy,
    view: EMPTY_VIEW,
    slot: REGION,
    costTokens: 1,
    nowMs: 1_700_000_000_000,
  });
  if (!d.allowed) throw new Error('fixture must admit');
  return d;
}

const WRITE = admission().write;
const STORED = encodeItem(BUCKET, WRITE.expected, WRITE.ttlEpochSeconds);

/** A well-formed answer to each operation. */
function success(request: RecordedRequest): ScriptedAnswer {
  if (request.operation === 'UpdateItem') return { status: 200, body: { Attributes: STORED } };
  if (request.operation === 'Query') return { status: 200, body: { Items: [STORED], Count: 1 } };
  return { status: 200, body: { Item: STORED } };
}

/** Error answers as DynamoDB (or something in front of it) sends them. */
function dynamoError(type: string, status = 400, extra: Record<string, unknown> = {}) {
  return { status, body: { __type: type, message: `${type} happened`, ...extra } } as const;
}

const opened: { destroy(): void }[] = [];
afterAll(() => {
  for (const o of opened) o.destroy();
});

/** The SDK client as the regional functions build it (client.ts). */
function sdkAt(endpoint: string, budgetMs: number): DynamoDbTransport {
  const client = createDynamoDbClient({
    region: REGION,
    endpoint,
    credentials: LOCAL_CREDENTIALS,
    budgetMs,
  });
  opened.push(client);
  return new SdkTransport(client);
}

function lightAt(
  endpoint: string,
  budgetMs: number,
  extra: Partial<HttpTransportOptions> = {},
): HttpTransport {
  const transport = createHttpTransport({
    region: REGION,
    endpoint,
    credentials: LOCAL_CREDENTIALS,
    budgetMs,
    ...extra,
  });
  opened.push(transport);
  return transport;
}

type TransportAt = (endpoint: string, budgetMs: number) => DynamoDbTransport;
const BOTH: [string, TransportAt][] = [
  ['SDK client', sdkAt],
  ['light transport', lightAt],
];

/** The three store calls, each failing or not. */
function storeCalls(store: DynamoDbStore, signal?: CallSignal) {
  const options = signal === undefined ? {} : { abortSignal: signal };
  return [
    ['applyWrite', () => store.applyWrite(BUCKET, WRITE, options)],
    ['readView', () => store.readView(BUCKET, options)],
    ['readSlot', () => store.readSlot(BUCKET, REGION, options)],
  ] as const;
}

async function kindOf(call: () => Promise<unknown>): Promise<string> {
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error === undefined) return 'resolved';
  if (!(error instanceof StoreError)) return `not a StoreError: ${String(error)}`;
  expect(error.cause).toBeDefined();
  return error.kind;
}

let server: ScriptedDynamo;
beforeAll(async () => {
  server = await startScriptedDynamo(success);
});
afterAll(() => server.stop());
afterEach(() => {
  server.answerWith(success);
  server.requests.length = 0;
});

describe('the same failure, the same kind, through either transport', () => {
  const cases: [string, ScriptedAnswer, string][] = [
    [
      'ProvisionedThroughputExceeded',
      dynamoError('com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException'),
      'throttled',
    ],
    [
      'ThrottlingException',
      dynamoError('com.amazon.coral.availability#ThrottlingException'),
      'throttled',
    ],
    [
      'RequestLimitExceeded',
      dynamoError('com.amazonaws.dynamodb.v20120810#RequestLimitExceeded'),
      'throttled',
    ],
    [
      'the code in x-amzn-errortype only',
      {
        status: 400,
        body: {},
        headers: {
          'x-amzn-errortype':
            'ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/',
        },
      },
      'throttled',
    ],
    ['429 without a body', { status: 429 }, 'throttled'],
    [
      'ReplicatedWriteConflictException, after the store retries it',
      dynamoError('com.amazonaws.dynamodb.v20120810#ReplicatedWriteConflictException', 409),
      'throttled',
    ],
    [
      'ValidationException',
      dynamoError('com.amazon.coral.validate#ValidationException'),
      'invalid',
    ],
    [
      'ResourceNotFoundException',
      dynamoError('com.amazonaws.dynamodb.v20120810#ResourceNotFoundException'),
      'invalid',
    ],
    [
      'UnrecognizedClientException (capital Message)',
      {
        status: 400,
        body: {
          __type: 'com.amazon.coral.service#UnrecognizedClientException',
          Message: 'The security token included in the request is invalid.',
        },
      },
      'invalid',
    ],
    [
      'AccessDeniedException',
      dynamoError('com.amazon.coral.service#AccessDeniedException'),
      'invalid',
    ],
    [
      'an unknown 4xx code',
      dynamoError('com.amazonaws.dynamodb.v20120810#SomethingNew'),
      'invalid',
    ],
    [
      'InternalServerError',
      dynamoError('com.amazonaws.dynamodb.v20120810#InternalServerError', 500),
      'unavailable',
    ],
    [
      '503 with an HTML page',
      { status: 503, body: '<html>Service Unavailable</html>' },
      'unavailable',
    ],
    ['400 with an HTML page', { status: 400, body: '<html>Bad Request</html>' }, 'unavailable'],
    ['200 with an HTML page', { status: 200, body: '<html>OK</html>' }, 'unavailable'],
    ['a reset before any answer', { reset: true }, 'timeout'],
    ['an answer cut in the middle', { cut: true }, 'unavailable'],
  ];
  // One attempt on the SDK (its retry strategy is not under test here, and its
  // throttling backoff is long); the light transport may retry once: the kind
  // of the final error is what must agree.
  const sdkOnce = (endpoint: string) => {
    const client = new DynamoDBClient({
      region: REGION,
      endpoint,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
    opened.push(client);
    return new SdkTransport(client);
  };
  const transports: [string, (endpoint: string) => DynamoDbTransport][] = [
    ['SDK client', sdkOnce],
    ['light transport', (endpoint) => lightAt(endpoint, 10_000, { random: () => 0 })],
  ];
  for (const [label, answer, kind] of cases) {
    it(`${label}: ${kind} on every operation`, async () => {
      server.answerWith(() => answer);
      const found: Record<string, Record<string, string>> = {};
      for (const [name, transportAt] of transports) {
        const store = new DynamoDbStore({
          transport: transportAt(server.endpoint),
          tableName: 'buckets',
          random: () => 0,
        });
        found[name] = {};
        for (const [operation, call] of storeCalls(store)) {
          found[name][operation] = await kindOf(call);
        }
      }
      const expected = { applyWrite: kind, readView: kind, readSlot: kind };
      expect(found).toEqual({ 'SDK client': expected, 'light transport': expected });
    });
  }

  it('a refused connection: unavailable', async () => {
    const closed = await startScriptedDynamo(success);
    const endpoint = closed.endpoint;
    await closed.stop();
    for (const [, transportAt] of transports) {
      const store = new DynamoDbStore({ transport: transportAt(endpoint), tableName: 'buckets' });
      for (const [, call] of storeCalls(store)) expect(await kindOf(call)).toBe('unavailable');
    }
  });

  it('a failed condition: StoreConflictError with the stored item, through either', async () => {
    const old: SlotItem = { ...WRITE.expected, n: 9, v: 7 };
    server.answerWith(() =>
      dynamoError('com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException', 400, {
        Item: encodeItem(BUCKET, old),
      }),
    );
    for (const [name, transportAt] of BOTH) {
      const store = new DynamoDbStore({
        transport: transportAt(server.endpoint, 1000),
        tableName: 'buckets',
      });
      const error = await store.applyWrite(BUCKET, WRITE).catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(StoreConflictError);
      expect((error as StoreConflictError).current, name).toEqual(old);
    }
    // A conflict is an answer, not a failure: one request each, no retry.
    expect(server.requests).toHaveLength(2);
  });

  it('a hung answer: timeout, after the per-attempt request timeout, the request destroyed', async () => {
    server.answerWith(() => ({ hang: true }));
    for (const [name, transportAt] of BOTH) {
      server.requests.length = 0;
      // 50 ms: one attempt (timeoutsForBudget), timed out at 50 ms.
      const store = new DynamoDbStore({
        transport: transportAt(server.endpoint, 50),
        tableName: 'buckets',
      });
      expect(await kindOf(() => store.readSlot(BUCKET, REGION)), name).toBe('timeout');
      expect(server.requests, name).toHaveLength(1);
      await vi.waitFor(() => expect(server.requests[0]?.closedByClient, name).toBe(true), {
        timeout: 5000,
      });
    }
  });

  // The store guard's own signal (CallAbort) and a platform AbortController alike.
  const ABORTS: [string, () => { signal: CallSignal; abort(reason: unknown): void }][] = [
    ['AbortController', () => new AbortController()],
    ['CallAbort', () => new CallAbort()],
  ];

  it('an abort in flight: timeout, the request destroyed, nothing retried', async () => {
    server.answerWith(() => ({ hang: true }));
    for (const [name, transportAt] of BOTH) {
      for (const [signalKind, controllerOf] of ABORTS) {
        const label = `${name}, ${signalKind}`;
        server.requests.length = 0;
        const store = new DynamoDbStore({
          transport: transportAt(server.endpoint, 30_000),
          tableName: 'buckets',
        });
        const controller = controllerOf();
        const pending = kindOf(() =>
          store.applyWrite(BUCKET, WRITE, { abortSignal: controller.signal }),
        );
        await vi.waitFor(() => expect(server.requests).toHaveLength(1), { timeout: 5000 });
        controller.abort(new Error('budget spent'));
        expect(await pending, label).toBe('timeout');
        await vi.waitFor(() => expect(server.requests[0]?.closedByClient, label).toBe(true), {
          timeout: 5000,
        });
        expect(server.requests, label).toHaveLength(1);
      }
    }
  });
});

describe('retries: at most the SDK client’s', () => {
  const cases: [string, ScriptedAnswer, number][] = [
    [
      'throttled',
      dynamoError('com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException'),
      2,
    ],
    ['a 500', dynamoError('com.amazonaws.dynamodb.v20120810#InternalServerError', 500), 2],
    ['a reset', { reset: true }, 2],
    ['a validation error', dynamoError('com.amazon.coral.validate#ValidationException'), 1],
  ];
  for (const [label, answer, lightAttempts] of cases) {
    it(`${label}: ${lightAttempts} attempt(s) with a 150 ms budget, never more than the SDK`, async () => {
      server.answerWith(() => answer);
      const attempts: Record<string, number> = {};
      for (const [name, transportAt] of BOTH) {
        server.requests.length = 0;
        await transportAt(server.endpoint, 150)
          .getItem({ TableName: 'buckets', Key: STORED })
          .catch(() => undefined);
        attempts[name] = server.requests.length;
      }
      expect(attempts['light transport']).toBe(lightAttempts);
      expect(attempts['light transport']).toBeLessThanOrEqual(attempts['SDK client']!);
    });
  }

  it('a throttled first attempt, then an answer: the answer, from the second attempt', async () => {
    server.answerWith((request, index) =>
      index === 0
        ? dynamoError('com.amazonaws.dynamodb.v20120810#ThrottlingException')
        : success(request),
    );
    const store = new DynamoDbStore({
      transport: lightAt(server.endpoint, 150, { random: () => 0.5 }),
      tableName: 'buckets',
    });
    expect(await store.readSlot(BUCKET, REGION)).toEqual(WRITE.expected);
    expect(server.requests).toHaveLength(2);
  });

  it('no second attempt when the budget is under 100 ms', async () => {
    server.answerWith(() => dynamoError('com.amazon.coral.availability#ThrottlingException'));
    const store = new DynamoDbStore({
      transport: lightAt(server.endpoint, 99),
      tableName: 'buckets',
    });
    expect(await kindOf(() => store.readSlot(BUCKET, REGION))).toBe('throttled');
    expect(server.requests).toHaveLength(1);
  });

  it('no retry once the signal fired during the backoff', async () => {
    server.answerWith(() => dynamoError('com.amazon.coral.availability#ThrottlingException'));
    const controller = new AbortController();
    // The jitter at its top (25 ms) and an abort as soon as the first answer is in.
    const transport = lightAt(server.endpoint, 30_000, {
      random: () => {
        controller.abort();
        return 0.999;
      },
    });
    const store = new DynamoDbStore({ transport, tableName: 'buckets' });
    expect(
      await kindOf(() => store.readSlot(BUCKET, REGION, { abortSignal: controller.signal })),
    ).toBe('timeout');
    expect(server.requests).toHaveLength(1);
  });
});

/** The parts of `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`. */
function authorizationOf(request: RecordedRequest) {
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
      String(request.headers.authorization ?? ''),
    );
  if (match === null)
    throw new Error(`not a SigV4 authorization: ${request.headers.authorization}`);
  const [, accessKeyId, , region, service, signedHeaders, signature] = match;
  return { accessKeyId, region, service, signedHeaders: signedHeaders!.split(';'), signature };
}

/**
 * Signs the request as it arrived (its method, path, body and the headers it
 * says it signed) and returns the signature: equal to the one it carries
 * exactly when what was sent is what was signed.
 */
async function signatureOfReceived(
  request: RecordedRequest,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
): Promise<string> {
  const auth = authorizationOf(request);
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) headers[name] = String(request.headers[name] ?? '');
  const date = String(request.headers['x-amz-date']);
  const signingDate = new Date(
    `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
  );
  const signer = new SignatureV4({
    credentials,
    region: auth.region!,
    service: auth.service!,
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: false,
  });
  const [host, port] = String(request.headers.host).split(':');
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: host!,
      ...(port === undefined ? {} : { port: Number(port) }),
      path: request.url,
      query: {},
      headers,
      body: request.body,
    },
    { signingDate },
  );
  return authorizationOf({ ...request, headers: { authorization: signed.headers.authorization } })
    .signature!;
}

describe('what the light transport sends', () => {
  it('the same operations, content type and JSON bodies as the SDK client, for every store call', async () => {
    const sent: Record<string, RecordedRequest[]> = {};
    for (const [name, transportAt] of BOTH) {
      server.requests.length = 0;
      const store = new DynamoDbStore({
        transport: transportAt(server.endpoint, 1000),
        tableName: 'buckets',
      });
      await store.applyWrite(BUCKET, WRITE);
      await store.readView(BUCKET, { consistent: true });
      await store.readSlot(BUCKET, REGION);
      sent[name] = [...server.requests];
    }
    const shape = (r: RecordedRequest) => ({
      method: r.method,
      url: r.url,
      target: r.headers['x-amz-target'],
      contentType: r.headers['content-type'],
      body: JSON.parse(r.body) as unknown,
    });
    const light = sent['light transport']!.map(shape);
    expect(light.map((r) => r.target)).toEqual([
      'DynamoDB_20120810.UpdateItem',
      'DynamoDB_20120810.Query',
      'DynamoDB_20120810.GetItem',
    ]);
    expect(light[0]).toMatchObject({
      method: 'POST',
      url: '/',
      contentType: 'application/x-amz-json-1.0',
    });
    expect(light).toEqual(sent['SDK client']!.map(shape));
  });

  it('signs what it sends (SigV4, service dynamodb, the replica region), as the SDK does', async () => {
    for (const [name, transportAt] of BOTH) {
      server.requests.length = 0;
      await transportAt(server.endpoint, 1000).getItem({ TableName: 'buckets', Key: STORED });
      const request = server.requests[0]!;
      const auth = authorizationOf(request);
      expect(auth, name).toMatchObject({
        accessKeyId: 'local',
        region: REGION,
        service: 'dynamodb',
      });
      expect(auth.signedHeaders, name).toEqual(
        expect.arrayContaining(['host', 'x-amz-date', 'x-amz-target']),
      );
      expect(await signatureOfReceived(request, LOCAL_CREDENTIALS), name).toBe(auth.signature);
    }
  });

  it('a changed byte breaks the signature (the check above can fail)', async () => {
    await lightAt(server.endpoint, 1000).getItem({ TableName: 'buckets', Key: STORED });
    const request = server.requests[0]!;
    const tampered = { ...request, body: request.body.replace('buckets', 'bucketz') };
    expect(await signatureOfReceived(tampered, LOCAL_CREDENTIALS)).not.toBe(
      authorizationOf(request).signature,
    );
  });

  it('reads the Lambda environment’s credentials, session token included', async () => {
    const environment = {
      AWS_ACCESS_KEY_ID: 'ASIAEDGEEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'edge-secret',
      AWS_SESSION_TOKEN: 'edge-session-token',
    };
    const transport = createHttpTransport({
      region: REGION,
      endpoint: server.endpoint,
      environment,
    });
    opened.push(transport);
    await transport.getItem({ TableName: 'buckets', Key: STORED });
    const request = server.requests[0]!;
    expect(request.headers['x-amz-security-token']).toBe('edge-session-token');
    expect(authorizationOf(request).accessKeyId).toBe('ASIAEDGEEXAMPLE');
    expect(authorizationOf(request).signedHeaders).toContain('x-amz-security-token');
    expect(
      await signatureOfReceived(request, {
        accessKeyId: 'ASIAEDGEEXAMPLE',
        secretAccessKey: 'edge-secret',
        sessionToken: 'edge-session-token',
      }),
    ).toBe(authorizationOf(request).signature);
  });

  it('without credentials sends nothing and fails as unavailable, like the SDK’s provider error', async () => {
    const transport = createHttpTransport({
      region: REGION,
      endpoint: server.endpoint,
      environment: {},
    });
    opened.push(transport);
    const store = new DynamoDbStore({ transport, tableName: 'buckets' });
    const error = await store.readSlot(BUCKET, REGION).catch((e: unknown) => e);
    expect((error as StoreError).kind).toBe('unavailable');
    expect(String((error as StoreError).message)).toMatch(/AWS_ACCESS_KEY_ID/);
    expect(server.requests).toHaveLength(0);
  });

  it('talks to the regional endpoint over https when no endpoint is given', () => {
    const transport = createHttpTransport({
      region: 'ap-southeast-2',
      credentials: LOCAL_CREDENTIALS,
    });
    opened.push(transport);
    expect(transport.origin).toBe('https://dynamodb.ap-southeast-2.amazonaws.com');
  });

  it('refuses unusable options, listing every problem', () => {
    let error: unknown;
    try {
      createHttpTransport({
        region: 'Europe',
        endpoint: 'ftp://127.0.0.1/x',
        budgetMs: -1,
        maxSockets: 0,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidTransportOptionsError);
    const problems = (error as InvalidTransportOptionsError).problems;
    expect(problems).toHaveLength(5);
    for (const word of ['region', 'http(s)', 'origin', 'budgetMs', 'maxSockets']) {
      expect(
        problems.some((p) => p.includes(word)),
        word,
      ).toBe(true);
    }
  });

  it('cuts error codes as the SDK does', () => {
    expect(errorCodeOf('com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException')).toBe(
      'ConditionalCheckFailedException',
    );
    expect(errorCodeOf('ThrottlingException:http://internal.amazon.com/coral/x/')).toBe(
      'ThrottlingException',
    );
    expect(errorCodeOf('ValidationException,Other')).toBe('ValidationException');
  });
});

describe('what the light transport reuses from call to call, and what it does not', () => {
  it('dates each signature by the clock, second by second and across a day; each verifies with the SDK signer', async () => {
    const times = [
      Date.parse('2026-12-01T23:59:59.200Z'),
      Date.parse('2026-12-01T23:59:59.900Z'),
      Date.parse('2026-12-02T00:00:00.100Z'),
    ];
    let i = 0;
    const transport = lightAt(server.endpoint, 1000, { now: () => times[i]! });
    for (i = 0; i < times.length; i++) {
      await transport.getItem({ TableName: 'buckets', Key: STORED });
    }
    expect(server.requests.map((r) => r.headers['x-amz-date'])).toEqual([
      '20261201T235959Z',
      '20261201T235959Z',
      '20261202T000000Z',
    ]);
    expect(
      server.requests.map(
        (r) => /Credential=[^/]+\/(\d{8})\//.exec(String(r.headers.authorization))?.[1],
      ),
    ).toEqual(['20261201', '20261201', '20261202']);
    for (const request of server.requests) {
      expect(await signatureOfReceived(request, LOCAL_CREDENTIALS)).toBe(
        authorizationOf(request).signature,
      );
    }
  });

  it('signs with rotated credentials (key, secret, session token) from the next call on', async () => {
    const environment: Record<string, string | undefined> = {
      AWS_ACCESS_KEY_ID: 'ASIAFIRSTEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'first-secret',
      AWS_SESSION_TOKEN: 'first-token',
    };
    const transport = lightAt(server.endpoint, 1000, { credentials: undefined, environment });
    await transport.getItem({ TableName: 'buckets', Key: STORED });
    const rotated = {
      accessKeyId: 'ASIASECONDEXAMPLE',
      secretAccessKey: 'second-secret',
      sessionToken: 'second-token',
    };
    environment.AWS_ACCESS_KEY_ID = rotated.accessKeyId;
    environment.AWS_SECRET_ACCESS_KEY = rotated.secretAccessKey;
    environment.AWS_SESSION_TOKEN = rotated.sessionToken;
    await transport.getItem({ TableName: 'buckets', Key: STORED });
    const [first, second] = server.requests;
    expect(first!.headers['x-amz-security-token']).toBe('first-token');
    expect(second!.headers['x-amz-security-token']).toBe('second-token');
    expect(authorizationOf(second!).accessKeyId).toBe('ASIASECONDEXAMPLE');
    // Signed with the new secret (a signing key kept from the first would not verify).
    expect(await signatureOfReceived(second!, rotated)).toBe(authorizationOf(second!).signature);
    expect(
      await signatureOfReceived(second!, {
        ...rotated,
        secretAccessKey: 'first-secret',
      }),
    ).not.toBe(authorizationOf(second!).signature);
  });

  it.each([
    ['timeout=5', true],
    ['timeout=1', false],
  ] as const)(
    'keeps the connection for the next call as node:http does after Keep-Alive: %s (kept: %s)',
    async (hint, kept) => {
      server.answerWith((request) => ({
        ...success(request),
        headers: { 'keep-alive': hint },
      }));
      const transport = lightAt(server.endpoint, 1000);
      await transport.getItem({ TableName: 'buckets', Key: STORED });
      await transport.getItem({ TableName: 'buckets', Key: STORED });
      const [first, second] = server.requests;
      expect(first!.remotePort === second!.remotePort).toBe(kept);
    },
  );

  it('an error answer still carries the request id of its headers', async () => {
    server.answerWith(() => ({
      ...dynamoError('com.amazonaws.dynamodb.v20120810#ValidationException'),
      headers: { 'x-amzn-requestid': 'REQ-ERROR-1' },
    }));
    const error = await lightAt(server.endpoint, 1000)
      .getItem({ TableName: 'buckets', Key: STORED })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'ValidationException',
      $metadata: { httpStatusCode: 400, requestId: 'REQ-ERROR-1' },
    });
    server.answerWith(() => ({
      status: 502,
      body: '<html>bad gateway</html>',
      headers: { 'x-amzn-requestid': 'REQ-ERROR-2' },
    }));
    const proxied = await lightAt(server.endpoint, 1000)
      .getItem({ TableName: 'buckets', Key: STORED })
      .catch((e: unknown) => e);
    expect(proxied).toBeInstanceOf(SyntaxError);
    expect(proxied).toMatchObject({ $metadata: { httpStatusCode: 502, requestId: 'REQ-ERROR-2' } });
  });
});

/**
 * A DynamoDB stand-in in a worker thread that counts the requests it has
 * received in shared memory, so that this thread can block (a frozen
 * container runs nothing) and still learn whether a request reached it.
 */
async function startCountingWorker(answer: string) {
  const shared = new SharedArrayBuffer(4);
  const counter = new Int32Array(shared);
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const http = require('node:http');
    const counter = new Int32Array(workerData.shared);
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        Atomics.add(counter, 0, 1);
        Atomics.notify(counter, 0);
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(workerData.answer) });
        res.end(workerData.answer);
      });
    });
    server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
    parentPort.on('message', () => { server.closeAllConnections(); server.close(() => process.exit(0)); });
    `,
    { eval: true, workerData: { shared, answer } },
  );
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counter,
    stop: async () => {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.postMessage('stop');
      await exited;
    },
  };
}

describe('a background write at the edge', () => {
  it.each(BOTH)(
    'is on the wire before the container can be frozen (%s)',
    async (_name, transportAt) => {
      const worker = await startCountingWorker(JSON.stringify({ Attributes: STORED }));
      try {
        const transport = transportAt(worker.endpoint, 1000);
        const request = {
          TableName: 'buckets',
          Key: STORED,
          UpdateExpression: 'SET #at = :at',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: { ':at': { N: '1' } },
        };
        // A warm container: its connection to the replica is open and idle.
        await transport.updateItem(request);
        const before = Atomics.load(worker.counter, 0);
        // The handler starts a write it does not wait for, and returns.
        const handler = async () => {
          void transport.updateItem(request).catch(() => undefined);
          return 'answered';
        };
        expect(await handler()).toBe('answered');
        // The runtime sends the answer (one turn of the event loop) and the
        // container is frozen: this thread runs nothing until the wait ends, so
        // only bytes already handed to the socket can reach the server.
        await new Promise((resolve) => setImmediate(resolve));
        Atomics.wait(worker.counter, 0, before, 5000);
        expect(Atomics.load(worker.counter, 0)).toBe(before + 1);
      } finally {
        await worker.stop();
      }
    },
  );
});
