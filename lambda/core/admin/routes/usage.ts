/**
 * The usage routes of the admin API: an org's usage report, its export, and the operator's fleet
 * report, all read from the analytics rollups (analytics/usage-query.ts and export.ts).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { exportRows } from '../../analytics/export';
import { FLEET_ORG_ID, type Dimension, type Granularity, type RollupReader } from '../../analytics/model';
import { GRANULARITY_MS } from '../../analytics/rollup';
import { USAGE_LIMITS, usageReport } from '../../analytics/usage-query';
import { ApiError, badRequest } from '../../errors';
import { operatorOnly, orgAdmin } from '../guards';
import { bearer, json, orgParams, routeModule } from '../openapi';
import { ErrorSchema } from '../schemas';
import { FleetUsageQuerySchema, RELATIVE_TIME, UsageExportQuerySchema, UsageQuerySchema, UsageReportSchema } from '../usage-schemas';

export interface UsageRouteDeps {
  /** The analytics rollups; without them the routes answer 501 `usage_unavailable`. */
  readonly reader?: RollupReader;
  /** Epoch ms; what `now` and relative times (`-24h`) count from. */
  readonly now: () => number;
  /**
   * A host that buffers the whole answer (the admin Lambda behind API Gateway: 6 MB at most)
   * builds the export in memory up to this many bytes and answers 413 `export_too_large` beyond
   * it, rather than a response the platform drops. @default none: the export streams
   */
  readonly maxExportBytes?: number;
}

/** The range when `from` is not given: the day before `to`. */
export const DEFAULT_RANGE_MS = 24 * 3_600_000;
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export interface ResolvedRange {
  /** First bucket start, epoch ms. */
  readonly from: number;
  /** End of the last bucket (exclusive), epoch ms. */
  readonly to: number;
  readonly points: number;
}

/** An already validated time parameter (usage-schemas.ts) as epoch ms. */
function parseTime(value: string, now: number): number {
  if (value === 'now') return now;
  const relative = RELATIVE_TIME.exec(value);
  if (relative) return now - Number(relative[1]) * UNIT_MS[relative[2]!]!;
  return Date.parse(value);
}

/**
 * `from`/`to` as whole buckets: `from` rounded down and `to` rounded up to the granularity, so
 * the bucket holding `now` is a point and every point covers a whole bucket (usage-query.ts widens
 * the same way). 400 `invalid_range` unless from < to; 400 `usage_range_too_large` beyond
 * USAGE_LIMITS.maxPoints buckets (the code usageReport itself uses as its backstop).
 */
export function resolveRange(q: { from?: string; to?: string; granularity: Granularity }, now: number): ResolvedRange {
  const to = parseTime(q.to ?? 'now', now);
  const from = q.from === undefined ? to - DEFAULT_RANGE_MS : parseTime(q.from, now);
  if (!(from < to)) {
    throw badRequest('invalid_range', '`from` must be before `to`', [{ path: 'from', message: `${new Date(from).toISOString()} is not before ${new Date(to).toISOString()}` }]);
  }
  const bucket = GRANULARITY_MS[q.granularity];
  const start = Math.floor(from / bucket) * bucket;
  const end = Math.ceil(to / bucket) * bucket;
  const points = (end - start) / bucket;
  if (points > USAGE_LIMITS.maxPoints) {
    throw badRequest(
      'usage_range_too_large',
      `A report has at most ${USAGE_LIMITS.maxPoints} points; this range has ${points} ${q.granularity}s: use a shorter range or a coarser granularity`,
      [{ path: 'from', message: `at most ${USAGE_LIMITS.maxPoints} ${q.granularity}s before \`to\`` }],
    );
  }
  return { from: start, to: end, points };
}

/** Only the rollups of one group, so that a filtered report is never cut by the top-series limit. */
function onlyGroup(reader: RollupReader, groupBy: Dimension, group: string | undefined): RollupReader {
  if (group === undefined) return reader;
  if (groupBy === 'all') throw badRequest('group_needs_group_by', '`group` needs a `groupBy` other than `all`', [{ path: 'group', message: 'needs groupBy' }]);
  return { query: async (query) => (await reader.query(query)).filter((rollup) => rollup.id.group === group) };
}

const CONTENT_TYPES = { csv: 'text/csv; charset=utf-8; header=present', ndjson: 'application/x-ndjson; charset=utf-8' } as const;

/** `20261201T1000Z`: a file name part without `:` (not allowed in Windows file names). */
const compactTime = (ms: number) => new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, '').replace(/T(\d{4})\d{2}Z$/, 'T$1Z');

