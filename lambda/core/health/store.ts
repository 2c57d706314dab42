import type { StoredMcpServer } from '../model';
import type { DiscoveredMetadata, EndpointHealth, HealthTransition } from './model';

/** Discovered metadata as stored, with when and where it was discovered. */
export interface StoredMetadata extends DiscoveredMetadata {
  readonly discoveredAt: string;
  readonly region: string;
}

/** What the admin API shows for one MCP server. */
export interface McpHealthView {
  readonly endpoints: EndpointHealth[];
  /** Newest first. */
  readonly history: HealthTransition[];
}

/**
 * The health monitor's persistence port (the registry table in AWS and locally; docs/health.md).
 * Writes happen only on a status change, a heartbeat, or a metadata change.
 */
export interface HealthStore {
  /** Every MCP server of every org (the checker's work list). */
  listAllMcps(): AsyncIterable<StoredMcpServer>;
  /** Stored endpoint states of one MCP in one region (a cold checker resumes from them). */
  getStates(orgId: string, mcp: string, region: string): Promise<EndpointHealth[]>;
  /** Writes the current state and, on a status change, a history entry (kept 7 days). */
  putState(state: EndpointHealth, transition?: HealthTransition): Promise<void>;
  /** Current states of every endpoint in every region, and recent history. */
  getMcpHealth(orgId: string, mcp: string, historyLimit: number): Promise<McpHealthView>;
  getMetadata(orgId: string, mcp: string): Promise<StoredMetadata | undefined>;
  putMetadata(orgId: string, mcp: string, metadata: StoredMetadata): Promise<void>;
}
