import { RejectedRecordsException, TimestreamWriteClient, WriteRecordsCommand } from '@aws-sdk/client-timestream-write';
import { mockClient } from 'aws-sdk-client-mock';
import { TIMESTREAM_MAX_RECORDS_PER_WRITE, TimestreamUsageSink, timestreamRecordOf } from '../../lambda/adapters/timestream-sink';
import type { UsageRecord } from '../../lambda/core/gateway/usage';

const timestream = mockClient(TimestreamWriteClient);
beforeEach(() => timestream.reset());

function record(i: number, overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    type: 'usage',
    timestamp: new Date(Date.UTC(2026, 11, 1, 12, 0, 0, i)).toISOString(),
    requestId: `req-${i}`,
    region: 'eu-west-1',
    orgId: 'org_a',
    keyId: 'key_1',
    mcp: 'github',
    endpointId: 'ep1',
    httpMethod: 'POST',
    messageCount: 1,
    methods: ['tools/call'],
    tool: 'search',
    status: 200,
    statusClass: '2xx',
    totalMs: 12.5,
    gatewayMs: 0.25,
    upstreamFirstByteMs: 9,
    bytesIn: 120,
    bytesOut: 3400,
    costMicroUsd: 1500,
    ...overrides,
  };
}

describe('TimestreamUsageSink', () => {
  test('one multi-measure record per usage record: dimensions, measures, time in milliseconds', async () => {
    timestream.on(WriteRecordsCommand).resolves({ RecordsIngested: { Total: 1 } });
    const sink = new TimestreamUsageSink(new TimestreamWriteClient({ region: 'eu-west-1' }), 'db1', 'usage');
    expect(await sink.write([record(7)])).toEqual({ written: 1, rejected: 0 });
    const calls = timestream.commandCalls(WriteRecordsCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({
      DatabaseName: 'db1',
      TableName: 'usage',
      Records: [
        {
          Dimensions: [
            { Name: 'region', Value: 'eu-west-1', DimensionValueType: 'VARCHAR' },
            { Name: 'orgId', Value: 'org_a', DimensionValueType: 'VARCHAR' },
            { Name: 'keyId', Value: 'key_1', DimensionValueType: 'VARCHAR' },
            { Name: 'mcp', Value: 'github', DimensionValueType: 'VARCHAR' },
            { Name: 'endpointId', Value: 'ep1', DimensionValueType: 'VARCHAR' },
            { Name: 'httpMethod', Value: 'POST', DimensionValueType: 'VARCHAR' },
            { Name: 'tool', Value: 'search', DimensionValueType: 'VARCHAR' },
            { Name: 'statusClass', Value: '2xx', DimensionValueType: 'VARCHAR' },
            { Name: 'requestId', Value: 'req-7', DimensionValueType: 'VARCHAR' },
          ],
          MeasureName: 'request',
          MeasureValueType: 'MULTI',
          MeasureValues: [
            { Name: 'status', Value: '200', Type: 'BIGINT' },
            { Name: 'messageCount', Value: '1', Type: 'BIGINT' },
            { Name: 'totalMs', Value: '12.5', Type: 'DOUBLE' },
            { Name: 'gatewayMs', Value: '0.25', Type: 'DOUBLE' },
            { Name: 'upstreamFirstByteMs', Value: '9', Type: 'DOUBLE' },
            { Name: 'bytesIn', Value: '120', Type: 'BIGINT' },
            { Name: 'bytesOut', Value: '3400', Type: 'BIGINT' },
            { Name: 'costMicroUsd', Value: '1500', Type: 'BIGINT' },
            { Name: 'methods', Value: 'tools/call', Type: 'VARCHAR' },
          ],
          Time: String(Date.UTC(2026, 11, 1, 12, 0, 0, 7)),
          TimeUnit: 'MILLISECONDS',
        },
      ],
    });
  });

  test('absent and empty fields are left out (no empty dimension values, which Timestream refuses)', () => {
    const out = timestreamRecordOf(record(1, { orgId: undefined, keyId: undefined, endpointId: '', tool: undefined, errorCode: 'unauthorized', status: 401, statusClass: '4xx', gatewayMs: undefined, upstreamFirstByteMs: undefined, costMicroUsd: undefined, methods: [] }))!;
    expect(out.Dimensions!.map((d) => d.Name)).toEqual(['region', 'mcp', 'httpMethod', 'statusClass', 'errorCode', 'requestId']);
    expect(out.MeasureValues!.map((m) => m.Name)).toEqual(['status', 'messageCount', 'totalMs', 'bytesIn', 'bytesOut']);
    expect(timestreamRecordOf(record(1, { timestamp: 'yesterday' }))).toBeUndefined();
  });

  test('250 records: three WriteRecords calls of 100, 100 and 50, in order', async () => {
    timestream.on(WriteRecordsCommand).resolves({});
    const sink = new TimestreamUsageSink(new TimestreamWriteClient({ region: 'eu-west-1' }), 'db1', 'usage');
    const records = Array.from({ length: 250 }, (_, i) => record(i));
    expect(await sink.write(records)).toEqual({ written: 250, rejected: 0 });
    const calls = timestream.commandCalls(WriteRecordsCommand).map((c) => c.args[0].input.Records!);
    expect(calls.map((r) => r.length)).toEqual([100, 100, 50]);
    expect(Math.max(...calls.map((r) => r.length))).toBeLessThanOrEqual(TIMESTREAM_MAX_RECORDS_PER_WRITE);
    const requestIds = calls.flat().map((r) => r.Dimensions!.find((d) => d.Name === 'requestId')!.Value);
    expect(requestIds).toEqual(records.map((r) => r.requestId));
  });

  test('rejected records are counted and logged with their reasons (no record content), the rest count as written', async () => {
    timestream
      .on(WriteRecordsCommand)
      .rejectsOnce(
        new RejectedRecordsException({
          message: 'One or more records have been rejected.',
          $metadata: {},
          RejectedRecords: [
            { RecordIndex: 3, Reason: 'The record timestamp is outside the time range of the data ingestion window.' },
            { RecordIndex: 9, Reason: 'The record timestamp is outside the time range of the data ingestion window.' },
          ],
        }),
      )
      .resolves({});
    const logged: string[] = [];
    const sink = new TimestreamUsageSink(new TimestreamWriteClient({ region: 'eu-west-1' }), 'db1', 'usage', { log: (l) => logged.push(l) });
    const result = await sink.write([...Array.from({ length: 120 }, (_, i) => record(i)), record(999, { timestamp: 'not a time' })]);
    expect(result).toEqual({ written: 118, rejected: 3 });
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0])).toEqual({
      level: 'warn',
      msg: 'timestream rejected records',
      rejected: 3,
      written: 118,
      reasons: { 'invalid timestamp': 1, 'The record timestamp is outside the time range of the data ingestion window.': 2 },
    });
    expect(logged[0]).not.toContain('org_a');
    expect(timestream.commandCalls(WriteRecordsCommand).map((c) => c.args[0].input.Records!.length)).toEqual([100, 20]);
  });

  test('any other failure throws (the batch is retried)', async () => {
    timestream.on(WriteRecordsCommand).rejects(new Error('ThrottlingException'));
    const sink = new TimestreamUsageSink(new TimestreamWriteClient({ region: 'eu-west-1' }), 'db1', 'usage', { log: () => undefined });
    await expect(sink.write([record(1)])).rejects.toThrow('ThrottlingException');
  });

  test('no records, no call', async () => {
    const sink = new TimestreamUsageSink(new TimestreamWriteClient({ region: 'eu-west-1' }), 'db1', 'usage');
    expect(await sink.write([])).toEqual({ written: 0, rejected: 0 });
    expect(timestream.commandCalls(WriteRecordsCommand)).toHaveLength(0);
  });
});
