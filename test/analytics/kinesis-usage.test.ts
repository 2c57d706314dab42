import { randomUUID } from 'node:crypto';
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbRollups, ensureAnalyticsTable } from '../../lambda/adapters/dynamodb-rollups';
import {
  batchPositionOf,
  decodeUsageBatch,
  gatewayCostFromEnv,
  paddedSequenceNumber,
  usageConsumer,
  type UsageBatchSummary,
  type UsageSink,
} from '../../lambda/adapters/kinesis-usage';
import { FLEET_ORG_ID, type Granularity } from '../../lambda/core/analytics/model';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { kinesisEvent, kinesisRecord, logsBatch, sequenceNumber, usageLine, withLambdaPrefix } from './kinesis-events';

let db: TestDynamoDb;
beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  await db.close();
});

async function newTable(): Promise<string> {
  const name = `analytics-${randomUUID()}`;
  await ensureAnalyticsTable(db.client, name);
  return name;
}

const HOUR = 3_600_000;

/** requests, errors and bytes summed over every stored rollup of the org at one granularity, dimension `all`. */
async function totals(rollups: DynamoDbRollups, orgId: string, granularity: Granularity = 'minute') {
  const now = Date.now();
  const stored = await rollups.query({ orgId, granularity, dimension: 'all', from: now - 48 * HOUR, to: now + HOUR });
  return stored.reduce(
    (sum, r) => ({ requests: sum.requests + r.requests, errors: sum.errors + r.errors, bytesOut: sum.bytesOut + r.bytesOut, latencyCount: sum.latencyCount + r.latency.total.count }),
    { requests: 0, errors: 0, bytesOut: 0, latencyCount: 0 },
  );
}

function quiet(): { lines: UsageBatchSummary[]; log: (line: string) => void } {
  const lines: UsageBatchSummary[] = [];
  return { lines, log: (line) => lines.push(JSON.parse(line) as UsageBatchSummary) };
}

/** 3 Kinesis records of 4, 3 and 3 usage lines: 10 requests of org_a, 2 of them 5xx. */
function tenRequests(firstSeq = 1) {
  const lines = Array.from({ length: 10 }, (_, i) => usageLine(i < 2 ? { status: 502, statusClass: '5xx', errorCode: 'upstream_error' } : {}));
  return kinesisEvent([
    kinesisRecord(logsBatch(lines.slice(0, 4)), firstSeq),
    kinesisRecord(logsBatch(lines.slice(4, 7).map(withLambdaPrefix)), firstSeq + 1),
    kinesisRecord(logsBatch(lines.slice(7)), firstSeq + 2),
  ]);
}

