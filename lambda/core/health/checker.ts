import { createHash } from 'node:crypto';
import type { Endpoint, StoredMcpServer } from '../model';
import { nextHealth, type HysteresisOptions } from './hysteresis';
import { boundMetadataForStorage, diffTools } from './metadata';
import type { EndpointHealth, EventPublisher, HealthEvent, HealthStatus, ProbeResult } from './model';
import type { HealthStore, StoredMetadata } from './store';

export interface HealthCheckerDeps {
  readonly store: HealthStore;
  /** One MCP-level probe (initialize, list, close) of one endpoint, with its credentials. */
  readonly probe: (mcp: StoredMcpServer, endpoint: Endpoint) => Promise<ProbeResult>;
  readonly events: EventPublisher;
  readonly region: string;
  /** Probes in flight at once. @default 64 */
  readonly concurrency?: number;
  readonly hysteresis?: HysteresisOptions;
  /** Called with every endpoint's state after each probe (local mode feeds the gateway with it). */
  readonly onState?: (state: EndpointHealth) => void;
  /** Alerts for the events of a cycle (org subscriptions). */
  readonly alert?: (events: HealthEvent[]) => Promise<void>;
  readonly now?: () => Date;
  /**
   * Background work that rides along the cycles of shard 0 (so it runs on one invocation per
   * interval, not one per shard), started with the probes and awaited before the cycle ends: the
   * key-expiry scan (it throttles itself and returns undefined when not due). A failure counts
   * as one of the cycle's failures.
   */
  readonly alongside?: () => Promise<unknown> | undefined;
}

export interface Shard {
  readonly shard: number;
  readonly shards: number;
}

/** What one cycle did; logged by the checker and printed by the benchmark. */
export interface CycleReport {
  readonly startedAt: string;
  readonly durationMs: number;
  readonly mcps: number;
  readonly endpoints: number;
  readonly statusCounts: Record<HealthStatus, number>;
  /** DynamoDB writes: state changes, heartbeats, history entries, metadata. */
  readonly writes: number;
  readonly transitions: number;
  readonly toolChanges: number;
  readonly events: number;
  /** Store or event failures (the cycle goes on; the next one retries). */
  readonly failures: number;
}

/**
 * One health-check cycle over every MCP server of this shard: probe each endpoint with bounded
 * concurrency, apply hysteresis, write only what changed (plus heartbeats), store changed tool
 * metadata, and emit events. State between cycles lives in memory (a warm Lambda instance or the
 * local process); a cold instance resumes from the stored states.
 */
export class HealthChecker {
  private readonly states = new Map<string, EndpointHealth>();
  private readonly metadata = new Map<string, StoredMetadata | null>();
  private readonly resumed = new Set<string>();
  private readonly now: () => Date;

