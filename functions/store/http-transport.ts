/**
 * The light transport of the edge (transport.ts): DynamoDB's JSON protocol
 * spoken directly, one `POST /` per operation with
 * `X-Amz-Target: DynamoDB_20120810.<Op>` and
 * `Content-Type: application/x-amz-json-1.0`, SigV4-signed by `aws4`, over a
 * keep-alive `node:https` agent (`node:http` for local endpoints).
 *
 * Why not the SDK at the edge: a viewer trigger has 128 MB, about 128/1769 of
 * a vCPU, and the SDK's pipeline (middleware, endpoint resolution, retry
 * strategy, user agent) costs several times the decision itself, per call
 * and again at module load (docs/performance.md has the figures and how to
 * re-measure them). The store's items are already DynamoDB attribute-value
 * JSON (codec.ts), so nothing needs marshalling: the request body is the
 * request object, the answer is the parsed body.
 *
 * Why `aws4` rather than the SDK's own signer (`@smithy/signature-v4`): it
 * signs synchronously, on node:crypto, at about half the CPU time (measured
 * side by side, docs/performance.md); the tests check its signatures against
 * the SDK's signer (test/store/transports.test.ts).
 *
 * Behaviour, the same as the SDK client's (client.ts) where it matters:
 * - timeouts and attempts from {@link timeoutsForBudget}: a connection
 *   timeout (TCP, and TLS for https) and a request timeout per attempt, each
 *   failing with `name` `TimeoutError`; a second attempt only when the budget
 *   allows it and only after a throttled answer, a 5xx, or a connection reset
 *   (a keep-alive socket the server had closed), never after a timeout;
 * - the abort signal destroys the request in flight (and any backoff) and
 *   rejects with `name` `AbortError`;
 * - DynamoDB's errors are parsed into {@link DynamoDbServiceError} (the
 *   code from `x-amzn-errortype` or `__type`, `message` or `Message`, the
 *   HTTP status, `Item` of a failed condition), which errors.ts maps exactly
 *   like the SDK's exceptions; network errors keep Node's `code`.
 *
 * At the edge the container is frozen as soon as the handler returns, so a
 * write the limiter leaves running in the background must be on the wire by
 * then: the request is signed synchronously and handed to the socket in the
 * same turn of the event loop when a kept-alive socket is free.
 *
 * Credentials: static ones for local endpoints; otherwise the Lambda
 * environment's (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
 * `AWS_SESSION_TOKEN`), read at each call (three reads of the environment
 * cost well under a microsecond): credentials that rotate are used from the
 * next call on, and nothing expired is ever kept.
 *
 * What a call costs, and what is reused between calls (docs/performance.md,
 * "The edge's DynamoDB client"): `aws4` keeps the SigV4 signing key per
 * secret, day, region and service itself (its own cache), so a call hashes
 * the body and the canonical request and signs once; the `X-Amz-Date` string
 * is built once per second (its resolution); the signed headers go to
 * node:http as a flat list (written as they are); the answer is decoded
 * from bytes once; a call is one promise; a kept-alive socket gets no
 * connection-phase listener; and the agent reads the server's `Keep-Alive`
 * hint from the raw headers (node:http's default builds every answer's
 * header object for it). Nothing of one request's content is reused.
 */