const errors = {
  400: json(ErrorSchema, `Invalid query (\`validation_failed\`), \`from\` not before \`to\` (\`invalid_range\`), more than ${USAGE_LIMITS.maxPoints} buckets (\`usage_range_too_large\`), or \`group\` without \`groupBy\` (\`group_needs_group_by\`)`),
  401: json(ErrorSchema, 'Missing or invalid credentials'),
  403: json(ErrorSchema, 'The credential may not read this usage'),
  501: json(ErrorSchema, 'Usage analytics are not configured in this deployment (`usage_unavailable`)'),
};
/** Usage of an org (org admins and the operator) and of the fleet (the operator). */
export function usageRoutes(deps: UsageRouteDeps) {
  const reader = (): RollupReader => {
    if (!deps.reader) throw new ApiError(501, 'usage_unavailable', 'Usage analytics are not configured in this deployment');
    return deps.reader;
  };

  const app = routeModule();
  app.use('/orgs/:orgId/usage', orgAdmin);
  app.use('/orgs/:orgId/usage/*', orgAdmin);
  app.use('/usage', operatorOnly);
  return app
    .openapi(
    createRoute({
      method: 'get', path: '/orgs/{orgId}/usage', ...bearer, request: { params: orgParams, query: UsageQuerySchema },
      description: `Requests, errors, latency percentiles, bytes, upstream cost and the gateway’s own AWS cost (estimated) of an org per bucket, in one series per group. At most ${USAGE_LIMITS.maxPoints} points and ${USAGE_LIMITS.maxSeries} series (the busiest).`,
      responses: { 200: json(UsageReportSchema, 'The usage report'), ...errors },
    }),
    async (c) => {
      const { orgId } = c.req.valid('param');
      const q = c.req.valid('query');
      const range = resolveRange(q, deps.now());
      const report = await usageReport(onlyGroup(reader(), q.groupBy, q.group), { orgId, from: range.from, to: range.to, granularity: q.granularity, groupBy: q.groupBy });
      return c.json(report, 200);
    },
  )
    .openapi(
    createRoute({
      method: 'get', path: '/usage', ...bearer, request: { query: FleetUsageQuerySchema },
      description: 'The whole fleet (every org) per bucket, in one series or one per org. Operator only.',
      responses: { 200: json(UsageReportSchema, 'The fleet usage report'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const range = resolveRange(q, deps.now());
      const report = await usageReport(onlyGroup(reader(), q.groupBy, q.group), { orgId: FLEET_ORG_ID, from: range.from, to: range.to, granularity: q.granularity, groupBy: q.groupBy });
      return c.json(report, 200);
    },
  )
    .openapi(
    createRoute({
      method: 'get', path: '/orgs/{orgId}/usage/export', ...bearer, request: { params: orgParams, query: UsageExportQuerySchema },
      description:
        'Every stored rollup of the range, one row each, streamed: bucketStart, granularity, dimension, group, requests, errors, rateLimited, bytesIn, bytesOut, costUsd (upstream), gatewayCostUsd (the gateway’s own AWS cost, estimated), p50Ms, p95Ms, p99Ms. ' +
        `The same range rules and limit (${USAGE_LIMITS.maxPoints} buckets) as the report.`,
      responses: {
        200: {
          description: 'The rows, as an attachment',
          content: { 'text/csv': { schema: z.string() }, 'application/x-ndjson': { schema: z.string() } },
          headers: z.object({ 'content-disposition': z.string().openapi({ example: 'attachment; filename="usage-org_abcdefghijklmnop-hour-20261201T1000Z-20261202T1000Z.csv"' }) }),
        },
        ...errors,
        413: json(ErrorSchema, 'The export is larger than this deployment answers at once (`export_too_large`: the admin Lambda buffers its answers)'),
      },
    }),
    async (c) => {
      const { orgId } = c.req.valid('param');
      const q = c.req.valid('query');
      const range = resolveRange(q, deps.now());
      const rows = exportRows(onlyGroup(reader(), q.groupBy, q.group), { orgId, from: range.from, to: range.to, granularity: q.granularity, dimension: q.groupBy }, q.format);
      const body = deps.maxExportBytes === undefined ? await streamOf(rows, c.get('requestId')) : await bufferedUpTo(rows, deps.maxExportBytes);
      const filename = `usage-${orgId}-${q.granularity}-${compactTime(range.from)}-${compactTime(range.to)}.${q.format}`;
      return c.body(body, 200, {
        'Content-Type': CONTENT_TYPES[q.format],
        'Content-Disposition': `attachment; filename="${filename}"`,
        'X-Content-Type-Options': 'nosniff',
      });
    },
  );
}

/** The rows as one string, or 413 `export_too_large` as soon as they pass `limit` bytes. */
async function bufferedUpTo(rows: AsyncIterable<string>, limit: number): Promise<string> {
  const parts: string[] = [];
  let size = 0;
  for await (const row of rows) {
    size += Buffer.byteLength(row, 'utf8');
    if (size > limit) {
      throw new ApiError(413, 'export_too_large', `The export is larger than this deployment answers at once (${limit} bytes): ask for a shorter range, a coarser granularity or one group`);
    }
    parts.push(row);
  }
  return parts.join('');
}

/**
 * The rows as a byte stream, read as the client reads. The first row is read before the answer
 * starts, so that a store failure at the start is an ordinary error answer; a failure later
 * aborts the stream (the client sees a cut transfer, never a short file that looks complete).
 */
async function streamOf(rows: AsyncIterable<string>, requestId: string): Promise<ReadableStream<Uint8Array>> {
  const iterator = rows[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  const first = await iterator.next();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (first.done) controller.close();
      else controller.enqueue(encoder.encode(first.value));
    },
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done) controller.close();
        else controller.enqueue(encoder.encode(next.value));
      } catch (error) {
        console.error(JSON.stringify({ level: 'error', msg: 'usage export failed', requestId, error: (error as Error).name }));
        controller.error(error);
      }
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}
