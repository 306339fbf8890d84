/**
 * Emulated regions: one embedded DynamoDB (dynalite, in memory) per region and
 * a replicator that behaves like a global table (MREC).
 *
 * Why a proxy: every client (ours, the reconciler, a third-party limiter in a
 * benchmark) talks to a region through a small HTTP proxy in front of that
 * region's dynalite. After a successful write the proxy reads the whole item
 * back and schedules it for every other region after the link's lag (plus
 * jitter). Like global tables, replication is whole-item and last writer wins:
 * each write gets a stamp `(timeMs, region, seq)` and a replica only applies an
 * item whose stamp is newer than the one it holds for that key, so a late or
 * reordered delivery never overwrites newer data. Writes of one region are
 * serialised per item through the proxy so that the item read back is exactly
 * the state that write produced; writes of different items run concurrently.
 *
 * Links can be cut and healed; a cut link queues its deliveries and flushes
 * them in order on heal, as a partitioned global table catches up.
 *
 * A region's store can be taken down ({@link RegionEmulator.setDown}): its
 * endpoint then fails every call (a 500, or no answer at all) while
 * replication between the stores behind the proxies goes on, as when clients
 * lose their regional endpoint but the replica itself is intact.
 *
 * A region can also enforce DynamoDB's per-partition throughput
 * ({@link RegionEmulatorOptions.partitionLimits}, local/partition-throughput.ts):
 * a request to a partition that has spent its second of throughput is
 * answered as DynamoDB answers an on-demand table's hot key (HTTP 400,
 * `ThrottlingException`) and never reaches the store; replicated writes
 * arriving from other regions are charged to the receiving partition too.
 *
 * Loopback only. Not a faithful DynamoDB: dynalite lacks TTL, transactions and
 * ReturnValuesOnConditionCheckFailure (docs/design.md, The local runtime).
 */

import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import {
  type AttributeValue,
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mulberry32 } from '../sim/prng';
import {
  type PartitionLimits,
  type PartitionStats,
  PartitionThroughput,
  throttlingAnswer,
} from './partition-throughput';

const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as (options: Record<string, unknown>) => http.Server;

/**
 * The emulator's time: the stamps of writes, when deliveries are due, and
 * the timers that deliver them. Real time by default; a test passes a clock
 * it moves by hand, so that "not before the lag" and "after the lag" are
 * facts of the test, not races against the machine.
 */