import {
  type ClientRequest,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import aws4 from 'aws4';
import type { CallSignal } from './call-signal';
import type { AttributeMap } from './codec';
import { REPLICATED_WRITE_CONFLICT, storeErrorKindOf } from './errors';
import {
  type CallOptions,
  type ClientTimeouts,
  DEFAULT_MAX_SOCKETS,
  DEFAULT_TRANSPORT_BUDGET_MS,
  type DynamoDbTransport,
  type GetItemRequest,
  type GetItemResponse,
  type QueryRequest,
  type QueryResponse,
  type StaticCredentials,
  type TransportFactory,
  type TransportOptions,
  timeoutsForBudget,
  transportCacheKey,
  type UpdateItemRequest,
  type UpdateItemResponse,
} from './transport';

/** The JSON protocol's target prefix (API version 2012-08-10). */
export const DYNAMODB_TARGET_PREFIX = 'DynamoDB_20120810.';
/** The JSON protocol's content type. */
export const DYNAMODB_CONTENT_TYPE = 'application/x-amz-json-1.0';
/** `X-Amz-Target` of each operation the transport sends. */
const TARGETS = {
  GetItem: `${DYNAMODB_TARGET_PREFIX}GetItem`,
  Query: `${DYNAMODB_TARGET_PREFIX}Query`,
  UpdateItem: `${DYNAMODB_TARGET_PREFIX}UpdateItem`,
} as const;
/** Upper bound of the jittered wait before retrying a throttled or 5xx answer (ms). */
export const RETRY_JITTER_MS = 25;

/** Server answers the SDK's standard retry strategy counts as transient. */
const TRANSIENT_STATUS = new Set([500, 502, 503, 504]);
/** A reused keep-alive socket the server had already closed. */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE']);
/**
 * Socket errors the SDK's node handler renames `TimeoutError` (smithy's
 * `NODEJS_TIMEOUT_ERROR_CODES`), so that both transports give them the same kind.
 */
const SOCKET_TIMEOUT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/** Options of {@link createHttpTransport}. */
export interface HttpTransportOptions extends TransportOptions {
  /** Where credentials are read when none are static. @default process.env */
  readonly environment?: Readonly<Record<string, string | undefined>>;
  /** Uniform random in [0, 1) for the retry jitter. @default Math.random */
  readonly random?: () => number;
  /** Wall clock of the signature's date (ms since the epoch). @default Date.now */
  readonly now?: () => number;
}

/** The options of a transport are unusable; lists every problem. */
export class InvalidTransportOptionsError extends Error {
  override readonly name = 'InvalidTransportOptionsError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid DynamoDB transport options:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * An error answer of DynamoDB, shaped like the SDK's service exceptions
 * (`name`, `$fault`, `$metadata.httpStatusCode`, `Item`) so that errors.ts
 * and the store treat both alike.
 */
export class DynamoDbServiceError extends Error {
  override readonly name: string;
  readonly $fault: 'client' | 'server';
  readonly $metadata: { readonly httpStatusCode: number; readonly requestId?: string };
  /** The stored item of a failed condition, when the request asked for it. */
  readonly Item?: AttributeMap;

  constructor(
    code: string,
    message: string,
    details: {
      readonly httpStatusCode: number;
      readonly requestId?: string;
      readonly item?: AttributeMap;
    },
  ) {
    super(message);
    this.name = code;
    this.$fault = details.httpStatusCode >= 500 ? 'server' : 'client';
    this.$metadata = {
      httpStatusCode: details.httpStatusCode,
      ...(details.requestId === undefined ? {} : { requestId: details.requestId }),
    };
    if (details.item !== undefined) this.Item = details.item;
  }
}

/**
 * No credentials: neither static ones nor the Lambda environment's. Named
 * like the SDK's provider error, which errors.ts maps to `unavailable`.
 */
export class MissingCredentialsError extends Error {
  override readonly name = 'CredentialsProviderError';
}

interface Endpoint {
  readonly secure: boolean;
  /** Host name or address for the socket (IPv6 without brackets). */
  readonly hostname: string;
  readonly port: number;
  /** The `host` header, as signed. */
  readonly host: string;
}

/** {@link DynamoDbTransport} over signed HTTP. */
export class HttpTransport implements DynamoDbTransport {
  readonly #endpoint: Endpoint;
  readonly #timeouts: ClientTimeouts;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;
  readonly #region: string;
  readonly #credentials: () => StaticCredentials;
  readonly #random: () => number;
  readonly #now: () => number;
  /** The second (since the epoch) {@link HttpTransport.#dateText} is the SigV4 date of. */
  #dateSecond = Number.NaN;
  #dateText = '';

  /** @throws {@link InvalidTransportOptionsError} listing every problem of `options`. */
  constructor(options: HttpTransportOptions) {
    const problems: string[] = [];
    const endpoint = endpointOf(options, problems);
    const budgetMs = options.budgetMs ?? DEFAULT_TRANSPORT_BUDGET_MS;
    if (!(Number.isFinite(budgetMs) && budgetMs > 0)) {
      problems.push(`budgetMs must be a positive number of milliseconds (got ${budgetMs})`);
    }
    const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
    if (!(Number.isSafeInteger(maxSockets) && maxSockets > 0)) {
      problems.push(`maxSockets must be a positive integer (got ${maxSockets})`);
    }
    if (endpoint === undefined || problems.length > 0) {
      throw new InvalidTransportOptionsError(problems);
    }
    this.#endpoint = endpoint;
    this.#timeouts = timeoutsForBudget(budgetMs);
    const agentOptions = { keepAlive: true, keepAliveMsecs: KEEP_ALIVE_MSECS, maxSockets };
    this.#agent = endpoint.secure ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.#agent.keepSocketAlive = keepSocketAlive;
    this.#request = endpoint.secure ? (httpsRequest as typeof httpRequest) : httpRequest;
    this.#region = options.region;
    const staticCredentials = options.credentials;
    const environment = options.environment ?? process.env;
    this.#credentials =
      staticCredentials === undefined
        ? () => credentialsFromEnvironment(environment)
        : () => staticCredentials;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
  }

  /** Where requests go: `scheme://host[:port]`. */
  get origin(): string {
    return `${this.#endpoint.secure ? 'https' : 'http'}://${this.#endpoint.host}`;
  }

  getItem(request: GetItemRequest, options: CallOptions = {}): Promise<GetItemResponse> {
    return this.#call(TARGETS.GetItem, request, options.abortSignal) as Promise<GetItemResponse>;
  }

  query(request: QueryRequest, options: CallOptions = {}): Promise<QueryResponse> {
    return this.#call(TARGETS.Query, request, options.abortSignal) as Promise<QueryResponse>;
  }

  updateItem(request: UpdateItemRequest, options: CallOptions = {}): Promise<UpdateItemResponse> {
    return this.#call(
      TARGETS.UpdateItem,
      request,
      options.abortSignal,
    ) as Promise<UpdateItemResponse>;
  }

  /** Closes the kept-alive sockets (tests and local runs; a container never does). */
  destroy(): void {
    this.#agent.destroy();
  }

  #call(target: string, request: object, signal: CallSignal | undefined): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // Inside the executor: a throw (JSON, credentials, signing) rejects the call.
      const body = JSON.stringify(request);
      this.#attempt(target, body, signal, 1, resolve, reject);
    });
  }

  /**
   * One attempt, settling the call, or the next attempt when its failure
   * allows a retry. Callbacks rather than a promise per attempt: one promise
   * per call.
   */
  #attempt(
    target: string,
    body: string,
    signal: CallSignal | undefined,
    attempt: number,
    resolve: (answer: unknown) => void,
    reject: (error: unknown) => void,
  ): void {
    if (signal?.aborted === true) {
      reject(abortErrorOf(signal));
      return;
    }
    let headers: string[];
    try {
      headers = this.#signedHeaders(target, body);
    } catch (error) {
      reject(error);
      return;
    }
    // Signed in this tick, written in this tick when a kept-alive socket is free.
    this.#send(headers, body, signal, resolve, (error) => {
      const delayMs = retryDelayOf(error, this.#random);
      if (delayMs === undefined || attempt >= this.#timeouts.maxAttempts) {
        reject(error);
        return;
      }
      const next = () => this.#attempt(target, body, signal, attempt + 1, resolve, reject);
      if (delayMs > 0) pause(delayMs, signal).then(next, reject);
      else next();
    });
  }

  /**
   * The headers of one attempt, SigV4-signed (synchronously: aws4 hashes with
   * node:crypto), as the flat `[name, value, ...]` list node:http writes as
   * it is (the same bytes as a header object, without its per-header copy).
   * aws4 caches the signing key per secret, day, region and service itself;
   * the credentials are read at every call, so a rotated set is used at once.
   */
  #signedHeaders(target: string, body: string): string[] {
    const signed = aws4.sign(
      {
        method: 'POST',
        path: '/',
        service: 'dynamodb',
        region: this.#region,
        headers: {
          Host: this.#endpoint.host,
          'Content-Type': DYNAMODB_CONTENT_TYPE,
          'X-Amz-Target': target,
          'X-Amz-Date': this.#amzDate(),
        },
        body,
      },
      this.#credentials(),
    );
    // aws4 adds Content-Length (signed), X-Amz-Security-Token and Authorization.
    const headers = signed.headers as Record<string, string | number>;
    const flat: string[] = [];
    for (const name in headers) flat.push(name, String(headers[name]));
    return flat;
  }

  /** The SigV4 date of now: built once per second (its resolution), not per call. */
  #amzDate(): string {
    const ms = this.#now();
    const second = Math.floor(ms / 1000);
    if (second !== this.#dateSecond) {
      this.#dateSecond = second;
      this.#dateText = amzDate(ms);
    }
    return this.#dateText;
  }

  /** Sends one attempt; exactly one of `resolve` and `reject` is called, once. */
  #send(
    headers: string[],
    body: string,
    signal: CallSignal | undefined,
    resolve: (answer: unknown) => void,
    reject: (error: unknown) => void,
  ): void {
    const { connectionTimeoutMs, requestTimeoutMs } = this.#timeouts;
    const secure = this.#endpoint.secure;
    const requestOptions: RequestOptions = {
      agent: this.#agent,
      host: this.#endpoint.hostname,
      port: this.#endpoint.port,
      method: 'POST',
      path: '/',
      headers,
    };
    let settled = false;
    let connectTimer: NodeJS.Timeout | undefined;
    let req: ClientRequest | undefined;
    const finish = () => {
      settled = true;
      clearTimeout(requestTimer);
      if (connectTimer !== undefined) clearTimeout(connectTimer);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error) => {
      if (settled) return;
      finish();
      req?.destroy();
      reject(error);
    };
    const onAbort = () => fail(abortErrorOf(signal));
    // Like the SDK's handler: the request timeout runs from the start of the attempt.
    const requestTimer = setTimeout(
      () => fail(timeoutError(`no answer within ${requestTimeoutMs} ms`, 'ETIMEDOUT')),
      requestTimeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      req = this.#request(requestOptions, (res) => {
        recordKeepAliveHint(res);
        // Bytes, decoded once at the end (an answer is almost always one chunk).
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
        });
        res.on('end', () => {
          if (settled) return;
          finish();
          const text =
            chunks.length === 1
              ? chunks[0]!.toString('utf8')
              : Buffer.concat(chunks).toString('utf8');
          try {
            resolve(answerOf(res, text));
          } catch (error) {
            reject(error);
          }
        });
        res.on('error', fail);
        res.on('close', () => {
          if (!res.complete) fail(connectionReset('the connection closed during the answer'));
        });
      });
      // A kept-alive socket (taken synchronously from the agent) is connected: no connection phase.
      if (req.reusedSocket !== true)
        req.on('socket', (socket: Socket) => {
          if (!socket.connecting) return;
          connectTimer = setTimeout(
            () => fail(timeoutError(`no connection within ${connectionTimeoutMs} ms`, 'ETIMEDOUT')),
            connectionTimeoutMs,
          );
          socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
        });
      req.on('error', (error: NodeJS.ErrnoException) => {
        fail(
          typeof error.code === 'string' && SOCKET_TIMEOUT_CODES.has(error.code)
            ? Object.assign(error, { name: 'TimeoutError' })
            : error,
        );
      });
      req.end(body);
    } catch (error) {
      // A request node:http refuses outright (never on the wire).
      fail(error as Error);
    }
  }
}

