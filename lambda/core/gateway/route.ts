/**
 * Phase 5: which endpoints may take this request, in the order to try them. A session goes to the
 * endpoint that created it, and only for the key that created it; otherwise a weighted random
 * order of the usable endpoints (degraded ones at a quarter of their weight).
 */
import { LRUCache } from 'lru-cache';
import type { ApiKey, Endpoint, StoredMcpServer } from '../model';
import { GatewayError } from './errors';
import { weightedOrder, type PassiveHealth } from './passive-health';
import type { SessionClaims, SessionSealer } from './sessions';

/** Endpoint status from the scheduled health monitor; `undefined` when it has none yet. */
export type EndpointStatus = 'healthy' | 'degraded' | 'unhealthy' | undefined;

/** Endpoint statuses by endpoint id: a Map, or any live view that can be asked by id. */
export type EndpointStatuses = Pick<ReadonlyMap<string, EndpointStatus>, 'get'>;

export interface RouteDeps {
  readonly passiveHealth: PassiveHealth;
  readonly endpointStatuses?: (mcp: StoredMcpServer) => Promise<EndpointStatuses>;
  readonly random?: () => number;
}

export interface Route {
  readonly candidates: readonly Endpoint[];
  /** The upstream's own session id, when the request belongs to a session. */
  readonly upstreamSessionId?: string;
  readonly inSession: boolean;
}

const NO_STATUSES: EndpointStatuses = new Map();

/**
 * The session a request belongs to, or undefined when it names none. Checked before anything is
 * spent on the request: an id that is not this key's (another key, org or MCP, altered, expired)
 * is 404 `session_not_found`.
 */
export function openSession(sessions: SessionSealer, sealed: string | null, key: ApiKey, mcp: StoredMcpServer, nowSeconds: number): SessionClaims | undefined {
  if (!sealed) return undefined;
  let opened = openedBySealer.get(sessions);
  if (!opened) openedBySealer.set(sessions, (opened = new LRUCache({ max: OPENED_MAX_ENTRIES })));
  const recent = opened.get(sealed);
  let claims = recent?.second === nowSeconds ? recent.claims : undefined;
  if (!claims) {
    claims = sessions.open(sealed, { orgId: key.orgId, mcp: mcp.slug, keyId: key.keyId }, nowSeconds);
    if (claims) opened.set(sealed, { claims, second: nowSeconds });
  }
  // The sealer checks whose session it is; a claim taken from memory is checked the same way here.
  if (!claims || claims.orgId !== key.orgId || claims.mcp !== mcp.slug || claims.keyId !== key.keyId) throw new GatewayError('session_not_found');
  return claims;
}

/**
 * Session ids opened during the current second, per sealer. Every request of a session carries the
 * same id, and opening it (AES-GCM) is the costliest check left on a warm request. What `open`
 * answers depends only on the id, the expected owner (checked again on every use) and the second
 * it is asked in (the age checks), so reusing its answer within that second is exact: a session
 * still expires to the second. Ids that do not open are never remembered.
 */
const OPENED_MAX_ENTRIES = 10_000;
const openedBySealer = new WeakMap<SessionSealer, LRUCache<string, { readonly claims: SessionClaims; readonly second: number }>>();

export async function chooseEndpoints(deps: RouteDeps, mcp: StoredMcpServer, session: SessionClaims | undefined): Promise<Route> {
  const statuses = (await deps.endpointStatuses?.(mcp)) ?? NO_STATUSES;
  if (session) {
    const endpoint = mcp.endpoints.find((e) => e.id === session.endpointId);
    if (!endpoint || !usable(deps.passiveHealth, statuses, endpoint)) throw new GatewayError('session_not_found');
    return { candidates: [endpoint], upstreamSessionId: session.upstreamSessionId, inSession: true };
  }
  // One endpoint (the common case): nothing to weigh or order.
  if (mcp.endpoints.length === 1) {
    if (!usable(deps.passiveHealth, statuses, mcp.endpoints[0]!)) throw new GatewayError('mcp_unhealthy');
    return { candidates: mcp.endpoints, inSession: false };
  }
  const weighted = mcp.endpoints
    .filter((e) => usable(deps.passiveHealth, statuses, e))
    .map((e) => ({ ...e, weight: statuses.get(e.id) === 'degraded' ? Math.max(1, e.weight / 4) : e.weight }));
  const candidates = weightedOrder(weighted, deps.random);
  if (candidates.length === 0) throw new GatewayError('mcp_unhealthy');
  return { candidates, inSession: false };
}

function usable(passiveHealth: PassiveHealth, statuses: EndpointStatuses, endpoint: Endpoint): boolean {
  return passiveHealth.isUp(endpoint.id) && statuses.get(endpoint.id) !== 'unhealthy';
}
