/**
 * Phase 3: may this key use this MCP server, from this address, for these messages? Reads the org
 * and MCP records (cached) and applies the org's IP allowlist, the key's MCP scope and the tool,
 * resource and prompt policies of the MCP and the key.
 */
import * as ipaddr from 'ipaddr.js';
import type { ApiKey, Org, StoredMcpServer } from '../model';
import { effectivePlan, type PlanLimits } from '../plans';
import type { Plan } from '../model';
import { GatewayError } from './errors';
import { accessFor, authorizeMessages as firstRefusal, type Access } from './feature-policy';
import type { InspectedMessage } from './jsonrpc';
import type { RegistryCache } from './registry-cache';

/** Same rule as the admin API's slug schema (kept here so the gateway bundle needs no zod). */
const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export interface Target {
  readonly org: Org;
  readonly mcp: StoredMcpServer;
  readonly plan: PlanLimits;
}

/** The org and MCP the key reaches at `slug`, or the reason it reaches none. */
export async function resolveTarget(
  registry: Pick<RegistryCache, 'getOrg' | 'getMcp'>,
  plans: Readonly<Record<Plan, PlanLimits>>,
  key: ApiKey,
  slug: string,
  sourceIp: string,
): Promise<Target> {
  if (!SLUG_PATTERN.test(slug)) throw new GatewayError('unknown_mcp');
  const [org, mcp] = await Promise.all([registry.getOrg(key.orgId), registry.getMcp(key.orgId, slug)]);
  if (!org) throw new GatewayError('invalid_api_key');
  if (!ipAllowed(org, sourceIp)) throw new GatewayError('ip_not_allowed');
  if (key.scopes.mcps !== '*' && !key.scopes.mcps.includes(slug)) throw new GatewayError('forbidden_mcp');
  if (!mcp) throw new GatewayError('unknown_mcp');
  return { org, mcp, plan: effectivePlan(org, plans) };
}

/**
 * What the key may use on this MCP (tools, resources, prompts), after refusing the whole request
 * when any of its messages uses something it may not (feature-policy.ts has the rules).
 */
export function authorizeMessages(messages: readonly InspectedMessage[], mcp: StoredMcpServer, key: ApiKey): Access {
  const access = cachedAccess(mcp, key);
  const refusal = firstRefusal(messages, access);
  if (refusal) throw new GatewayError(refusal);
  return access;
}

/**
 * `accessFor` once per (MCP record, key record) pair rather than per request: the records are
 * immutable and the caches hand out the same objects until they are read again, when the pair is
 * new and its access compiled afresh. Weak on both sides: nothing outlives its records.
 */
const accessByMcp = new WeakMap<StoredMcpServer, WeakMap<ApiKey, Access>>();

function cachedAccess(mcp: StoredMcpServer, key: ApiKey): Access {
  let byKey = accessByMcp.get(mcp);
  if (!byKey) accessByMcp.set(mcp, (byKey = new WeakMap()));
  let access = byKey.get(key);
  if (!access) byKey.set(key, (access = accessFor(mcp, key)));
  return access;
}

function ipAllowed(org: Org, sourceIp: string): boolean {
  if (org.ipAllowlist.length === 0) return true;
  if (!ipaddr.isValid(sourceIp)) return false;
  const address = ipaddr.process(sourceIp);
  return org.ipAllowlist.some((entry) => {
    const single = entry.includes('/') ? undefined : ipaddr.parse(entry);
    const [range, bits] = single ? [single, single.kind() === 'ipv4' ? 32 : 128] : ipaddr.parseCIDR(entry);
    return range.kind() === address.kind() && address.match(range, bits);
  });
}
