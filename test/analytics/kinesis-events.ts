import { gzipSync } from 'node:zlib';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

export const STREAM_ARN = 'arn:aws:kinesis:us-east-1:123456789012:stream/PlexMcp-Usage';

/** A usage line as the gateway logs it (a bare JSON line on stdout). */
export function usageLine(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    type: 'usage',
    timestamp: new Date(Date.now() - 60_000).toISOString(),
    requestId: `req-${Math.random().toString(36).slice(2)}`,
    region: 'us-east-1',
    orgId: 'org_a',
    keyId: 'key_1',
    mcp: 'github',
    httpMethod: 'POST',
    messageCount: 1,
    methods: ['tools/call'],
    tool: 'search',
    status: 200,
    statusClass: '2xx',
    totalMs: 12.5,
    gatewayMs: 0.4,
    upstreamFirstByteMs: 10,
    bytesIn: 100,
    bytesOut: 2000,
    ...overrides,
  });
}

/** What Lambda's text log format makes of a console.log line. */
export function withLambdaPrefix(line: string): string {
  return `${new Date().toISOString()}\t6f1d3c4e-1111-2222-3333-444455556666\tINFO\t${line}`;
}

/** The gzip'd JSON that a CloudWatch Logs subscription puts into one Kinesis record. */
export function logsBatch(messages: string[], messageType = 'DATA_MESSAGE'): Buffer {
  return gzipSync(
    JSON.stringify({
      messageType,
      owner: messageType === 'CONTROL_MESSAGE' ? 'CloudwatchLogs' : '123456789012',
      logGroup: messageType === 'CONTROL_MESSAGE' ? '' : '/aws/lambda/PlexMcp-Gateway',
      logStream: messageType === 'CONTROL_MESSAGE' ? '' : '2026/12/01/[$LATEST]abcdef',
      subscriptionFilters: messageType === 'CONTROL_MESSAGE' ? [] : ['PlexMcp-Usage'],
      logEvents:
        messageType === 'CONTROL_MESSAGE'
          ? [{ id: '', timestamp: Date.now(), message: 'CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.' }]
          : messages.map((message, i) => ({ id: `${Date.now()}${i}`, timestamp: Date.now(), message })),
    }),
  );
}

/** A 56-digit Kinesis sequence number ending in `n`. */
export function sequenceNumber(n: number): string {
  return `4959033827149025660855969253836157109592157598913658${String(n).padStart(4, '0')}`;
}

export function kinesisRecord(data: Buffer | string, seq: number, shard = 'shardId-000000000000'): KinesisStreamRecord {
  const sequence = sequenceNumber(seq);
  return {
    eventID: `${shard}:${sequence}`,
    eventName: 'aws:kinesis:record',
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventSourceARN: STREAM_ARN,
    awsRegion: 'us-east-1',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/consumer',
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: 'a6f0c5d8',
      sequenceNumber: sequence,
      approximateArrivalTimestamp: Date.now() / 1000,
      data: Buffer.isBuffer(data) ? data.toString('base64') : data,
    },
  };
}

export function kinesisEvent(records: KinesisStreamRecord[]): KinesisStreamEvent {
  return { Records: records };
}
