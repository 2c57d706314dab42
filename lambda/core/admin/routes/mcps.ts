import { createRoute } from '@hono/zod-openapi';
import type { AuditChange } from '../../audit/entry';
import { ApiError } from '../../errors';
import type { McpCreatedEvent, McpDeletedEvent, McpUpdatedEvent } from '../../events/catalog';
import type { HealthStore } from '../../health/store';
import type { PublicMcpServer, RegistryService } from '../../registry-service';
import { diffFields } from '../audit-trail';
import { orgAdmin } from '../guards';
import { bearer, body, errors, idempotencyHeader, json, mcpParams, orgParams, routeModule } from '../openapi';
import { CreateMcpSchema, HealthQuerySchema, McpHealthSchema, McpServerSchema, McpToolsSchema, pageOf, PageQuerySchema, UpdateMcpSchema } from '../schemas';

/** MCP servers of an org, their endpoint health and discovered tools. Org admins and the operator. */
export function mcpRoutes(service: RegistryService, health: HealthStore, now: () => number) {
  const app = routeModule();
  app.use('/orgs/:orgId/mcps', orgAdmin);
  app.use('/orgs/:orgId/mcps/*', orgAdmin);
  return app
    .openapi(
      createRoute({
        method: 'post', path: '/orgs/{orgId}/mcps', ...bearer,
        request: { params: orgParams, headers: idempotencyHeader, body: body(CreateMcpSchema) },
        responses: { 201: json(McpServerSchema, 'Created'), 200: json(McpServerSchema, 'Idempotent replay'), ...errors },
      }),
      async (c) => {
        const { orgId } = c.req.valid('param');
        const input = c.req.valid('json');
        const result = await c.get('audit').change({ orgId, action: 'mcp.created', target: { type: 'mcp', id: input.slug } }, async () => {
          const created = await service.createMcp(orgId, input, c.req.valid('header')['idempotency-key']);
          return {
            result: created,
            changed: created.created,
            changes: [...diffFields(undefined, { ...created.item }), ...secretSet(input.upstreamAuth)],
            events: [{ type: 'mcp.created', orgId, at: created.item.createdAt, mcp: input.slug } satisfies McpCreatedEvent],
          };
        });
        return c.json(result.item, result.created ? 201 : 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get', path: '/orgs/{orgId}/mcps', ...bearer, request: { params: orgParams, query: PageQuerySchema },
        responses: { 200: json(pageOf(McpServerSchema, 'McpServerPage'), 'MCP servers'), ...errors },
      }),
      async (c) => {
        const { orgId } = c.req.valid('param');
        return c.json(await service.listMcps(orgId, c.req.valid('query')), 200);
      },
    )
    .openapi(
      createRoute({ method: 'get', path: '/orgs/{orgId}/mcps/{slug}', ...bearer, request: { params: mcpParams }, responses: { 200: json(McpServerSchema, 'The MCP server'), ...errors } }),
      async (c) => {
        const { orgId, slug } = c.req.valid('param');
        return c.json(await service.getMcp(orgId, slug), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'patch', path: '/orgs/{orgId}/mcps/{slug}', ...bearer, request: { params: mcpParams, body: body(UpdateMcpSchema) },
        responses: { 200: json(McpServerSchema, 'Updated'), ...errors },
      }),
      async (c) => {
        const { orgId, slug } = c.req.valid('param');
        const input = c.req.valid('json');
        const mcp = await c.get('audit').change({ orgId, action: 'mcp.updated', target: { type: 'mcp', id: slug } }, async () => {
          const before = await service.getMcp(orgId, slug);
          const after = await service.updateMcp(orgId, slug, input);
          const changes = [...diffFields(mcpFields(before), mcpFields(after)), ...secretSet(input.upstreamAuth)];
          const updated: McpUpdatedEvent = { type: 'mcp.updated', orgId, at: after.updatedAt, mcp: slug, fields: changes.map((ch) => ch.field) };
          // A PATCH that changed nothing is recorded (it was asked for) but announces nothing.
          return { result: after, changes, events: changes.length > 0 ? [updated] : [] };
        });
        return c.json(mcp, 200);
      },
    )
    .openapi(
      createRoute({ method: 'delete', path: '/orgs/{orgId}/mcps/{slug}', ...bearer, request: { params: mcpParams }, responses: { 204: { description: 'Deleted' }, ...errors } }),
      async (c) => {
        const { orgId, slug } = c.req.valid('param');
        await c.get('audit').change({ orgId, action: 'mcp.deleted', target: { type: 'mcp', id: slug } }, async () => {
          const before = await service.getMcp(orgId, slug);
          await service.deleteMcp(orgId, slug);
          return { result: undefined, changes: diffFields(mcpFields(before), undefined), events: [{ type: 'mcp.deleted', orgId, at: new Date(now()).toISOString(), mcp: slug } satisfies McpDeletedEvent] };
        });
        return c.body(null, 204);
      },
    )
    .openapi(
      createRoute({
        method: 'get', path: '/orgs/{orgId}/mcps/{slug}/health', ...bearer, request: { params: mcpParams, query: HealthQuerySchema },
        responses: { 200: json(McpHealthSchema, 'Endpoint states (empty before the first check) and recent status changes'), ...errors },
      }),
      async (c) => {
        const { orgId, slug } = c.req.valid('param');
        const mcp = await service.getMcp(orgId, slug);
        const view = await health.getMcpHealth(orgId, slug, c.req.valid('query').history);
        // States of endpoints no longer configured (removed, or an earlier MCP of the same slug) are not shown.
        const current = new Set(mcp.endpoints.map((e) => e.id));
        return c.json({ endpoints: view.endpoints.filter((e) => current.has(e.endpointId)), history: view.history }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get', path: '/orgs/{orgId}/mcps/{slug}/tools', ...bearer, request: { params: mcpParams },
        responses: { 200: json(McpToolsSchema, 'What the MCP server last said it offers'), ...errors },
      }),
      async (c) => {
        const { orgId, slug } = c.req.valid('param');
        await service.getMcp(orgId, slug);
        const metadata = await health.getMetadata(orgId, slug);
        if (!metadata) throw new ApiError(404, 'not_discovered', 'The tools of this MCP server have not been discovered yet; the health checker reads them on its next run');
        return c.json(metadata, 200);
      },
    );
}

/** The fields of an MCP server the audit log compares (its identity is the target). */
function mcpFields(mcp: PublicMcpServer): Record<string, unknown> {
  const { orgId: _orgId, slug: _slug, ...fields } = mcp;
  void _orgId;
  void _slug;
  return fields;
}

/** A new upstream credential: recorded as changed, never its value. */
function secretSet(auth: { readonly type: string } | undefined): AuditChange[] {
  return auth && auth.type !== 'none' ? [{ field: 'upstreamSecret', secret: true }] : [];
}