export interface EmulatorClock {
  /** Epoch milliseconds. */
  now(): number;
  /** Calls `callback` once, `ms` from now; returns a handle for {@link EmulatorClock.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Real time; its timers do not keep the process alive. */
export const REAL_CLOCK: EmulatorClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Replication lag of a link, in ms, as a fixed number or a function of the link. */
export type LagSpec = number | ((from: string, to: string) => number);

/** Options of {@link RegionEmulator.start}. */
export interface RegionEmulatorOptions {
  /** Region names, e.g. `['us-east-1', 'eu-west-1']`. */
  readonly regions: readonly string[];
  /** Base replication lag per link (ms). @default 0 */
  readonly lagMs?: LagSpec;
  /** Uniform jitter added to every delivery, in [0, jitterMs). @default 0 */
  readonly jitterMs?: number;
  /** Seed of the jitter's PRNG, for repeatable runs. @default 1 */
  readonly seed?: number;
  /** Loopback host. @default '127.0.0.1' */
  readonly host?: string;
  /** Fixed proxy ports per region (same order as regions); 0 or absent picks a free port. */
  readonly ports?: readonly number[];
  /** Time of stamps and deliveries. @default {@link REAL_CLOCK} */
  readonly clock?: EmulatorClock;
  /**
   * Per-partition throughput every region enforces (DYNAMODB_PARTITION_LIMITS
   * for DynamoDB's own). Absent: unlimited, as dynalite is.
   */
  readonly partitionLimits?: PartitionLimits;
}

/**
 * How a downed region's endpoint fails: `error` answers every call with a
 * 500 InternalServerError (the SDK's retryable server error), `hang` never
 * answers (clients time out).
 */
export type DownMode = 'error' | 'hang';

/** Counters of one directed link. */
export interface LinkStats {
  readonly from: string;
  readonly to: string;
  readonly cut: boolean;
  /** Deliveries applied at the receiver. */
  readonly delivered: number;
  /** Deliveries skipped because the receiver held a newer stamp. */
  readonly superseded: number;
  /** Deliveries queued and not yet applied. */
  readonly pending: number;
  /** Lag of the last applied delivery (ms). */
  readonly lastLagMs: number | undefined;
  /** Largest lag of any applied delivery (ms): the configured lag plus jitter plus timer lateness. */
  readonly maxLagMs: number | undefined;
}

interface Stamp {
  readonly ms: number;
  readonly region: string;
  readonly seq: number;
}

/** One item a write request touches. */
interface ItemWrite {
  readonly table: string;
  readonly key: Record<string, AttributeValue>;
  readonly keyId: string;
}

interface Delivery {
  readonly table: string;
  readonly keyId: string;
  readonly key: Record<string, AttributeValue>;
  /** The item after the write, or undefined for a delete. */
  readonly item: Record<string, AttributeValue> | undefined;
  readonly stamp: Stamp;
  readonly dueMs: number;
}

interface Link {
  readonly from: string;
  readonly to: string;
  cut: boolean;
  queue: Delivery[];
  timer: unknown;
  /** A delivery pass is running; it reschedules itself when done. */
  delivering: boolean;
  delivered: number;
  superseded: number;
  lastLagMs: number | undefined;
  maxLagMs: number | undefined;
}

interface Region {
  readonly name: string;
  readonly store: http.Server;
  readonly proxy: http.Server;
  readonly storePort: number;
  readonly proxyPort: number;
  /** Direct client to the region's dynalite (bypasses the proxy: no replication). */
  readonly direct: DynamoDBClient;
  /** Newest stamp applied per `table|key`. */
  readonly stamps: Map<string, Stamp>;
  /**
   * The newest write in flight per `table|key`: writes of one item are
   * serialised so that the item read back is the one that write produced,
   * while writes of different items run concurrently (as in DynamoDB).
   */
  readonly keyChains: Map<string, Promise<void>>;
  /** Set while the region's endpoint is down. */
  down: DownMode | undefined;
  /** Calls held open by a `hang` outage, answered with a 500 when it ends. */
  readonly hanging: Set<http.ServerResponse>;
  /** The partitions' throughput, when the emulator enforces it. */
  readonly throughput: PartitionThroughput | undefined;
}

/** What a metered request touches and how its consumption is read back. */
interface Metering {
  readonly kind: 'read' | 'write';
  readonly table: string;
  /** Partition of every item the request names (a batch may repeat one). */
  readonly partitions: readonly string[];
  /** The request to forward (with consumed capacity asked for). */
  readonly body: Buffer;
  /** The least a successful request costs (a read of nothing still costs a read). */
  readonly minimumUnits: number;
}

const WRITE_OPS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem']);
const METERED_READ_OPS = new Set(['GetItem', 'Query', 'BatchGetItem']);
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** Creates a DynamoDB client for an emulated endpoint. */
export function localClient(endpoint: string, region: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
}

/** Emulated regions with global-table replication. Create with {@link RegionEmulator.start}. */
export class RegionEmulator {
  private readonly regions = new Map<string, Region>();
  private readonly links = new Map<string, Link>();
  private readonly keySchemas = new Map<string, string[]>();
  /** Partition key attribute per table. */
  private readonly hashKeys = new Map<string, string>();
  private lag: LagSpec;
  private readonly jitterMs: number;
  private readonly clock: EmulatorClock;
  private random: () => number;
  private seq = 0;
  private stopped = false;
  /** Proxied calls and deliveries in progress (awaited by {@link RegionEmulator.stop}). */
  private readonly inFlight = new Set<Promise<unknown>>();

  private constructor(private readonly options: RegionEmulatorOptions) {
    this.lag = options.lagMs ?? 0;
    this.jitterMs = options.jitterMs ?? 0;
    this.clock = options.clock ?? REAL_CLOCK;
    this.random = mulberry32(options.seed ?? 1);
  }

