/**
 * The DynamoDB adapter of {@link BucketStore}: the only code that turns slot
 * reads and writes into DynamoDB operations, sent through a transport
 * (transport.ts: the SDK client for the regional functions, a light signed
 * HTTP client at the edge). It reads a bucket's slots with one Query, one slot
 * with GetItem, and applies a decision as ONE conditional UpdateItem
 * (docs/design.md, "The conditional write"):
 *
 *     ADD n :k, v :one
 *     SET ct = :ct, cl = :cl, cv = :cv, at = :at, ttl = :ttl, inc = if_not_exists(inc, :at)
 *     IF attribute_not_exists(n) OR n <= :max
 *
 * The condition is what makes concurrent containers of one region safe
 * without a read-modify-write loop; `ADD` keeps their increments. A failed
 * condition becomes a {@link StoreConflictError} carrying the stored item
 * when DynamoDB returned it (`ReturnValuesOnConditionCheckFailure`; emulators
 * may not, then the caller re-reads). Every other error becomes a
 * {@link StoreError} of one kind (errors.ts). MRSC write conflicts (strong
 * mode) are retried here with jittered backoff, within the caller's signal.
 *
 * Escrow items (docs/escrow.md; layout and write in escrow-codec.ts) live in
 * the same partition under `e#<region>` sort keys: read with one Query on
 * those keys, written with one UpdateItem conditioned on the previous version.
 */
import {
  applyTakeWrite,
  type EscrowItem,
  type SlotItem,
  type SlotWrite,
  type TakeWrite,
} from '../core';
import type { CallSignal } from './call-signal';
import {
  ATTR,
  type AttributeMap,
  CodecError,
  decodeItem,
  encodeNumber,
  encodeSeenCounts,
} from './codec';
import {
  CONDITIONAL_CHECK_FAILED,
  REPLICATED_WRITE_CONFLICT,
  storeCall,
  toStoreError,
} from './errors';
import {
  decodeEscrowAsk,
  decodeEscrowItem,
  ESCROW_ASKS_PK,
  ESCROW_ATTR,
  ESCROW_SORT_KEY_PREFIX,
  escrowAskInputOf,
  escrowUpdateInputOf,
} from './escrow-codec';
import type { DynamoDbTransport, UpdateItemRequest } from './transport';

import {
  type BucketStore,
  type EscrowAsk,
  EscrowConflictError,
  type EscrowWriteOptions,
  type ReadOptions,
  StoreConflictError,
  StoreError,
  type TakeResult,
} from './types';

/** An ask written without an expiry lives this long (s). */
const DEFAULT_ASK_TTL_S = 600;

/** Default most slot items one bucket may have before a read is refused. */
export const DEFAULT_MAX_SLOTS_PER_BUCKET = 64;

/** How a {@link DynamoDbStore} is built. */
export interface DynamoDbStoreOptions {
  /** The container's transport of the replica (sdk-transport.ts or http-transport.ts). */
  readonly transport: DynamoDbTransport;
  /** The table (global table replica, or the MRSC table). */
  readonly tableName: string;
  /**
   * Most slot items per bucket. A view is refused beyond it rather than cut:
   * a partial view would drop other slots' consumption and over-admit.
   * @default 64
   */
  readonly maxSlotsPerBucket?: number;
  /** Told about items that could not be decoded (they are skipped). */
  readonly onDecodeError?: (error: CodecError, bucketId: string) => void;
  /** Retries of a `ReplicatedWriteConflictException` (strong mode). @default 2 */
  readonly replicatedConflictRetries?: number;
  /** Base of the jittered backoff between those retries (ms). @default 10 */
  readonly replicatedConflictBackoffMs?: number;
  /** Uniform random in [0, 1) for the jitter. @default Math.random */
  readonly random?: () => number;
}

/** The key {@link DynamoDbStore.warm} reads: no bucket id or slot has this form. */
export const WARM_KEY = '#connection';

