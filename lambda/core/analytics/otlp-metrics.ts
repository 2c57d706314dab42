/**
 * The gateway's operational metrics over OTLP/HTTP (OpenTelemetry), derived from its usage records
 * off the request path: `record()` only updates in-memory instruments, and the SDK's periodic
 * reader exports them. Attribute names follow the OpenTelemetry semantic conventions for MCP
 * (`mcp.method.name`, `gen_ai.tool.name`, `mcp.protocol.version` is not known per record) and for
 * errors (`error.type`); the MCP slug is `plexmcp.mcp`. No org, key or request ids: the metrics are
 * for operators, and their cardinality must stay small.
 */
import type { Counter, Histogram } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { UsageRecord } from '../gateway/usage';

export interface OtlpMetricsOptions {
  /** The collector's metrics URL, e.g. http://127.0.0.1:4318/v1/metrics. */
  readonly url: string;
  /** How often the metrics are exported. @default 15_000 */
  readonly exportIntervalMs?: number;
  /** `service.name` of the resource. @default 'plexmcp-gateway' */
  readonly serviceName?: string;
  /** Extra headers for the collector (e.g. its own credentials). @default none */
  readonly headers?: Record<string, string>;
}

/** Histogram boundaries in seconds: 1 ms to 60 s, finer where a gateway hop lives. */
const DURATION_BOUNDARIES_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class OtlpUsageMetrics {
  private readonly provider: MeterProvider;
  private readonly duration: Histogram;
  private readonly gatewayDuration: Histogram;
  private readonly bytes: Counter;

  constructor(options: OtlpMetricsOptions) {
    const exporter = new OTLPMetricExporter({ url: options.url, headers: options.headers, timeoutMillis: 5_000 });
    const interval = options.exportIntervalMs ?? 15_000;
    this.provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName ?? 'plexmcp-gateway' }),
      readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: interval, exportTimeoutMillis: Math.min(interval, 5_000) })],
    });
    const meter = this.provider.getMeter('plexmcp');
    this.duration = meter.createHistogram('mcp.server.operation.duration', {
      description: 'Duration of MCP requests through the gateway, to the last byte of the answer',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BOUNDARIES_S },
    });
    this.gatewayDuration = meter.createHistogram('plexmcp.gateway.duration', {
      description: 'Time spent in the gateway before the upstream request was sent',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BOUNDARIES_S },
    });
    this.bytes = meter.createCounter('plexmcp.gateway.io', { description: 'Request and response body bytes', unit: 'By' });
  }

  record(record: UsageRecord): void {
    const attributes: Record<string, string | number> = {
      'mcp.method.name': record.methods[0] ?? record.httpMethod,
      'plexmcp.mcp': record.mcp,
      'http.response.status_code': record.status,
    };
    if (record.tool !== undefined) attributes['gen_ai.tool.name'] = record.tool;
    if (record.status >= 400) attributes['error.type'] = record.errorCode ?? String(record.status);
    this.duration.record(record.totalMs / 1000, attributes);
    if (record.gatewayMs !== undefined) this.gatewayDuration.record(record.gatewayMs / 1000, attributes);
    this.bytes.add(record.bytesIn, { ...attributes, 'network.io.direction': 'receive' });
    this.bytes.add(record.bytesOut, { ...attributes, 'network.io.direction': 'transmit' });
  }

  /** Exports what has been recorded now (tests; shutdown). */
  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  /** Exports what is left and stops the periodic export. */
  close(): Promise<void> {
    return this.provider.shutdown();
  }
}