  /** Starts one dynalite and one proxy per region on loopback. */
  static async start(options: RegionEmulatorOptions): Promise<RegionEmulator> {
    if (options.regions.length === 0) throw new Error('RegionEmulator needs at least one region');
    if (new Set(options.regions).size !== options.regions.length) {
      throw new Error(`RegionEmulator: duplicate regions in ${options.regions.join(', ')}`);
    }
    const emulator = new RegionEmulator(options);
    try {
      for (const [i, name] of options.regions.entries()) {
        await emulator.addRegion(name, options.ports?.[i] ?? 0);
      }
    } catch (error) {
      await emulator.stop();
      throw error;
    }
    for (const from of options.regions) {
      for (const to of options.regions) {
        if (from === to) continue;
        emulator.links.set(linkId(from, to), {
          from,
          to,
          cut: false,
          queue: [],
          timer: undefined,
          delivering: false,
          delivered: 0,
          superseded: 0,
          lastLagMs: undefined,
          maxLagMs: undefined,
        });
      }
    }
    return emulator;
  }

  /** The region names, in order. */
  get regionNames(): string[] {
    return [...this.regions.keys()];
  }

  /** The endpoint clients of `region` use (the replicating proxy). */
  endpoint(region: string): string {
    return `http://${this.host}:${this.region(region).proxyPort}`;
  }

  /** A client of `region`'s endpoint; writes through it replicate. */
  client(region: string): DynamoDBClient {
    return localClient(this.endpoint(region), region);
  }

  /**
   * A client of `region`'s store that bypasses the proxy: no replication, and
   * it works while the region is down. For observers (status pages), not for
   * writers. Shared; do not destroy it.
   */
  directClient(region: string): DynamoDBClient {
    return this.region(region).direct;
  }

  /** Creates a table in every region (not replicated: like a global table's replicas). */
  async createTable(input: CreateTableCommandInput): Promise<void> {
    for (const region of this.regions.values()) {
      await region.direct.send(new CreateTableCommand(input));
    }
    const keys = (input.KeySchema ?? []).map((k) => k.AttributeName as string);
    this.keySchemas.set(input.TableName as string, keys);
    const hash = input.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
    if (hash !== undefined) this.hashKeys.set(input.TableName as string, hash);
  }

  /** Changes the base lag of every link (ms) for deliveries scheduled from now on. */
  setLag(lag: LagSpec): void {
    this.lag = lag;
  }

  /** Cuts the links between `a` and `b`, both directions. Deliveries queue. */
  cut(a: string, b: string): void {
    this.link(a, b).cut = true;
    this.link(b, a).cut = true;
  }

  /** Heals the links between `a` and `b`; queued deliveries flush in order. */
  heal(a: string, b: string): void {
    for (const link of [this.link(a, b), this.link(b, a)]) {
      link.cut = false;
      this.schedule(link);
    }
  }

  /**
   * Takes `region`'s endpoint down (every call fails as `mode` says) or brings
   * it back up. Calls held by a `hang` outage are answered with a 500 when the
   * region comes back. Replication to and from the region is not affected.
   */
  setDown(region: string, down: boolean, mode: DownMode = 'error'): void {
    const r = this.region(region);
    r.down = down ? mode : undefined;
    if (!down) {
      for (const res of r.hanging) replyUnavailable(res);
      r.hanging.clear();
    }
  }

  /** Calls a `hang` outage of `region` is holding open right now. */
  heldCalls(region: string): number {
    return this.region(region).hanging.size;
  }

  /** Whether `region`'s endpoint is down, and how. */
  downMode(region: string): DownMode | undefined {
    return this.region(region).down;
  }

  /**
   * Throughput counters of `region`'s partitions, busiest first (empty when
   * the emulator enforces no partition limits).
   */
  partitionStats(region: string): PartitionStats[] {
    return this.region(region).throughput?.stats() ?? [];
  }

  /** Counters of every directed link. */
  linkStats(): LinkStats[] {
    return [...this.links.values()].map((l) => ({
      from: l.from,
      to: l.to,
      cut: l.cut,
      delivered: l.delivered,
      superseded: l.superseded,
      pending: l.queue.length,
      lastLagMs: l.lastLagMs,
      maxLagMs: l.maxLagMs,
    }));
  }