/** {@link BucketStore} on one DynamoDB table. */
export class DynamoDbStore implements BucketStore {
  readonly #transport: DynamoDbTransport;
  readonly #table: string;
  readonly #maxSlots: number;
  readonly #onDecodeError: (error: CodecError, bucketId: string) => void;
  readonly #conflictRetries: number;
  readonly #backoffMs: number;
  readonly #random: () => number;
  /** The connection-opening reads under way ({@link DynamoDbStore.warm}). */
  #warming: Promise<void> | undefined;

  constructor(options: DynamoDbStoreOptions) {
    this.#transport = options.transport;
    this.#table = options.tableName;
    this.#maxSlots = options.maxSlotsPerBucket ?? DEFAULT_MAX_SLOTS_PER_BUCKET;
    this.#onDecodeError = options.onDecodeError ?? (() => undefined);
    this.#conflictRetries = options.replicatedConflictRetries ?? 2;
    this.#backoffMs = options.replicatedConflictBackoffMs ?? 10;
    this.#random = options.random ?? Math.random;
  }

  /**
   * Opens the connections to the replica before the first decision needs
   * them: two eventually consistent GetItems of a key no bucket has (half a
   * read unit each), side by side, whose kept-alive connections the next
   * calls reuse; two, because a take sends its read and its write side by
   * side. Calls made meanwhile do not wait for them (they open connections
   * of their own, as without a warm-up); the transport's own timeouts bound
   * them. Never rejects.
   */
  warm(): Promise<void> {
    if (this.#warming === undefined) {
      const read = () =>
        this.#transport.getItem({
          TableName: this.#table,
          Key: { [ATTR.pk]: { S: WARM_KEY }, [ATTR.sk]: { S: WARM_KEY } },
        });
      const warming = Promise.allSettled([read(), read()]).then(() => undefined);
      this.#warming = warming;
      warming.then(() => {
        if (this.#warming === warming) this.#warming = undefined;
      });
    }
    return this.#warming;
  }

  async readView(bucketId: string, options: ReadOptions = {}): Promise<SlotItem[]> {
    return this.#queryBucket('readView', bucketId, 'slot', options, {
      condition: '#pk = :pk',
      names: { '#pk': ATTR.pk },
      values: { ':pk': { S: bucketId } },
      decode: (raw) => this.#decode(raw, bucketId),
    });
  }

  async readSlot(
    bucketId: string,
    slot: string,
    options: ReadOptions = {},
  ): Promise<SlotItem | undefined> {
    const out = await storeCall('readSlot', options.abortSignal, () =>
      this.#transport.getItem(
        {
          TableName: this.#table,
          Key: { [ATTR.pk]: { S: bucketId }, [ATTR.sk]: { S: slot } },
          ConsistentRead: options.consistent === true,
        },
        { abortSignal: options.abortSignal },
      ),
    );
    return out.Item === undefined ? undefined : this.#decode(out.Item, bucketId);
  }

  async applyWrite(
    bucketId: string,
    write: SlotWrite,
    options: { readonly abortSignal?: CallSignal } = {},
  ): Promise<SlotItem> {
    if (options.abortSignal?.aborted === true) {
      throw new StoreError('applyWrite not started: the time budget is spent', 'timeout', {
        cause: options.abortSignal.reason,
      });
    }
    const input = updateInputOf(this.#table, bucketId, write);
    for (let attempt = 0; ; attempt += 1) {
      try {
        const out = await this.#transport.updateItem(input, {
          abortSignal: options.abortSignal,
        });
        if (out.Attributes === undefined) {
          throw new StoreError(
            'UpdateItem returned no attributes despite ReturnValues ALL_NEW',
            'invalid',
          );
        }
        return decodeItem(out.Attributes);
      } catch (error) {
        // The SDK's ConditionalCheckFailedException and the light transport's error alike.
        if (nameOf(error) === CONDITIONAL_CHECK_FAILED) {
          throw new StoreConflictError(this.#currentOf(error, bucketId), { cause: error });
        }
        if (error instanceof CodecError) {
          throw new StoreError(`applyWrite on ${bucketId}: stored item is malformed`, 'invalid', {
            cause: error,
          });
        }
        if (nameOf(error) === REPLICATED_WRITE_CONFLICT && attempt < this.#conflictRetries) {
          await this.#backoff(attempt, options.abortSignal);
          continue;
        }
        throw toStoreError(error, 'applyWrite');
      }
    }
  }

  async applyTake(
    bucketId: string,
    take: TakeWrite,
    options: { readonly abortSignal?: CallSignal } = {},
  ): Promise<TakeResult> {
    if (options.abortSignal?.aborted === true) {
      throw new StoreError('applyTake not started: the time budget is spent', 'timeout', {
        cause: options.abortSignal.reason,
      });
    }
    try {
      const out = await this.#transport.updateItem(takeInputOf(this.#table, bucketId, take), {
        abortSignal: options.abortSignal,
      });
      const before = out.Attributes === undefined ? undefined : decodeItem(out.Attributes);
      const after = applyTakeWrite(before, take);
      if (after === undefined) {
        // The store applied it: its expiry condition held. Only a malformed answer gets here.
        throw new StoreError(
          `applyTake on ${bucketId}: the old item contradicts the condition`,
          'invalid',
        );
      }
      return { before, after };
    } catch (error) {
      if (nameOf(error) === CONDITIONAL_CHECK_FAILED) {
        throw new StoreConflictError(this.#currentOf(error, bucketId), { cause: error });
      }
      if (error instanceof CodecError) {
        throw new StoreError(`applyTake on ${bucketId}: stored item is malformed`, 'invalid', {
          cause: error,
        });
      }
      throw toStoreError(error, 'applyTake');
    }
  }

  /**
   * One Query on the bucket's partition, restricted to the escrow sort keys
   * (`begins_with(sk, "e#")`), so the bucket's slot items are neither read
   * nor paid for. Bounded like {@link DynamoDbStore.readView}: one item per
   * region, so more than `maxSlotsPerBucket` is refused rather than cut (a
   * partial view would miss transfers and other regions' demand).
   */
  async readEscrow(bucketId: string, options: ReadOptions = {}): Promise<EscrowItem[]> {
    return this.#queryBucket('readEscrow', bucketId, 'escrow', options, {
      condition: '#pk = :pk AND begins_with(#sk, :prefix)',
      names: { '#pk': ESCROW_ATTR.pk, '#sk': ESCROW_ATTR.sk },
      values: { ':pk': { S: bucketId }, ':prefix': { S: ESCROW_SORT_KEY_PREFIX } },
      decode: (raw) => this.#decodeEscrow(raw, bucketId),
    });
  }

  /**
   * Every item of a bucket's partition the key condition selects, page by
   * page, decoded (undecodable ones skipped and reported), refusing more
   * than `maxSlotsPerBucket` items rather than returning a partial view.
   */
  async #queryBucket<T>(
    operation: string,
    bucketId: string,
    kind: 'slot' | 'escrow',
    options: ReadOptions,
    query: {
      readonly condition: string;
      readonly names: Readonly<Record<string, string>>;
      readonly values: AttributeMap;
      readonly decode: (raw: AttributeMap) => T | undefined;
    },
  ): Promise<T[]> {
    const items: T[] = [];
    let startKey: AttributeMap | undefined;
    let seen = 0;
    do {
      const page = await storeCall(operation, options.abortSignal, () =>
        this.#transport.query(
          {
            TableName: this.#table,
            KeyConditionExpression: query.condition,
            ExpressionAttributeNames: query.names,
            ExpressionAttributeValues: query.values,
            ConsistentRead: options.consistent === true,
            // One more than the bound, to tell "exactly at the bound" from "over it".
            Limit: this.#maxSlots + 1,
            ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
          },
          { abortSignal: options.abortSignal },
        ),
      );
      for (const raw of page.Items ?? []) {
        seen += 1;
        const item = query.decode(raw);
        if (item !== undefined) items.push(item);
      }
      if (seen > this.#maxSlots) {
        throw new StoreError(
          `bucket ${bucketId} has more than ${this.#maxSlots} ${kind} items; refusing a partial view`,
          'invalid',
        );
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return items;
  }

  /**
   * ONE conditional UpdateItem replacing the region's item when the stored
   * version is `item.v - 1` (escrow-codec.ts, {@link escrowUpdateInputOf}).
   * A malformed item is refused before any call (`invalid`): nothing corrupt
   * is ever written.
   */
  async writeEscrow(
    bucketId: string,
    item: EscrowItem,
    options: EscrowWriteOptions = {},
  ): Promise<void> {
    if (options.abortSignal?.aborted === true) {
      throw new StoreError('writeEscrow not started: the time budget is spent', 'timeout', {
        cause: options.abortSignal.reason,
      });
    }
    let input: UpdateItemRequest;
    try {
      input = escrowUpdateInputOf(this.#table, bucketId, item, options.ttlEpochSeconds);
    } catch (error) {
      throw new StoreError(`writeEscrow on ${bucketId}: ${(error as Error).message}`, 'invalid', {
        cause: error,
      });
    }
    try {
      await this.#transport.updateItem(input, { abortSignal: options.abortSignal });
    } catch (error) {
      if (nameOf(error) === CONDITIONAL_CHECK_FAILED) {
        const stored = (error as { Item?: AttributeMap }).Item;
        const current = stored === undefined ? undefined : this.#decodeEscrow(stored, bucketId);
        throw new EscrowConflictError(current, { cause: error });
      }
      throw toStoreError(error, 'writeEscrow');
    }
  }

  async writeEscrowAsk(ask: EscrowAsk, options: EscrowWriteOptions = {}): Promise<void> {
    const ttl = options.ttlEpochSeconds ?? Math.ceil(ask.atMs / 1000) + DEFAULT_ASK_TTL_S;
    let input: UpdateItemRequest;
    try {
      input = escrowAskInputOf(this.#table, ask, ttl);
    } catch (error) {
      throw new StoreError(`writeEscrowAsk: ${(error as Error).message}`, 'invalid', {
        cause: error,
      });
    }
    try {
      await this.#transport.updateItem(input, { abortSignal: options.abortSignal });
    } catch (error) {
      throw toStoreError(error, 'writeEscrowAsk');
    }
  }

  async readEscrowAsks(options: ReadOptions & { readonly limit: number }): Promise<EscrowAsk[]> {
    const page = await storeCall('readEscrowAsks', options.abortSignal, () =>
      this.#transport.query(
        {
          TableName: this.#table,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': ESCROW_ATTR.pk },
          ExpressionAttributeValues: { ':pk': { S: ESCROW_ASKS_PK } },
          ConsistentRead: options.consistent === true,
          Limit: options.limit,
        },
        { abortSignal: options.abortSignal },
      ),
    );
    const asks: EscrowAsk[] = [];
    for (const raw of page.Items ?? []) {
      try {
        asks.push(decodeEscrowAsk(raw));
      } catch (error) {
        if (!(error instanceof CodecError)) throw error;
        this.#onDecodeError(error, ESCROW_ASKS_PK);
      }
    }
    return asks;
  }

  #decodeEscrow(raw: AttributeMap, bucketId: string): EscrowItem | undefined {
    try {
      return decodeEscrowItem(raw);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      this.#onDecodeError(error, bucketId);
      return undefined;
    }
  }

  #decode(raw: AttributeMap, bucketId: string): SlotItem | undefined {
    try {
      return decodeItem(raw);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      this.#onDecodeError(error, bucketId);
      return undefined;
    }
  }

  #currentOf(error: unknown, bucketId: string): SlotItem | undefined {
    const item = (error as { Item?: AttributeMap }).Item;
    return item === undefined ? undefined : this.#decode(item, bucketId);
  }

  async #backoff(attempt: number, signal: CallSignal | undefined): Promise<void> {
    const delayMs = Math.floor(this.#random() * this.#backoffMs * 2 ** attempt);
    await new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(new StoreError('applyWrite: the time budget ran out during a retry', 'timeout'));
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(new StoreError('applyWrite: the time budget ran out during a retry', 'timeout'));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, delayMs);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/**
 * The UpdateItem input of one conditional write (exported for tests and for
 * reading the exact shape that reaches DynamoDB).
 */
