import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOOR_NAMES, floorTransport, responseFrameOf } from '../../bench/edge-client-floors';
import { DynamoDbServiceError } from '../../functions/store/http-transport';

const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('responseFrameOf', () => {
  const answer =
    'HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 7\r\n\r\n{"a":1}';

  it('frames a complete answer by its Content-Length', () => {
    expect(responseFrameOf(bytes(answer))).toEqual({
      status: 200,
      bodyStart: answer.length - 7,
      bodyLength: 7,
    });
  });

  it('waits for the rest of a head or a body cut anywhere', () => {
    for (let cut = 0; cut < answer.length; cut++) {
      expect(responseFrameOf(bytes(answer.slice(0, cut)))).toBeUndefined();
    }
  });

  it('refuses what it cannot frame rather than guess', () => {
    expect(() => responseFrameOf(bytes('garbage\r\n\r\n'))).toThrow(/status line/);
    expect(() =>
      responseFrameOf(bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n')),
    ).toThrow(/chunked/);
    expect(() => responseFrameOf(bytes('HTTP/1.1 200 OK\r\nX: y\r\n\r\n'))).toThrow(
      /Content-Length/,
    );
  });
});

describe('floorTransport', () => {
  let server: Server;
  let endpoint: string;
  const seen: { target: string | undefined; authorization: string | undefined; body: string }[] =
    [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => {
        const target = req.headers['x-amz-target'] as string | undefined;
        seen.push({ target, authorization: req.headers.authorization, body });
        const failing = target?.endsWith('.UpdateItem') === true;
        const answer = failing
          ? JSON.stringify({
              __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
              message: 'The conditional request failed',
            })
          : JSON.stringify({ Item: { pk: { S: 'k' } } });
        // As DynamoDB answers: a Content-Length body.
        res.writeHead(failing ? 400 : 200, {
          'content-type': 'application/x-amz-json-1.0',
          'content-length': Buffer.byteLength(answer),
        });
        res.end(answer);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  for (const name of FLOOR_NAMES) {
    it(`${name}: sends the JSON protocol's request, parses the answer and DynamoDB's errors`, async () => {
      const floor = floorTransport(name, endpoint);
      try {
        seen.length = 0;
        const request = { TableName: 't', Key: { pk: { S: 'k' } } };
        // Twice: the second call goes over the kept-alive connection.
        for (let i = 0; i < 2; i++) {
          await expect(floor.transport.getItem(request)).resolves.toEqual({
            Item: { pk: { S: 'k' } },
          });
        }
        const failed = floor.transport.updateItem({
          TableName: 't',
          Key: { pk: { S: 'k' } },
          UpdateExpression: 'SET #a = :a',
        });
        await expect(failed).rejects.toBeInstanceOf(DynamoDbServiceError);
        await expect(failed).rejects.toMatchObject({
          name: 'ConditionalCheckFailedException',
          $metadata: { httpStatusCode: 400 },
        });
        expect(seen.map((s) => s.target)).toEqual([
          'DynamoDB_20120810.GetItem',
          'DynamoDB_20120810.GetItem',
          'DynamoDB_20120810.UpdateItem',
        ]);
        expect(JSON.parse(seen[0]!.body)).toEqual(request);
        expect(seen[0]!.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=/);
      } finally {
        floor.close();
      }
    });
  }

  it('wants a plain http endpoint', () => {
    expect(() => floorTransport('socket-unsigned', 'https://127.0.0.1:1')).toThrow(/http endpoint/);
  });
});