  /** Resolves once every link that is not cut has delivered its queue (or the timeout passes). */
  async settle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ([...this.links.values()].some((l) => !l.cut && l.queue.length > 0)) {
      if (Date.now() > deadline)
        throw new Error(`replication did not settle within ${timeoutMs} ms`);
      await sleep(5);
    }
    await Promise.all([...this.regions.values()].flatMap((r) => [...r.keyChains.values()]));
  }

  /**
   * Stops every proxy and store; queued deliveries are dropped. Calls and
   * deliveries already inside a store finish first: dynalite throws an
   * uncaught error when its database closes under a write.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const link of this.links.values()) {
      if (link.timer !== undefined) this.clock.clearTimeout(link.timer);
    }
    const regions = [...this.regions.values()];
    await Promise.all(regions.map((r) => closeServer(r.proxy)));
    await Promise.allSettled([
      ...this.inFlight,
      ...regions.flatMap((r) => [...r.keyChains.values()]),
    ]);
    await Promise.all(
      regions.map((r) => {
        r.direct.destroy();
        return closeServer(r.store);
      }),
    );
  }

  private track(work: Promise<unknown>): void {
    this.inFlight.add(work);
    work.finally(() => this.inFlight.delete(work));
  }

  private get host(): string {
    return this.options.host ?? '127.0.0.1';
  }

  private region(name: string): Region {
    const region = this.regions.get(name);
    if (region === undefined) throw new Error(`unknown emulated region "${name}"`);
    return region;
  }

  private link(from: string, to: string): Link {
    const link = this.links.get(linkId(from, to));
    if (link === undefined) throw new Error(`no link ${from} -> ${to}`);
    return link;
  }

  private async addRegion(name: string, port: number): Promise<void> {
    const store = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    const storePort = await listen(store, this.host, 0);
    const proxy = http.createServer((req, res) => {
      this.track(
        this.handle(name, req, res).catch((error: unknown) => {
          if (!res.headersSent)
            res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(JSON.stringify({ __type: 'InternalServerError', message: String(error) }));
        }),
      );
    });
    proxy.keepAliveTimeout = 5_000;
    const proxyPort = await listen(proxy, this.host, port);
    this.regions.set(name, {
      name,
      store,
      proxy,
      storePort,
      proxyPort,
      direct: localClient(`http://${this.host}:${storePort}`, name),
      stamps: new Map(),
      keyChains: new Map(),
      down: undefined,
      hanging: new Set(),
      throughput:
        this.options.partitionLimits === undefined
          ? undefined
          : new PartitionThroughput(this.options.partitionLimits, () => this.clock.now()),
    });
  }

  private async handle(regionName: string, req: http.IncomingMessage, res: http.ServerResponse) {
    const region = this.region(regionName);
    const body = await readBody(req);
    if (region.down === 'error') return replyUnavailable(res);
    if (region.down === 'hang') {
      region.hanging.add(res);
      res.on('close', () => region.hanging.delete(res));
      return;
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.split('.')[1] ?? '';
    const metering = await this.meteringOf(region, op, body);
    if (metering !== undefined) {
      const throughput = region.throughput as PartitionThroughput;
      if (!throughput.admit(metering.partitions)) {
        return reply(res, throttlingAnswer(region.name, metering.table, metering.kind));
      }
    }
    const sent = metering?.body ?? body;
    if (!WRITE_OPS.has(op)) {
      const answer = await forward(this.host, region.storePort, req, sent);
      if (metering !== undefined) this.charge(region, metering, answer);
      return reply(res, answer);
    }
    let writes: ItemWrite[];
    try {
      writes = await this.writesOf(region, op, JSON.parse(body.toString('utf8')));
    } catch {
      // Not a request DynamoDB would accept: let the store answer it, nothing to replicate.
      return reply(res, await forward(this.host, region.storePort, req, sent));
    }
    const answer = await this.serialize(
      region,
      writes.map((w) => w.keyId),
      async () => {
        const out = await forward(this.host, region.storePort, req, sent);
        if (metering !== undefined) this.charge(region, metering, out);
        if (out.status === 200) await this.captureWrites(region, writes);
        return out;
      },
    );
    reply(res, answer);
  }

  /**
   * The partitions a read or write names and the request that asks the store
   * for its consumed capacity; undefined when the region enforces no limits
   * or the request is not one that is metered (or not valid JSON: the store
   * answers it as it is).
   */
  private async meteringOf(
    region: Region,
    op: string,
    body: Buffer,
  ): Promise<Metering | undefined> {
    if (region.throughput === undefined) return undefined;
    const kind = WRITE_OPS.has(op) ? 'write' : METERED_READ_OPS.has(op) ? 'read' : undefined;
    if (kind === undefined) return undefined;
    let request: Record<string, unknown>;
    try {
      request = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    const named: { table: string; item: Record<string, AttributeValue> | undefined }[] = [];
    if (op === 'BatchWriteItem' || op === 'BatchGetItem') {
      const byTable = (request.RequestItems ?? {}) as Record<string, unknown>;
      for (const [table, entry] of Object.entries(byTable)) {
        if (op === 'BatchGetItem') {
          const keys = ((entry as { Keys?: unknown[] }).Keys ?? []) as Record<
            string,
            AttributeValue
          >[];
          for (const k of keys) named.push({ table, item: k });
        } else {
          for (const r of (entry ?? []) as Record<string, unknown>[]) {
            const put = r.PutRequest as { Item?: Record<string, AttributeValue> } | undefined;
            const del = r.DeleteRequest as { Key?: Record<string, AttributeValue> } | undefined;
            named.push({ table, item: put?.Item ?? del?.Key });
          }
        }
      }
    } else {
      const table = String(request.TableName ?? '');
      const hash = await this.hashKeyOf(region, table);
      const item =
        op === 'Query'
          ? queriedPartition(request, hash)
          : ((op === 'PutItem' ? request.Item : request.Key) as
              | Record<string, AttributeValue>
              | undefined);
      named.push({ table, item });
    }
    const partitions: string[] = [];
    for (const { table, item } of named) {
      const hash = await this.hashKeyOf(region, table);
      const value = hash === undefined ? undefined : item?.[hash];
      if (value !== undefined) partitions.push(partitionId(table, value));
    }
    if (partitions.length === 0) return undefined;
    const wanted = request.ReturnConsumedCapacity;
    const asked =
      wanted === undefined || wanted === 'NONE' ? { ReturnConsumedCapacity: 'TOTAL' } : {};
    const perItem = kind === 'write' || request.ConsistentRead === true ? 1 : 0.5;
    return {
      kind,
      table: named[0]?.table ?? '',
      partitions,
      body: Buffer.from(JSON.stringify({ ...request, ...asked }), 'utf8'),
      minimumUnits: op === 'Query' ? perItem : 0,
    };
  }

  /**
   * Charges what a metered request consumed, as the store reported it. A
   * batch's total is shared out over the partitions it named. A conditional
   * write that failed its condition still costs DynamoDB a write unit (at
   * least), and a Query that finds nothing still costs one read; other
   * failures cost nothing here.
   */
  private charge(region: Region, metering: Metering, answer: Answer): void {
    const throughput = region.throughput as PartitionThroughput;
    let units = 0;
    if (answer.status === 200) {
      try {
        const parsed = JSON.parse(answer.body.toString('utf8')) as { ConsumedCapacity?: unknown };
        const consumed = parsed.ConsumedCapacity;
        const list = (Array.isArray(consumed) ? consumed : [consumed]) as (
          | { CapacityUnits?: number }
          | undefined
        )[];
        units = Math.max(
          metering.minimumUnits,
          list.reduce((sum, c) => sum + (c?.CapacityUnits ?? 0), 0),
        );
      } catch {
        units = 0;
      }
    } else if (metering.kind === 'write' && answer.body.includes('ConditionalCheckFailed')) {
      units = metering.partitions.length;
    }
    const share = units / metering.partitions.length;
    for (const p of metering.partitions) throughput.charge(p, metering.kind, share);
  }

  private async hashKeyOf(region: Region, table: string): Promise<string | undefined> {
    if (!this.hashKeys.has(table)) {
      try {
        const described = await region.direct.send(new DescribeTableCommand({ TableName: table }));
        const hash = described.Table?.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
        if (hash !== undefined) this.hashKeys.set(table, hash);
      } catch {
        // No such table: the store will say so.
      }
    }
    return this.hashKeys.get(table);
  }

  /** Runs `run` after every write in flight on the same items of `region`. */
  private async serialize<T>(region: Region, keyIds: readonly string[], run: () => Promise<T>) {
    const previous = keyIds.map((k) => region.keyChains.get(k));
    const result = Promise.allSettled(previous).then(run);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    for (const k of keyIds) region.keyChains.set(k, settled);
    void settled.then(() => {
      for (const k of keyIds) if (region.keyChains.get(k) === settled) region.keyChains.delete(k);
    });
    return result;
  }

  /** The items a write request touches, keys in key-schema order. */
  private async writesOf(
    region: Region,
    op: string,
    request: Record<string, unknown>,
  ): Promise<ItemWrite[]> {
    const pairs: { table: string; item: Record<string, AttributeValue> }[] = [];
    if (op === 'BatchWriteItem') {
      const items = (request.RequestItems ?? {}) as Record<string, Record<string, unknown>[]>;
      for (const [table, requests] of Object.entries(items)) {
        for (const r of requests) {
          const put = r.PutRequest as { Item: Record<string, AttributeValue> } | undefined;
          const del = r.DeleteRequest as { Key: Record<string, AttributeValue> } | undefined;
          const item = put?.Item ?? del?.Key;
          if (item) pairs.push({ table, item });
        }
      }
    } else {
      const item = (op === 'PutItem' ? request.Item : request.Key) as Record<
        string,
        AttributeValue
      >;
      pairs.push({ table: request.TableName as string, item });
    }
    const writes: ItemWrite[] = [];
    for (const { table, item } of pairs) {
      const key = await this.keyOf(region, table, item);
      writes.push({ table, key, keyId: `${table}|${JSON.stringify(key)}` });
    }
    return writes;
  }

  private async captureWrites(region: Region, writes: readonly ItemWrite[]): Promise<void> {
    for (const { table, key, keyId } of writes) {
      const got = await region.direct.send(
        new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }),
      );
      const stamp: Stamp = { ms: this.clock.now(), region: region.name, seq: ++this.seq };
      region.stamps.set(keyId, stamp);
      for (const link of this.links.values()) {
        if (link.from !== region.name) continue;
        const lag = typeof this.lag === 'number' ? this.lag : this.lag(link.from, link.to);
        const jitter = this.jitterMs > 0 ? this.random() * this.jitterMs : 0;
        // Deliveries on one link stay in write order: never due before the previous one.
        const last = link.queue.at(-1)?.dueMs ?? 0;
        const dueMs = Math.max(last, stamp.ms + Math.max(0, lag) + jitter);
        link.queue.push({ table, keyId, key, item: got.Item, stamp, dueMs });
        this.schedule(link);
      }
    }
  }

  private async keyOf(
    region: Region,
    table: string,
    item: Record<string, AttributeValue>,
  ): Promise<Record<string, AttributeValue>> {
    let names = this.keySchemas.get(table);
    if (names === undefined) {
      const described = await region.direct.send(new DescribeTableCommand({ TableName: table }));
      names = (described.Table?.KeySchema ?? []).map((k) => k.AttributeName as string);
      this.keySchemas.set(table, names);
    }
    const key: Record<string, AttributeValue> = {};
    for (const name of names) {
      const value = item[name];
      if (value !== undefined) key[name] = value;
    }
    return key;
  }

  private schedule(link: Link): void {
    // One pass at a time per link: two passes would both apply the head of
    // the queue and then shift twice, skipping the next delivery.
    if (link.cut || link.timer !== undefined || link.delivering || this.stopped) return;
    const next = link.queue[0];
    if (next === undefined) return;
    const waitMs = Math.max(0, next.dueMs - this.clock.now());
    link.timer = this.clock.setTimeout(() => {
      link.timer = undefined;
      this.track(
        this.deliverDue(link).catch(() => {
          // A receiver that is being stopped may refuse; nothing to retry then.
        }),
      );
    }, waitMs);
  }

  private async deliverDue(link: Link): Promise<void> {
    link.delivering = true;
    try {
      await this.deliverQueue(link);
    } finally {
      link.delivering = false;
    }
    this.schedule(link);
  }

  private async deliverQueue(link: Link): Promise<void> {
    const to = this.region(link.to);
    while (!link.cut && !this.stopped) {
      const next = link.queue[0];
      if (next === undefined || next.dueMs > this.clock.now()) break;
      const held = to.stamps.get(next.keyId);
      if (held !== undefined && compareStamps(held, next.stamp) >= 0) {
        link.superseded++;
      } else {
        const apply = async () => {
          const metered =
            to.throughput === undefined ? {} : { ReturnConsumedCapacity: 'TOTAL' as const };
          const out =
            next.item === undefined
              ? await to.direct.send(
                  new DeleteItemCommand({ TableName: next.table, Key: next.key, ...metered }),
                )
              : await to.direct.send(
                  new PutItemCommand({ TableName: next.table, Item: next.item, ...metered }),
                );
          to.stamps.set(next.keyId, next.stamp);
          // A replicated write costs the receiving partition too, and is never refused.
          const hash = await this.hashKeyOf(to, next.table);
          const value = hash === undefined ? undefined : next.key[hash];
          if (to.throughput !== undefined && value !== undefined) {
            to.throughput.charge(
              partitionId(next.table, value),
              'replicated-write',
              out.ConsumedCapacity?.CapacityUnits ?? 1,
            );
          }
        };
        await this.serialize(to, [next.keyId], apply);
        link.delivered++;
        link.lastLagMs = this.clock.now() - next.stamp.ms;
        link.maxLagMs = Math.max(link.maxLagMs ?? 0, link.lastLagMs);
      }
      link.queue.shift();
    }
  }
}