const transports = new Map<string, HttpTransport>();

/**
 * The container's light transport of a replica; the same instance for the
 * same options. Never destroyed: it lives as long as the container.
 */
export const httpTransport: TransportFactory = (options) => {
  const cacheKey = transportCacheKey(options);
  const cached = transports.get(cacheKey);
  if (cached !== undefined) return cached;
  const transport = createHttpTransport(options);
  transports.set(cacheKey, transport);
  return transport;
};

/** A new light transport (tests and benchmarks that need their own; handlers use {@link httpTransport}). */
export function createHttpTransport(options: HttpTransportOptions): HttpTransport {
  return new HttpTransport(options);
}

/**
 * The answer of a 2xx response, or the {@link DynamoDbServiceError} of any other.
 * The response's headers are read only for an error (node:http builds their
 * object on first access).
 */
function answerOf(res: IncomingMessage, text: string): unknown {
  const status = res.statusCode ?? 0;
  let parsed: unknown = {};
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      // Not DynamoDB's JSON (a proxy's page): the SDK fails the same way, a
      // SyntaxError carrying the status, whatever the status.
      throw Object.assign(
        new SyntaxError(`HTTP ${status} with a body that is not JSON`, { cause }),
        {
          $metadata: { httpStatusCode: status, ...requestIdOf(res) },
        },
      );
    }
  }
  if (status >= 200 && status < 300) return parsed;
  const fields =
    typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const rawCode = res.headers['x-amzn-errortype'] ?? fields.code ?? fields.__type;
  const code = typeof rawCode === 'string' ? errorCodeOf(rawCode) : '';
  const message = fields.message ?? fields.Message;
  const item = fields.Item;
  throw new DynamoDbServiceError(
    code.length > 0 ? code : 'Unknown',
    typeof message === 'string' ? message : `HTTP ${status}`,
    {
      httpStatusCode: status,
      ...requestIdOf(res),
      ...(typeof item === 'object' && item !== null ? { item: item as AttributeMap } : {}),
    },
  );
}

