import { randomUUID } from 'node:crypto';
import { DynamoDbRollups, ensureAnalyticsTable } from '../../../lambda/adapters/dynamodb-rollups';
import { csvField, EXPORT_COLUMNS, exportRows } from '../../../lambda/core/analytics/export';
import { aggregateUsage } from '../../../lambda/core/analytics/rollup';
import type { UsageRecord } from '../../../lambda/core/gateway/usage';
import { startTestDynamoDb, type TestDynamoDb } from '../../support/dynamodb';

let db: TestDynamoDb;
let store: DynamoDbRollups;

beforeAll(async () => {
  db = await startTestDynamoDb();
  const table = `analytics-${randomUUID()}`;
  await ensureAnalyticsTable(db.client, table);
  store = new DynamoDbRollups(db.client, table);
  const usage = (minute: number, tool: string, over: Partial<UsageRecord> = {}): UsageRecord => ({
    type: 'usage',
    timestamp: new Date(HOUR + minute * 60_000).toISOString(),
    requestId: 'r',
    region: 'local',
    orgId: 'org1',
    keyId: 'k1',
    mcp: 'm1',
    httpMethod: 'POST',
    messageCount: 1,
    methods: ['tools/call'],
    tool,
    status: 200,
    totalMs: 10,
    bytesIn: 10,
    bytesOut: 100,
    costMicroUsd: 2_500,
    ...over,
  });
  const records = [
    usage(0, 'search'),
    usage(0, 'search', { status: 429, errorCode: 'rate_limited', costMicroUsd: undefined, totalMs: 1 }),
    usage(0, 'a, "quoted"\nname'),
    usage(1, '=HYPERLINK("http://x")'),
    usage(2, 'search'),
    usage(0, 'other-org', { orgId: 'org2' }),
  ];
  // The gateway's AWS cost: 4.2626 µ$ (4,263 nano-USD) for each `search` request, none for the others.
  const gatewayCost = (r: UsageRecord) => (r.tool === 'search' ? 4.2626 : undefined);
  const rollups = aggregateUsage(records, { gatewayCost }).filter((r) => r.id.granularity === 'minute' && r.id.dimension === 'tool');
  await store.apply({ source: 's', first: '1', last: '1' }, rollups);
});
afterAll(async () => {
  await db.close();
});

const HOUR = Date.UTC(2026, 11, 1, 10);
const q = { orgId: 'org1', from: HOUR, to: HOUR + 2 * 60_000, granularity: 'minute', dimension: 'tool' } as const;

async function collect(rows: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const row of rows) out.push(row);
  return out;
}

/** A strict RFC 4180 reader (quoted fields, doubled quotes, CRLF records) to read the export back. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"' && field === '') {
      i++;
      for (;;) {
        if (text[i] === '"' && text[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (text[i] === '"') {
          i++;
          break;
        } else if (i >= text.length) throw new Error('unterminated quote');
        else field += text[i++];
      }
    } else if (c === ',') {
      record.push(field);
      field = '';
      i++;
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 2;
    } else if (c === '\n' || c === '\r' || c === '"') throw new Error(`bare ${JSON.stringify(c)} at ${i}`);
    else field += text[i++];
  }
  if (field !== '' || record.length > 0) throw new Error('last record without CRLF');
  return records;
}

test('CSV: a header, one row per stored rollup of the range in bucket then group order, RFC 4180 quoting', async () => {
  const lines = await collect(exportRows(store, q, 'csv'));
  expect(lines.every((l) => l.endsWith('\r\n'))).toBe(true);
  const table = parseCsv(lines.join(''));
  expect(table[0]).toEqual([...EXPORT_COLUMNS]);
  const rows = table.slice(1).map((cells) => Object.fromEntries(cells.map((cell, k) => [EXPORT_COLUMNS[k], cell])));
  // Minute 2 is outside [from, to); org2's tool is another org's.
  expect(rows.map((r) => [r.bucketStart, r.group])).toEqual([
    [new Date(HOUR).toISOString(), 'a, "quoted"\nname'],
    [new Date(HOUR).toISOString(), 'search'],
    [new Date(HOUR + 60_000).toISOString(), `'=HYPERLINK("http://x")`],
  ]);
  expect(rows[1]).toMatchObject({ granularity: 'minute', dimension: 'tool', requests: '2', errors: '1', rateLimited: '1', bytesIn: '20', bytesOut: '200', costUsd: '0.0025' });
  // The gateway's own AWS cost, its own column right after the upstream cost, never added to it.
  expect(table[0]!.indexOf('gatewayCostUsd')).toBe(table[0]!.indexOf('costUsd') + 1);
  expect(rows[1]!.gatewayCostUsd).toBe('0.000008526');
  expect(rows[0]!.gatewayCostUsd).toBe('0');
  // Two latencies, 1 and 10 ms: the sketch's quantile q is the value of rank floor(q·(n−1)), so both are ~1 ms.
  expect(Number(rows[1]!.p50Ms)).toBeCloseTo(1, 1);
  expect(Number(rows[1]!.p99Ms)).toBeCloseTo(1, 1);
  expect(Number(rows[0]!.p99Ms)).toBeCloseTo(10, 0);
});

test('NDJSON: the same rows as JSON lines, numbers as numbers', async () => {
  const lines = await collect(exportRows(store, q, 'ndjson'));
  expect(lines).toHaveLength(3);
  expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
  const rows = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(Object.keys(rows[0]!)).toEqual([...EXPORT_COLUMNS]);
  expect(rows[1]).toMatchObject({ group: 'search', requests: 2, errors: 1, rateLimited: 1, costUsd: 0.0025, gatewayCostUsd: 0.000008526 });
  expect(rows[0]).toMatchObject({ gatewayCostUsd: 0 });
  expect(rows[2]!.group).toBe('=HYPERLINK("http://x")'); // NDJSON is data, not a spreadsheet: unchanged
});

test('an empty range: CSV is the header only, NDJSON nothing', async () => {
  const empty = { ...q, from: HOUR + 10 * 60_000, to: HOUR + 20 * 60_000 };
  expect(await collect(exportRows(store, empty, 'csv'))).toEqual([`${EXPORT_COLUMNS.join(',')}\r\n`]);
  expect(await collect(exportRows(store, empty, 'ndjson'))).toEqual([]);
});

test('csvField', () => {
  expect(csvField('plain')).toBe('plain');
  expect(csvField('a,b')).toBe('"a,b"');
  expect(csvField('say "hi"')).toBe('"say ""hi"""');
  expect(csvField('line\r\nbreak')).toBe('"line\r\nbreak"');
  expect(csvField('+1')).toBe("'+1");
  expect(csvField('-cmd')).toBe("'-cmd");
  expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
  expect(csvField(null)).toBe('');
  expect(csvField(0.000001)).toBe('0.000001');
  expect(csvField(12)).toBe('12');
});
