/**
 * Lambda function URL events (payload format 2.0), shaped like the ones AWS
 * delivers: every field present, header names lower-case, duplicate query
 * parameters joined with commas, JSON bodies not base64-encoded.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** Options of {@link functionUrlEvent}. */
export interface EventOptions {
  readonly method?: string;
  readonly path?: string;
  readonly query?: Record<string, string>;
  readonly body?: string;
  readonly base64?: boolean;
  readonly headers?: Record<string, string>;
  readonly stage?: string;
}

/** A function URL event as AWS would deliver it. */
export function functionUrlEvent(options: EventOptions = {}): APIGatewayProxyEventV2 {
  const method = options.method ?? 'GET';
  const path = options.path ?? '/';
  const query = options.query;
  const rawQueryString =
    query === undefined
      ? ''
      : Object.entries(query)
          .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
          .join('&');
  const body =
    options.body === undefined
      ? undefined
      : options.base64 === true
        ? Buffer.from(options.body, 'utf8').toString('base64')
        : options.body;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString,
    headers: {
      'x-amzn-tls-cipher-suite': 'ECDHE-RSA-AES128-GCM-SHA256',
      'x-amzn-tls-version': 'TLSv1.2',
      'x-amzn-trace-id': 'Root=1-5f84c7a9-0e5b1e1e1e1e1e1e1e1e1e1e',
      'x-forwarded-proto': 'https',
      host: 'abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws',
      'x-forwarded-port': '443',
      'x-forwarded-for': '203.0.113.7',
      accept: '*/*',
      'user-agent': 'curl/8.5.0',
      ...(body === undefined
        ? {}
        : {
            'content-type': 'application/json',
            'content-length': String(options.body?.length ?? 0),
          }),
      ...options.headers,
    },
    ...(query === undefined ? {} : { queryStringParameters: query }),
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abcdefghijklmnopqrstuvwxyz012345',
      domainName: 'abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws',
      domainPrefix: 'abcdefghijklmnopqrstuvwxyz012345',
      http: {
        method,
        path,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'curl/8.5.0',
      },
      requestId: '6f5c8c0e-1d1e-4e7b-9a1e-0c9c6f1e2d3a',
      routeKey: '$default',
      stage: options.stage ?? '$default',
      time: '12/Mar/2026:19:03:58 +0000',
      timeEpoch: 1_773_342_238_390,
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: options.base64 === true,
  };
}