describe('decodeUsageBatch', () => {
  test('reads every usage line of every CloudWatch Logs batch, with or without the Lambda text prefix, in order', () => {
    const a = usageLine({ requestId: 'r1' });
    const b = withLambdaPrefix(usageLine({ requestId: 'r2' }));
    const c = usageLine({ requestId: 'r3' });
    const decoded = decodeUsageBatch(kinesisEvent([kinesisRecord(logsBatch([a, b]), 7), kinesisRecord(logsBatch([c]), 9)]));
    expect(decoded.records.map((r) => r.requestId)).toEqual(['r1', 'r2', 'r3']);
    expect(decoded).toMatchObject({ kinesisRecords: 2, malformedRecords: 0, controlMessages: 0, lines: 3, rejectedLines: 0 });
    expect(decoded.position).toEqual({ source: 'shardId-000000000000', first: sequenceNumber(7).padStart(64, '0'), last: sequenceNumber(9).padStart(64, '0') });
  });

  test('counts and skips records that are not gzip JSON batches, lines that are not usage records, and CONTROL_MESSAGE', () => {
    const decoded = decodeUsageBatch(
      kinesisEvent([
        kinesisRecord(logsBatch([], 'CONTROL_MESSAGE'), 1),
        kinesisRecord('bm90IGd6aXA=', 2), // base64 of "not gzip"
        kinesisRecord(Buffer.from('{"messageType":"DATA_MESSAGE"}'), 3), // JSON, not gzip'd
        kinesisRecord(logsBatch(['x']).subarray(0, 12), 4), // truncated gzip
        kinesisRecord(logsBatch([], 'SOMETHING_ELSE'), 5),
        kinesisRecord(
          logsBatch([
            usageLine({ requestId: 'good' }),
            '{"level":"error","msg":"gateway cold start failed"}',
            'START RequestId: 6f1d3c4e Version: $LATEST',
            usageLine({ status: 'two hundred' }),
            usageLine().slice(0, 40),
            '',
          ]),
          6,
        ),
      ]),
    );
    expect(decoded.records.map((r) => r.requestId)).toEqual(['good']);
    expect(decoded).toMatchObject({ kinesisRecords: 6, controlMessages: 1, malformedRecords: 4, lines: 5, rejectedLines: 4 });
  });

  test('positions: the shard of the event id, the smallest and largest sequence number zero-padded to 64 digits', () => {
    const records = [kinesisRecord(logsBatch([]), 30, 'shardId-000000000004'), kinesisRecord(logsBatch([]), 12, 'shardId-000000000004')];
    const position = batchPositionOf(records)!;
    expect(position.source).toBe('shardId-000000000004');
    expect(position.first).toHaveLength(64);
    expect(position.first).toBe(`00000000${sequenceNumber(12)}`);
    expect(position.last).toBe(`00000000${sequenceNumber(30)}`);
    expect(batchPositionOf([])).toBeUndefined();
    // String order is numeric order once padded.
    expect(paddedSequenceNumber('99') < paddedSequenceNumber('100')).toBe(true);
  });

  test('refuses a batch of two shards and sequence numbers that are not digits', () => {
    expect(() => batchPositionOf([kinesisRecord(logsBatch([]), 1, 'shardId-000000000000'), kinesisRecord(logsBatch([]), 2, 'shardId-000000000001')])).toThrow(
      /one batch holds records of shardId-000000000000 and shardId-000000000001/,
    );
    expect(() => paddedSequenceNumber('12a')).toThrow(/not a Kinesis sequence number/);
    expect(() => paddedSequenceNumber('1'.repeat(65))).toThrow(/not a Kinesis sequence number/);
    const noShard = { ...kinesisRecord(logsBatch([]), 1), eventID: 'whatever' };
    expect(() => batchPositionOf([noShard])).toThrow(/names no shard/);
  });
});

