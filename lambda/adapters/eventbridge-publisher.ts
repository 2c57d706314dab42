// Only PutEventsCommand is a value import, and only EventBridgePublisher uses it: the package is
// side-effect free, so a bundle that takes SignedEventBridgePublisher alone (the gateway's, which
// must stay without the EventBridge client) leaves it out.
import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry, type PutEventsResultEntry } from '@aws-sdk/client-eventbridge';
import { SignatureV4 } from '@smithy/signature-v4';
import type { PlexEvent, PlexEventPublisher } from '../core/events/model';
import { NodeSha256 } from './node-sha256';

/**
 * The EventBridge `source` of each event family: the one table (docs/events.md). A type's family
 * is the longest prefix listed here; the two health types keep the source they always had.
 */
export const EVENT_SOURCES: Readonly<Record<string, string>> = {
  'mcp.endpoint.status.changed': 'plexmcp.health',
  'mcp.tools.changed': 'plexmcp.health',
  'mcp.': 'plexmcp.admin',
  'key.': 'plexmcp.admin',
  'grant.': 'plexmcp.oauth',
  'org.quota.': 'plexmcp.quota',
  'audit.': 'plexmcp.audit',
  'webhook.': 'plexmcp.webhooks',
};

/** The `source` of every PlexMCP health event on the bus (docs/health.md). */
export const HEALTH_EVENT_SOURCE = 'plexmcp.health';

/** Longest prefix first, so `mcp.tools.changed` is health and `mcp.created` admin. */
const SOURCE_PREFIXES = Object.keys(EVENT_SOURCES).sort((a, b) => b.length - a.length);

/** Thrown for an event type no family claims: it would reach no rule, so it is refused, not sent. */
export class UnknownEventSourceError extends Error {
  readonly code = 'unknown_event_source';
  constructor(readonly type: string) {
    super(`no EventBridge source for event type ${type}`);
    this.name = 'UnknownEventSourceError';
  }
}

/** The EventBridge `source` of an event type (EVENT_SOURCES). */
export function eventSourceOf(type: string): string {
  const prefix = SOURCE_PREFIXES.find((p) => (p.endsWith('.') ? type.startsWith(p) : type === p));
  if (prefix === undefined) throw new UnknownEventSourceError(type);
  return EVENT_SOURCES[prefix]!;
}

/** One PutEvents entry: `source` by family, `detail-type` the event type, `detail` the whole event. */
export function putEventsEntry(busName: string, event: PlexEvent): PutEventsRequestEntry {
  return { EventBusName: busName, Source: eventSourceOf(event.type), DetailType: event.type, Detail: JSON.stringify(event), Time: new Date(event.at) };
}

/** One PutEvents call: what EventBridge answered, per entry in request order. */
type PutEvents = (entries: PutEventsRequestEntry[]) => Promise<{ FailedEntryCount?: number; Entries?: PutEventsResultEntry[] }>;

/** PutEvents takes at most 10 entries per call. */
const BATCH = 10;

/**
 * Entries in calls of 10; entries that EventBridge reports as failed are retried once; if any
 * still fail, the publish fails (the caller counts it; the change it reports stands).
 */
async function putAll(send: PutEvents, busName: string, events: readonly PlexEvent[]): Promise<void> {
  const entries = events.map((event) => putEventsEntry(busName, event));
  for (let i = 0; i < entries.length; i += BATCH) {
    let batch = entries.slice(i, i + BATCH);
    for (let attempt = 0; attempt < 2 && batch.length > 0; attempt++) {
      const out = await send(batch);
      batch = out.FailedEntryCount ? batch.filter((_, j) => out.Entries?.[j]?.ErrorCode) : [];
    }
    if (batch.length > 0) throw new Error(`${batch.length} events were not accepted by EventBridge`);
  }
}

/**
 * Events onto an EventBridge bus through the SDK client (health monitor, admin, audit, webhooks):
 * `source` per family (EVENT_SOURCES), `detail-type` the event type, `detail` the event.
 */
export class EventBridgePublisher implements PlexEventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async publish(events: readonly PlexEvent[]): Promise<void> {
    await putAll((entries) => this.client.send(new PutEventsCommand({ Entries: entries })), this.busName, events);
  }
}


/** What SignedEventBridgePublisher needs of an SDK client it borrows region and credentials from. */
export interface AwsClientConfig {
  readonly config: { region: () => Promise<string>; credentials: SignatureV4['credentialProvider'] };
}

export interface SignedPublisherOptions {
  /** @default the SDK's variables AWS_ENDPOINT_URL_EVENTBRIDGE, AWS_ENDPOINT_URL, else the region's public endpoint */
  readonly endpoint?: string;
  /** Longest wait for one PutEvents call. @default 5_000 */
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The same PutEvents, without the EventBridge SDK client: one SigV4-signed JSON request over
 * Node's fetch, with the region and credentials of an SDK client the process already has (the
 * gateway's DynamoDB client). For the gateway, whose bundle budget the EventBridge client does not
 * fit and which publishes rarely (quota thresholds), off the request path.
 */
export class SignedEventBridgePublisher implements PlexEventPublisher {
  private readonly signer: SignatureV4;

  private constructor(
    private readonly url: URL,
    region: string,
    credentials: SignatureV4['credentialProvider'],
    private readonly busName: string,
    private readonly timeoutMs: number,
  ) {
    this.signer = new SignatureV4({ service: 'events', region, credentials, sha256: NodeSha256 });
  }

  static async fromClient(client: AwsClientConfig, busName: string, options: SignedPublisherOptions = {}): Promise<SignedEventBridgePublisher> {
    const region = await client.config.region();
    const env = options.env ?? process.env;
    const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
    const endpoint = options.endpoint ?? env.AWS_ENDPOINT_URL_EVENTBRIDGE ?? env.AWS_ENDPOINT_URL ?? `https://events.${region}.${suffix}`;
    return new SignedEventBridgePublisher(new URL(endpoint), region, () => client.config.credentials(), busName, options.timeoutMs ?? 5_000);
  }

  async publish(events: readonly PlexEvent[]): Promise<void> {
    await putAll((entries) => this.putEvents(entries), this.busName, events);
  }

  private async putEvents(entries: PutEventsRequestEntry[]): Promise<{ FailedEntryCount?: number; Entries?: PutEventsResultEntry[] }> {
    // The JSON protocol carries Time as epoch seconds.
    const body = JSON.stringify({ Entries: entries.map((e) => ({ ...e, Time: e.Time ? e.Time.getTime() / 1000 : undefined })) });
    const signed = await this.signer.sign({
      method: 'POST',
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      port: this.url.port ? Number(this.url.port) : undefined,
      path: '/',
      query: {},
      headers: { host: this.url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' },
      body,
    });
    // fetch sets Host itself (from the URL, the same value that was signed).
    const headers = Object.fromEntries(Object.entries(signed.headers).filter(([name]) => name.toLowerCase() !== 'host'));
    const res = await fetch(new URL('/', this.url), { method: 'POST', headers, body, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'error' });
    const text = await res.text();
    if (res.status !== 200) {
      // The error type only: never the message (it may quote the request).
      const type = String((safeJson(text) as { __type?: string }).__type ?? 'UnknownError').split('#').pop();
      throw new Error(`EventBridge PutEvents failed: ${type} (${res.status})`);
    }
    return safeJson(text) as { FailedEntryCount?: number; Entries?: PutEventsResultEntry[] };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text || '{}');
  } catch {
    return {};
  }
}