function requestIdOf(res: IncomingMessage): { requestId?: string } {
  const id = res.headers['x-amzn-requestid'];
  return typeof id === 'string' ? { requestId: id } : {};
}

/**
 * DynamoDB's error code from a raw type: `com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException`
 * or `ThrottlingException:http://internal...`, cut as the SDK cuts it.
 */
export function errorCodeOf(raw: string): string {
  let code = raw;
  if (code.includes(',')) code = code.split(',')[0] ?? '';
  if (code.includes(':')) code = code.split(':')[0] ?? '';
  if (code.includes('#')) code = code.split('#')[1] ?? '';
  return code.trim();
}

/** How long to wait before the second attempt after `error`; undefined: no second attempt. */
function retryDelayOf(error: unknown, random: () => number): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  // A reset is a stale socket: a new one can go at once.
  if (typeof code === 'string' && RESET_CODES.has(code)) return 0;
  if (!(error instanceof DynamoDbServiceError)) return undefined;
  // Strong mode's write conflicts are the store's to retry, with its own backoff.
  if (error.name === REPLICATED_WRITE_CONFLICT) return undefined;
  if (
    storeErrorKindOf(error) === 'throttled' ||
    TRANSIENT_STATUS.has(error.$metadata.httpStatusCode)
  ) {
    return Math.floor(random() * RETRY_JITTER_MS);
  }
  return undefined;
}