describe('usageConsumer against DynamoDB', () => {
  test('a batch delivered twice counts once; a later batch adds', async () => {
    const rollups = new DynamoDbRollups(db.client, await newTable());
    const { lines, log } = quiet();
    const consume = usageConsumer({ writer: rollups, log });
    const event = tenRequests();

    const first = await consume(event);
    expect(first).toMatchObject({ usageRecords: 10, rejectedLines: 0, rollupsSkipped: 0, source: 'shardId-000000000000' });
    expect(first.rollupsApplied).toBe(first.rollups);
    expect(await totals(rollups, 'org_a')).toEqual({ requests: 10, errors: 2, bytesOut: 20_000, latencyCount: 10 });

    const again = await consume(event);
    expect(again).toMatchObject({ usageRecords: 10, rollupsApplied: 0, rollupsSkipped: first.rollups });
    expect(await totals(rollups, 'org_a')).toEqual({ requests: 10, errors: 2, bytesOut: 20_000, latencyCount: 10 });
    expect(await totals(rollups, 'org_a', 'day')).toMatchObject({ requests: 10 });
    expect(await totals(rollups, FLEET_ORG_ID, 'hour')).toMatchObject({ requests: 10 });

    await consume(tenRequests(10));
    expect(await totals(rollups, 'org_a')).toEqual({ requests: 20, errors: 4, bytesOut: 40_000, latencyCount: 20 });
    // One summary line per invocation.
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatchObject({ level: 'info', msg: 'usage batch', kinesisRecords: 3, lines: 10 });
  });

  test('a batch that fails half-way, retried whole and then in halves (bisect), counts every request exactly once', async () => {
    const table = await newTable();
    const good = new DynamoDbRollups(db.client, table);
    let puts = 0;
    // The real engine, with PutItem failing after the third write of the first attempt.
    const flaky = {
      send: (command: unknown) => {
        if (command instanceof PutItemCommand && ++puts > 3) return Promise.reject(new Error('ProvisionedThroughputExceededException'));
        return db.client.send(command as PutItemCommand);
      },
    } as unknown as DynamoDBClient;
    const event = tenRequests();
    await expect(usageConsumer({ writer: new DynamoDbRollups(flaky, table), log: () => undefined })(event)).rejects.toThrow('ProvisionedThroughputExceededException');
    // Half-way: three items were written before the failure, the rest were not.
    expect(puts).toBeGreaterThan(3);

    // Lambda bisects the failed batch: the first half, then the second half.
    const consume = usageConsumer({ writer: good, log: () => undefined });
    await consume(kinesisEvent(event.Records.slice(0, 1)));
    await consume(kinesisEvent(event.Records.slice(1)));
    // And a whole-batch redelivery on top changes nothing.
    const redelivered = await consume(event);
    expect(redelivered.rollupsApplied).toBe(0);
    for (const granularity of ['minute', 'hour', 'day'] as const) {
      expect(await totals(good, 'org_a', granularity)).toEqual({ requests: 10, errors: 2, bytesOut: 20_000, latencyCount: 10 });
    }
  });

  test('malformed records and lines are counted and skipped; the valid lines of the same batch are applied', async () => {
    const rollups = new DynamoDbRollups(db.client, await newTable());
    const summary = await usageConsumer({ writer: rollups, log: () => undefined })(
      kinesisEvent([
        kinesisRecord('////', 1),
        kinesisRecord(logsBatch([usageLine(), 'not json', usageLine({ type: 'other' }), usageLine()]), 2),
      ]),
    );
    expect(summary).toMatchObject({ kinesisRecords: 2, malformedRecords: 1, lines: 4, rejectedLines: 2, usageRecords: 2 });
    expect(await totals(rollups, 'org_a')).toMatchObject({ requests: 2 });
  });

  test('a batch holding only CONTROL_MESSAGE writes nothing', async () => {
    const rollups = new DynamoDbRollups(db.client, await newTable());
    const summary = await usageConsumer({ writer: rollups, log: () => undefined })(kinesisEvent([kinesisRecord(logsBatch([], 'CONTROL_MESSAGE'), 1)]));
    expect(summary).toMatchObject({ controlMessages: 1, usageRecords: 0, rollups: 0, rollupsApplied: 0 });
    expect(await totals(rollups, 'org_a')).toMatchObject({ requests: 0 });
  });

  test('the sink gets the records after the rollups; its failure fails the batch, and the retry skips the rollups', async () => {
    const rollups = new DynamoDbRollups(db.client, await newTable());
    const written: number[] = [];
    let fail = true;
    const sink: UsageSink = {
      write: async (records) => {
        if (fail) throw new Error('ThrottlingException');
        written.push(records.length);
        return { written: records.length, rejected: 0 };
      },
    };
    const consume = usageConsumer({ writer: rollups, sink, log: () => undefined });
    const event = tenRequests();
    await expect(consume(event)).rejects.toThrow('ThrottlingException');
    fail = false;
    const retry = await consume(event);
    expect(retry).toMatchObject({ rollupsApplied: 0, sinkWritten: 10, sinkRejected: 0 });
    expect(written).toEqual([10]);
    expect(await totals(rollups, 'org_a')).toMatchObject({ requests: 10 });
  });
});

