import { createRoute } from '@hono/zod-openapi';
import type { Org } from '../../model';
import { effectivePlan } from '../../plans';
import type { RegistryService } from '../../registry-service';
import { diffFields } from '../audit-trail';
import { operatorFields, operatorOnly, orgAdmin } from '../guards';
import { bearer, body, errors, idempotencyHeader, json, orgParams, routeModule } from '../openapi';
import { CreateOrgSchema, OrgDetailSchema, OrgSchema, pageOf, PageQuerySchema, UpdateOrgSchema } from '../schemas';

/** Org admins manage their org's name and IP allowlist; the plan and its overrides are the operator's. */
const OPERATOR_ORG_FIELDS = ['plan', 'planOverrides'];

/** Organisations: created and listed by the operator; read and updated by their admins too. */
export function orgRoutes(service: RegistryService) {
  const app = routeModule();
  app.use('/orgs', operatorOnly);
  app.use('/orgs/:orgId', orgAdmin);
  return app
    .openapi(
      createRoute({
        method: 'post', path: '/orgs', ...bearer,
        request: { headers: idempotencyHeader, body: body(CreateOrgSchema) },
        responses: { 201: json(OrgSchema, 'Created'), 200: json(OrgSchema, 'Idempotent replay'), ...errors },
      }),
      async (c) => {
        const idempotencyKey = c.req.valid('header')['idempotency-key'];
        const orgId = service.newOrgId(idempotencyKey);
        const result = await c.get('audit').change({ orgId, action: 'org.created', target: { type: 'org', id: orgId } }, async () => {
          const created = await service.createOrg(c.req.valid('json'), idempotencyKey, orgId);
          return { result: created, changed: created.created, changes: diffFields(undefined, { ...created.item }) };
        });
        return c.json(orgView(result.item), result.created ? 201 : 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get', path: '/orgs', ...bearer, request: { query: PageQuerySchema },
        responses: { 200: json(pageOf(OrgSchema, 'OrgPage'), 'Organisations'), ...errors },
      }),
      async (c) => {
        const page = await service.listOrgs(c.req.valid('query'));
        return c.json({ ...page, items: page.items.map(orgView) }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get', path: '/orgs/{orgId}', ...bearer, request: { params: orgParams },
        responses: { 200: json(OrgDetailSchema, 'The organisation, its limits and what counts against them'), ...errors },
      }),
      async (c) => {
        const { orgId } = c.req.valid('param');
        const org = await service.getOrg(orgId);
        return c.json({ ...orgView(org), usage: await service.getUsage(orgId) }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'patch', path: '/orgs/{orgId}', ...bearer, middleware: [operatorFields(OPERATOR_ORG_FIELDS)], request: { params: orgParams, body: body(UpdateOrgSchema) },
        responses: { 200: json(OrgSchema, 'Updated'), ...errors },
      }),
      async (c) => {
        const { orgId } = c.req.valid('param');
        const org = await c.get('audit').change({ orgId, action: 'org.updated', target: { type: 'org', id: orgId } }, async () => {
          const before = await service.getOrg(orgId);
          const after = await service.updateOrg(orgId, c.req.valid('json'));
          return { result: after, changes: diffFields({ ...before }, { ...after }) };
        });
        return c.json(orgView(org), 200);
      },
    );
}

/** An org as the API shows it: with the limits in force. */
function orgView(org: Org) {
  return { ...org, limits: effectivePlan(org) };
}
