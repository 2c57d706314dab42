/**
 * The health monitor's data: what a probe finds, the per-endpoint status with hysteresis, the
 * discovered tool metadata, and the events it emits. No AWS, no HTTP.
 */

export const HEALTH_STATUSES = ['healthy', 'degraded', 'unhealthy'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

/**
 * Why a probe failed, as a fixed vocabulary: never an upstream message, URL or response content.
 */
export type ProbeErrorClass =
  | 'connect_refused'
  | 'connect_timeout'
  | 'dns'
  | 'forbidden_address'
  | 'tls'
  | 'timeout'
  | 'http_status'
  | 'auth_rejected'
  | 'redirect'
  | 'too_large'
  | 'invalid_response'
  | 'protocol_error'
  | 'partial'
  | 'unknown';

export interface ToolInfo {
  readonly name: string;
  readonly title?: string;
  readonly description?: string;
  readonly inputSchema?: unknown;
}

export interface NamedItem {
  readonly name: string;
  readonly uri?: string;
  readonly description?: string;
}

/** What an MCP server said it offers, and a hash that changes when any of it changes. */
export interface DiscoveredMetadata {
  readonly tools: ToolInfo[];
  readonly resources: NamedItem[];
  readonly prompts: NamedItem[];
  /** SHA-256 over the canonical JSON of tools, resources and prompts. */
  readonly hash: string;
}

/** One MCP-level probe of one endpoint: initialize, list, close. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly latencyMs: number;
  /** Set when the probe failed or only partly succeeded. */
  readonly errorClass?: ProbeErrorClass;
  /** HTTP status when errorClass is http_status. */
  readonly httpStatus?: number;
  /** Present when the lists were read. */
  readonly metadata?: DiscoveredMetadata;
}

/** The stored state of one endpoint in one region. */
export interface EndpointHealth {
  readonly orgId: string;
  readonly mcp: string;
  readonly endpointId: string;
  readonly region: string;
  readonly status: HealthStatus;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  readonly lastCheckAt: string;
  readonly lastChangeAt: string;
  readonly latencyMs?: number;
  readonly errorClass?: ProbeErrorClass;
  /** When this state was last written (status change or heartbeat). */
  readonly writtenAt: string;
}

/** A status change, kept as history. */
export interface HealthTransition {
  readonly endpointId: string;
  readonly region: string;
  readonly from: HealthStatus | 'unknown';
  readonly to: HealthStatus;
  readonly at: string;
  readonly errorClass?: ProbeErrorClass;
  readonly latencyMs?: number;
}

/** Events, as put on the event bus (EventBridge in AWS, in-process locally); see docs/health.md. */
export type HealthEvent =
  | {
      readonly type: 'mcp.endpoint.status.changed';
      readonly orgId: string;
      readonly mcp: string;
      readonly endpointId: string;
      readonly region: string;
      readonly from: HealthStatus | 'unknown';
      readonly to: HealthStatus;
      readonly errorClass?: ProbeErrorClass;
      readonly at: string;
    }
  | {
      readonly type: 'mcp.tools.changed';
      readonly orgId: string;
      readonly mcp: string;
      readonly region: string;
      readonly previousHash?: string;
      readonly hash: string;
      readonly added: string[];
      readonly removed: string[];
      readonly changed: string[];
      readonly at: string;
    };

export interface EventPublisher {
  publish(events: HealthEvent[]): Promise<void>;
}
