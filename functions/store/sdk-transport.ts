/**
 * The transport port (transport.ts) on the AWS SDK's DynamoDB client
 * (client.ts): what the regional functions use, and the reference the light
 * edge transport is compared with. Each call is one `client.send` with the
 * caller's abort signal; the SDK's retries, timeouts and error classes are
 * the client's.
 */
import {
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { withAbortSignal } from './call-signal';
import { dynamoDbClient } from './client';
import type {
  CallOptions,
  DynamoDbTransport,
  GetItemRequest,
  GetItemResponse,
  QueryRequest,
  QueryResponse,
  TransportFactory,
  UpdateItemRequest,
  UpdateItemResponse,
} from './transport';

/** {@link DynamoDbTransport} on an SDK client. */
export class SdkTransport implements DynamoDbTransport {
  constructor(readonly client: DynamoDBClient) {}

  getItem(request: GetItemRequest, options: CallOptions = {}): Promise<GetItemResponse> {
    return withAbortSignal(options.abortSignal, (abortSignal) =>
      this.client.send(new GetItemCommand(request), { abortSignal }),
    );
  }

  query(request: QueryRequest, options: CallOptions = {}): Promise<QueryResponse> {
    return withAbortSignal(options.abortSignal, (abortSignal) =>
      this.client.send(new QueryCommand(request), { abortSignal }),
    );
  }

  updateItem(request: UpdateItemRequest, options: CallOptions = {}): Promise<UpdateItemResponse> {
    return withAbortSignal(options.abortSignal, (abortSignal) =>
      this.client.send(new UpdateItemCommand(request), { abortSignal }),
    );
  }
}

/** The container's SDK transport of a replica, on its shared client (client.ts). */
export const sdkTransport: TransportFactory = (options) =>
  new SdkTransport(dynamoDbClient(options));