export function updateInputOf(
  tableName: string,
  bucketId: string,
  write: SlotWrite,
): UpdateItemRequest {
  return {
    TableName: tableName,
    Key: { [ATTR.pk]: { S: bucketId }, [ATTR.sk]: { S: write.slot } },
    // A new checkpoint accounts for every token the slot holds: what takes added after the
    // old one (`tk`) is behind it now.
    UpdateExpression:
      'ADD #n :k, #v :one SET #ct = :ct, #cl = :cl, #cv = :cv, #at = :at, #ttl = :ttl, #inc = if_not_exists(#inc, :at) REMOVE #tk',
    // A new slot, or one whose n still leaves every checkpoint bound >= 0 after adding k.
    ConditionExpression: 'attribute_not_exists(#n) OR #n <= :max',
    ExpressionAttributeNames: {
      '#n': ATTR.n,
      '#v': ATTR.v,
      '#ct': ATTR.ct,
      '#cl': ATTR.cl,
      '#cv': ATTR.cv,
      '#at': ATTR.at,
      '#ttl': ATTR.ttl,
      '#inc': ATTR.inc,
      '#tk': ATTR.tk,
    },
    ExpressionAttributeValues: {
      ':k': encodeNumber(write.addTokens),
      ':one': encodeNumber(1),
      ':ct': encodeNumber(write.checkpoint.ct),
      ':cl': encodeNumber(write.checkpoint.cl),
      ':cv': encodeSeenCounts(write.checkpoint.cv),
      ':at': encodeNumber(write.atMs),
      ':ttl': encodeNumber(write.ttlEpochSeconds),
      ':max': encodeNumber(write.maxCurrentN),
    },
    ReturnValues: 'ALL_NEW',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}

/**
 * The UpdateItem input of one take (core take.ts): the tokens added after the
 * checkpoint, which a new slot gets (the trivial one) and an existing one
 * keeps; refused when the stored expiry is later than the take's. `ALL_OLD`:
 * the slot just before the take is what the decision needs.
 */
export function takeInputOf(
  tableName: string,
  bucketId: string,
  take: TakeWrite,
): UpdateItemRequest {
  return {
    TableName: tableName,
    Key: { [ATTR.pk]: { S: bucketId }, [ATTR.sk]: { S: take.slot } },
    UpdateExpression:
      'ADD #n :k, #v :one, #tk :k SET #at = :at, #ttl = :ttl, #inc = if_not_exists(#inc, :at), #ct = if_not_exists(#ct, :ct), #cl = if_not_exists(#cl, :cl), #cv = if_not_exists(#cv, :cv)',
    ConditionExpression: 'attribute_not_exists(#ttl) OR #ttl <= :ttl',
    ExpressionAttributeNames: {
      '#n': ATTR.n,
      '#v': ATTR.v,
      '#tk': ATTR.tk,
      '#at': ATTR.at,
      '#ttl': ATTR.ttl,
      '#inc': ATTR.inc,
      '#ct': ATTR.ct,
      '#cl': ATTR.cl,
      '#cv': ATTR.cv,
    },
    ExpressionAttributeValues: {
      ':k': encodeNumber(take.addTokens),
      ':one': encodeNumber(1),
      ':at': encodeNumber(take.atMs),
      ':ttl': encodeNumber(take.ttlEpochSeconds),
      ':ct': encodeNumber(take.initialCheckpoint.ct),
      ':cl': encodeNumber(take.initialCheckpoint.cl),
      ':cv': encodeSeenCounts(take.initialCheckpoint.cv),
    },
    ReturnValues: 'ALL_OLD',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}

function nameOf(error: unknown): string | undefined {
  return typeof error === 'object' &&
    error !== null &&
    typeof (error as { name?: unknown }).name === 'string'
    ? (error as { name: string }).name
    : undefined;
}