function replyUnavailable(res: http.ServerResponse): void {
  if (res.headersSent || res.writableEnded) return;
  const body = JSON.stringify({
    __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
    message: 'emulated region is down',
  });
  res.writeHead(500, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}

/** The id of a partition: its table and partition key value. */
function partitionId(table: string, value: AttributeValue): string {
  return `${table}|${JSON.stringify(value)}`;
}

/**
 * The partition key value a Query names, as `{ [hash]: value }`: from
 * `KeyConditionExpression` (`#pk = :pk`, names and values resolved) or the
 * legacy `KeyConditions`; undefined when neither names one.
 */
function queriedPartition(
  request: Record<string, unknown>,
  hash: string | undefined,
): Record<string, AttributeValue> | undefined {
  if (hash === undefined) return undefined;
  const legacy = (
    request.KeyConditions as Record<string, { AttributeValueList?: AttributeValue[] }>
  )?.[hash]?.AttributeValueList?.[0];
  if (legacy !== undefined) return { [hash]: legacy };
  const expression = request.KeyConditionExpression;
  if (typeof expression !== 'string') return undefined;
  const names = (request.ExpressionAttributeNames ?? {}) as Record<string, string>;
  const values = (request.ExpressionAttributeValues ?? {}) as Record<string, AttributeValue>;
  for (const clause of expression.split(/\band\b/i)) {
    const m = /^\s*\(?\s*([#\w.]+)\s*=\s*(:\w+)\s*\)?\s*$/.exec(clause);
    if (m === null) continue;
    const name = m[1]!.startsWith('#') ? names[m[1]!] : m[1];
    const value = values[m[2]!];
    if (name === hash && value !== undefined) return { [hash]: value };
  }
  return undefined;
}

function compareStamps(a: Stamp, b: Stamp): number {
  if (a.ms !== b.ms) return a.ms - b.ms;
  if (a.region !== b.region) return a.region < b.region ? -1 : 1;
  return a.seq - b.seq;
}

function linkId(from: string, to: string): string {
  return `${from}->${to}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function listen(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

const forwardAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function forward(
  host: string,
  port: number,
  req: http.IncomingMessage,
  body: Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const upstream = http.request(
      {
        host,
        port,
        method: req.method,
        path: req.url,
        // The body may have been rewritten (consumed capacity asked for).
        headers: { ...req.headers, 'content-length': String(body.length) },
        agent: forwardAgent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 500,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    upstream.on('error', reject);
    upstream.end(body);
  });
}

function reply(res: http.ServerResponse, answer: Answer): void {
  const headers = { ...answer.headers };
  delete headers['transfer-encoding'];
  delete headers.connection;
  headers['content-length'] = String(answer.body.length);
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}