describe("the gateway's own AWS cost, estimated by the consumer", () => {
  /** us-east-1 at 1,024 MB, by hand: duration + Lambda request + API Gateway + 1/64 WRU + the line as logged. */
  const nanoUsd = (line: string, billedMs: number) =>
    Math.round((1 * (billedMs / 1000) * 0.0000133334 * 1e6 + 0.2 + 3.5 + 0.625 / 64 + ((line.length + 26) / 2 ** 30) * 0.5 * 1e6) * 1000);

  async function gatewayCost(rollups: DynamoDbRollups, orgId: string, dimension: 'all' | 'key' | 'tool', group = '') {
    const now = Date.now();
    const stored = await rollups.query({ orgId, granularity: 'hour', dimension, from: now - 48 * HOUR, to: now + HOUR });
    return stored.filter((r) => r.id.group === group).reduce((n, r) => n + r.gatewayCostNanoUsd, 0);
  }

  test('PLEXMCP_GATEWAY_MEMORY_MB: every item gets the exact sum of its records; a redelivery adds nothing; an unpriced region adds 0', async () => {
    const rollups = new DynamoDbRollups(db.client, await newTable());
    // Fixed timestamps within one hour, so that every record falls in the same hour item.
    const at = new Date(Math.floor(Date.now() / HOUR) * HOUR + 1000).toISOString();
    const lines = [
      usageLine({ timestamp: at, totalMs: 12.5, keyId: 'key_1', tool: 'search' }),
      usageLine({ timestamp: at, totalMs: 300, keyId: 'key_2', tool: 'fetch' }),
      usageLine({ timestamp: at, totalMs: 1, keyId: 'key_1', tool: 'search', status: 502, statusClass: '5xx', errorCode: 'upstream_error' }),
    ];
    const elsewhere = usageLine({ timestamp: at, region: 'local', keyId: 'key_1' });
    const consume = usageConsumer({ writer: rollups, log: () => undefined, gatewayCost: gatewayCostFromEnv({ PLEXMCP_GATEWAY_MEMORY_MB: '1024' }) });
    const event = kinesisEvent([kinesisRecord(logsBatch([lines[0]!, elsewhere]), 1), kinesisRecord(logsBatch(lines.slice(1).map(withLambdaPrefix)), 2)]);
    const first = await consume(event);
    expect(first).toMatchObject({ usageRecords: 4, gatewayCostEstimated: 3 });
    const [a, b, c] = [nanoUsd(lines[0]!, 13), nanoUsd(lines[1]!, 300), nanoUsd(lines[2]!, 1)];
    expect(await gatewayCost(rollups, 'org_a', 'all')).toBe(a + b + c);
    expect(await gatewayCost(rollups, 'org_a', 'key', 'key_1')).toBe(a + c);
    expect(await gatewayCost(rollups, 'org_a', 'tool', 'fetch')).toBe(b);
    expect(await gatewayCost(rollups, FLEET_ORG_ID, 'all')).toBe(a + b + c);

    expect((await consume(event)).rollupsApplied).toBe(0);
    expect(await gatewayCost(rollups, 'org_a', 'all')).toBe(a + b + c);
  });

  test('by default from process.env; without it (or with null) nothing is estimated; a bad value fails at the start', async () => {
    const rollups = new DynamoDbRollups(db.client, await newTable());
    const before = process.env.PLEXMCP_GATEWAY_MEMORY_MB;
    try {
      process.env.PLEXMCP_GATEWAY_MEMORY_MB = '2048';
      const line = usageLine({ totalMs: 50 });
      const summary = await usageConsumer({ writer: rollups, log: () => undefined })(kinesisEvent([kinesisRecord(logsBatch([line]), 1)]));
      expect(summary.gatewayCostEstimated).toBe(1);
      // 2 GB for 50 ms is what 1 GB for 100 ms costs.
      expect(await gatewayCost(rollups, 'org_a', 'all')).toBe(nanoUsd(line, 100));
      const off = await usageConsumer({ writer: rollups, log: () => undefined, gatewayCost: null })(kinesisEvent([kinesisRecord(logsBatch([usageLine()]), 2)]));
      expect(off.gatewayCostEstimated).toBe(0);
      expect(await gatewayCost(rollups, 'org_a', 'all')).toBe(nanoUsd(line, 100));
      delete process.env.PLEXMCP_GATEWAY_MEMORY_MB;
      const unset = await usageConsumer({ writer: rollups, log: () => undefined })(kinesisEvent([kinesisRecord(logsBatch([usageLine()]), 3)]));
      expect(unset).toMatchObject({ usageRecords: 1, gatewayCostEstimated: 0 });
      expect(await gatewayCost(rollups, 'org_a', 'all')).toBe(nanoUsd(line, 100));
    } finally {
      if (before === undefined) delete process.env.PLEXMCP_GATEWAY_MEMORY_MB;
      else process.env.PLEXMCP_GATEWAY_MEMORY_MB = before;
    }
    expect(gatewayCostFromEnv({})).toBeUndefined();
    for (const bad of ['1 GB', '64', '99999', '1024.5', '-1']) expect(() => gatewayCostFromEnv({ PLEXMCP_GATEWAY_MEMORY_MB: bad })).toThrow(/PLEXMCP_GATEWAY_MEMORY_MB|memoryMb/);
  });
});