  constructor(private readonly deps: HealthCheckerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** The last known state of an endpoint in this region (for the local gateway). */
  stateOf(orgId: string, mcp: string, endpointId: string): EndpointHealth | undefined {
    return this.states.get(`${orgId}#${mcp}#${endpointId}`);
  }

  async runCycle(shard: Shard = { shard: 0, shards: 1 }): Promise<CycleReport> {
    const started = this.now();
    const counters = { writes: 0, transitions: 0, toolChanges: 0, failures: 0 };
    const statusCounts: Record<HealthStatus, number> = { healthy: 0, degraded: 0, unhealthy: 0 };
    const events: HealthEvent[] = [];
    const slots = semaphore(this.deps.concurrency ?? 64);
    let alongside: Promise<unknown> | undefined;
    try {
      alongside = shard.shard === 0 ? this.deps.alongside?.() : undefined;
    } catch (error) {
      alongside = Promise.reject(error);
    }
    const alongsideFailed = alongside?.then(
      () => false,
      () => true,
    );

    const mcps: StoredMcpServer[] = [];
    for await (const mcp of this.deps.store.listAllMcps()) {
      if (shardOf(`${mcp.orgId}#${mcp.slug}`, shard.shards) === shard.shard) mcps.push(mcp);
    }

    await Promise.all(
      mcps.map(async (mcp) => {
        try {
          await this.resume(mcp);
        } catch {
          counters.failures += 1; // no stored state: start fresh
        }
        const results = await Promise.all(mcp.endpoints.map((endpoint) => slots(() => this.deps.probe(mcp, endpoint))));
        for (const [i, endpoint] of mcp.endpoints.entries()) {
          const key = `${mcp.orgId}#${mcp.slug}#${endpoint.id}`;
          const update = nextHealth(
            this.states.get(key),
            results[i]!,
            { orgId: mcp.orgId, mcp: mcp.slug, endpointId: endpoint.id, region: this.deps.region },
            this.now(),
            this.deps.hysteresis,
          );
          statusCounts[update.state.status] += 1;
          if (update.write) {
            try {
              await this.deps.store.putState(update.state, update.transition);
              counters.writes += update.transition ? 2 : 1;
            } catch {
              counters.failures += 1;
              continue; // keep the old state in memory so the change is written next cycle
            }
          }
          this.states.set(key, update.state);
          this.deps.onState?.(update.state);
          if (update.transition) {
            counters.transitions += 1;
            events.push({
              type: 'mcp.endpoint.status.changed',
              orgId: mcp.orgId,
              mcp: mcp.slug,
              endpointId: endpoint.id,
              region: this.deps.region,
              from: update.transition.from,
              to: update.transition.to,
              errorClass: update.transition.errorClass,
              at: update.transition.at,
            });
          }
        }
        // Only a complete probe describes the server: a partial one (a list failed or was cut
        // short) would look like a change.
        const discovered = results.find((r) => r.ok && r.errorClass === undefined && r.metadata)?.metadata;
        if (discovered) {
          try {
            const event = await this.recordMetadata(mcp, discovered);
            if (event) {
              counters.writes += 1;
              counters.toolChanges += 1;
              events.push(event);
            } else if (event === null) {
              counters.writes += 1; // first discovery: stored, no event
            }
          } catch {
            counters.failures += 1;
          }
        }
      }),
    );
    this.forgetRemoved(mcps);

    if (events.length > 0) {
      try {
        await this.deps.events.publish(events);
      } catch {
        counters.failures += 1;
      }
      try {
        await this.deps.alert?.(events);
      } catch {
        counters.failures += 1;
      }
    }
    if (await alongsideFailed) counters.failures += 1;
    return {
      startedAt: started.toISOString(),
      durationMs: this.now().getTime() - started.getTime(),
      mcps: mcps.length,
      endpoints: mcps.reduce((n, m) => n + m.endpoints.length, 0),
      statusCounts,
      events: events.length,
      ...counters,
    };
  }

  /** A cold instance picks up the stored states and metadata of an MCP once. */
  private async resume(mcp: StoredMcpServer): Promise<void> {
    const id = `${mcp.orgId}#${mcp.slug}`;
    if (this.resumed.has(id)) return;
    const [states, metadata] = await Promise.all([
      this.deps.store.getStates(mcp.orgId, mcp.slug, this.deps.region),
      this.deps.store.getMetadata(mcp.orgId, mcp.slug),
    ]);
    for (const state of states) this.states.set(`${id}#${state.endpointId}`, state);
    this.metadata.set(id, metadata ?? null);
    this.resumed.add(id);
  }

  /**
   * Stores metadata whose hash changed. Returns the tools-changed event, null for a first
   * discovery (stored, nothing to compare with), or undefined when nothing changed.
   */
  private async recordMetadata(mcp: StoredMcpServer, discovered: NonNullable<ProbeResult['metadata']>): Promise<HealthEvent | null | undefined> {
    const id = `${mcp.orgId}#${mcp.slug}`;
    const previous = this.metadata.get(id) ?? undefined;
    if (previous?.hash === discovered.hash) return undefined;
    const at = this.now().toISOString();
    const stored: StoredMetadata = { ...boundMetadataForStorage(discovered), discoveredAt: at, region: this.deps.region };
    await this.deps.store.putMetadata(mcp.orgId, mcp.slug, stored);
    this.metadata.set(id, stored);
    if (!previous) return null;
    const diff = diffTools(previous.tools, discovered.tools);
    return { type: 'mcp.tools.changed', orgId: mcp.orgId, mcp: mcp.slug, region: this.deps.region, previousHash: previous.hash, hash: discovered.hash, ...diff, at };
  }

  private forgetRemoved(mcps: StoredMcpServer[]): void {
    const live = new Set(mcps.flatMap((m) => m.endpoints.map((e) => `${m.orgId}#${m.slug}#${e.id}`)));
    const liveMcps = new Set(mcps.map((m) => `${m.orgId}#${m.slug}`));
    for (const key of this.states.keys()) {
      const mcpId = key.split('#').slice(0, 2).join('#');
      if (liveMcps.has(mcpId) && !live.has(key)) this.states.delete(key);
    }
  }
}

/** Which shard an MCP belongs to: a stable hash, so an MCP stays in its shard across cycles. */
export function shardOf(id: string, shards: number): number {
  if (shards <= 1) return 0;
  return createHash('sha256').update(id).digest().readUInt32BE(0) % shards;
}

/** At most `size` tasks at once; the rest wait their turn in order. */
function semaphore(size: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= size) await new Promise<void>((resolve) => waiting.push(resolve));
    active += 1;
    try {
      return await task();
    } finally {
      active -= 1;
      waiting.shift()?.();
    }
  };
}
