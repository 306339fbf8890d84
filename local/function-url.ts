/**
 * Lambda function URLs as the regional API sees them: an HTTP request becomes
 * a payload-format-2.0 event, and the handler's result becomes the HTTP
 * answer with the function URL rules (a result without `statusCode` is a 200
 * JSON body; binary bodies arrive base64-encoded). The local API runs the
 * regional handler through exactly these shapes.
 */

import type http from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** Content types whose bodies a function URL passes as text (others are base64). */
const TEXTUAL =
  /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)|[^;]*\+(json|xml))/i;

/** The function URL the local API pretends to be in `region`. */
export function functionUrlDomain(region: string): string {
  return `local0api.lambda-url.${region}.on.aws`;
}

/** A payload-format-2.0 event for a request and its whole body. */
export function functionUrlEvent(
  req: http.IncomingMessage,
  body: Buffer,
  sourceIp: string,
  region: string,
  requestId: string,
  nowMs: number,
): APIGatewayProxyEventV2 {
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const rawQueryString = q < 0 ? '' : target.slice(q + 1);
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] as string).toLowerCase();
    const value = req.rawHeaders[i + 1] as string;
    if (name === 'cookie') {
      cookies.push(
        ...value
          .split(';')
          .map((c) => c.trim())
          .filter((c) => c !== ''),
      );
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(rawQueryString)) {
    query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  }
  const contentType = headers['content-type'] ?? '';
  const textual = body.length === 0 || TEXTUAL.test(contentType);
  const domainName = functionUrlDomain(region);
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: domainName.split('.')[0] as string,
      domainName,
      domainPrefix: domainName.split('.')[0] as string,
      http: {
        method: req.method ?? 'GET',
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: '$default',
      stage: '$default',
      time: clfTime(nowMs),
      timeEpoch: nowMs,
    },
    ...(body.length > 0 ? { body: body.toString(textual ? 'utf8' : 'base64') } : {}),
    isBase64Encoded: !textual,
  };
}

/** The HTTP answer of a function URL handler's result. */
export interface FunctionUrlAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

/**
 * Applies the function URL response rules: a structured result (with
 * `statusCode`) is used as is; any other value is serialised as a 200 JSON body.
 */
export function functionUrlAnswer(result: unknown): FunctionUrlAnswer {
  if (result !== null && typeof result === 'object' && 'statusCode' in result) {
    const r = result as APIGatewayProxyStructuredResultV2;
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = String(v);
    if (r.cookies !== undefined && r.cookies.length > 0) headers['set-cookie'] = r.cookies;
    const body =
      r.body === undefined
        ? Buffer.alloc(0)
        : Buffer.from(r.body, r.isBase64Encoded === true ? 'base64' : 'utf8');
    return { status: r.statusCode ?? 200, headers, body };
  }
  const text = typeof result === 'string' ? result : JSON.stringify(result ?? null);
  return { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(text) };
}

function clfTime(nowMs: number): string {
  // Function URLs use the common log format: 12/Mar/2020:19:03:58 +0000.
  const d = new Date(nowMs);
  const months = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(
    d.getUTCHours(),
  )}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}