function pause(delayMs: number, signal: CallSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(abortErrorOf(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortErrorOf(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** TCP keep-alive probe delay of the agent's sockets (node:http's default, set explicitly for {@link keepSocketAlive}). */
const KEEP_ALIVE_MSECS = 1000;
/** node:http's margin under a server's `Keep-Alive: timeout=<s>` hint (its `HTTP_AGENT_KEEP_ALIVE_TIMEOUT_BUFFER`). */
const KEEP_ALIVE_HINT_MARGIN_MS = 1000;
/** The `Keep-Alive` header of each socket's last answer, when it had one. */
const keepAliveHints = new WeakMap<Socket, string>();

/** Notes the answer's `Keep-Alive` header for {@link keepSocketAlive}, from the raw headers. */
function recordKeepAliveHint(res: IncomingMessage): void {
  const raw = res.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && name.toLowerCase() === 'keep-alive') {
      keepAliveHints.set(res.socket, raw[i + 1]!);
      return;
    }
  }
}

/**
 * node:http's `Agent#keepSocketAlive` for an agent without a `timeout`
 * option (the same steps and the same rule for the server's hint), reading
 * the hint noted from the raw headers: the default reads it from
 * `res.headers`, which builds the header object of every answer for that one
 * header. A hint that leaves no margin (`timeout=1`) closes the socket
 * instead of keeping it.
 */
function keepSocketAlive(socket: Socket): boolean {
  socket.setKeepAlive(true, KEEP_ALIVE_MSECS);
  socket.unref();
  const hint = keepAliveHints.get(socket);
  keepAliveHints.delete(socket);
  const seconds = hint === undefined ? undefined : /^timeout=(\d+)/.exec(hint)?.[1];
  const keep =
    seconds === undefined || Number.parseInt(seconds, 10) * 1000 - KEEP_ALIVE_HINT_MARGIN_MS > 0;
  if (socket.timeout !== 0) socket.setTimeout(0);
  return keep;
}

function endpointOf(options: TransportOptions, problems: string[]): Endpoint | undefined {
  const region = options.region;
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
    problems.push(`region must be an AWS region name such as eu-west-1 (got "${region}")`);
  }
  if (options.endpoint === undefined) {
    const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
    const hostname = `dynamodb.${region}.${suffix}`;
    return { secure: true, hostname, port: 443, host: hostname };
  }
  let url: URL;
  try {
    url = new URL(options.endpoint);
  } catch {
    problems.push(`endpoint is not a URL: ${options.endpoint}`);
    return undefined;
  }
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') {
    problems.push(`endpoint must be http(s): ${options.endpoint}`);
  }
  if (url.pathname !== '/' || url.search !== '' || url.username !== '') {
    problems.push(`endpoint must be an origin (scheme, host, port) only: ${options.endpoint}`);
  }
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  return { secure, hostname, port, host: url.host };
}

function credentialsFromEnvironment(
  environment: Readonly<Record<string, string | undefined>>,
): StaticCredentials {
  const accessKeyId = environment.AWS_ACCESS_KEY_ID;
  const secretAccessKey = environment.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new MissingCredentialsError(
      'no DynamoDB credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set',
    );
  }
  const sessionToken = environment.AWS_SESSION_TOKEN;
  return sessionToken
    ? { accessKeyId, secretAccessKey, sessionToken }
    : { accessKeyId, secretAccessKey };
}

/** `YYYYMMDDTHHMMSSZ`, the SigV4 date of `ms`. */
function amzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[:-]|\.\d{3}/g, '');
}

function abortErrorOf(signal: CallSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  const error = new Error('Request aborted', reason instanceof Error ? { cause: reason } : {});
  error.name = 'AbortError';
  return error;
}

function timeoutError(message: string, code: string): Error {
  return Object.assign(new Error(`DynamoDB request timed out: ${message}`), {
    name: 'TimeoutError',
    code,
  });
}

function connectionReset(message: string): Error {
  return Object.assign(new Error(message), { code: 'ECONNRESET' });
}
