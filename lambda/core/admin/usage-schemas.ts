import { z } from '@hono/zod-openapi';
import { GRANULARITIES } from '../analytics/model';

/**
 * Schemas of the usage routes (usage-routes.ts): they validate the query strings and generate the
 * OpenAPI document, as schemas.ts does for the other routes.
 */

/** The dimensions an org's usage can be grouped by (`all`: one series, the whole org). */
export const ORG_GROUP_BYS = ['all', 'mcp', 'key', 'tool', 'resource', 'prompt'] as const;
/** The operator's fleet view: everything (`all`) or one series per org. */
export const FLEET_GROUP_BYS = ['all', 'org'] as const;
export const EXPORT_FORMATS = ['csv', 'ndjson'] as const;

/**
 * A point in time: an ISO 8601 date-time with a zone (`2026-12-01T10:00:00Z`, `…+01:00`), a date
 * (`2026-12-01`, UTC midnight), `now`, or a duration before now (`-90m`, `-24h`, `-7d`, `-2w`).
 */
export const RELATIVE_TIME = /^-(\d{1,6})([mhdw])$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
/** A real calendar date: Date.parse takes `2026-02-30` (as March 2). */
const isCalendarDate = (s: string) => {
  const [y, m, d] = s.slice(0, 10).split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
};
const isTime = (s: string) => s === 'now' || RELATIVE_TIME.test(s) || (ISO_TIME.test(s) && isCalendarDate(s) && !Number.isNaN(Date.parse(s)));

const TimeParam = (which: 'from' | 'to', byDefault: string) =>
  z
    .string()
    .max(40)
    .refine(isTime, 'must be an ISO 8601 date-time with a zone (2026-12-01T10:00:00Z), a date (2026-12-01), now, or a duration before now (-24h, -30m, -7d)')
    .optional()
    .openapi({
      description:
        `${which === 'from' ? 'Start (inclusive), rounded down' : 'End (exclusive), rounded up'} to a whole bucket of the granularity: ` +
        `an ISO 8601 date-time with a zone, a date (UTC), \`now\`, or a duration before now (\`-24h\`, \`-30m\`, \`-7d\`, \`-2w\`). Default ${byDefault}.`,
      example: which === 'from' ? '-24h' : 'now',
    });

const rangeFields = {
  from: TimeParam('from', '24 hours before `to`'),
  to: TimeParam('to', '`now`'),
  granularity: z.enum(GRANULARITIES).default('hour').openapi({ description: 'Bucket size of the points (UTC minutes, hours or days). Default `hour`.' }),
};

/** Group names are MCP slugs, key ids, tool and prompt names (≤ 128 characters) or resource URIs. */
const GroupParam = z
  .string()
  .min(1)
  .max(512)
  .optional()
  .openapi({ description: 'Only this group of `groupBy` (an MCP slug, key id, tool, resource URI or prompt name); needs a `groupBy` other than `all`.' });

export const UsageQuerySchema = z.object({
  ...rangeFields,
  groupBy: z.enum(ORG_GROUP_BYS).default('all').openapi({ description: 'One series per MCP, key, tool, resource or prompt; `all` (the default) is one series for the whole org.' }),
  group: GroupParam,
});

export const FleetUsageQuerySchema = z.object({
  ...rangeFields,
  groupBy: z.enum(FLEET_GROUP_BYS).default('all').openapi({ description: 'One series per org (`org`), or one for the whole fleet (`all`, the default).' }),
  group: GroupParam.openapi({ description: 'Only this org (with `groupBy=org`).' }),
});

export const UsageExportQuerySchema = UsageQuerySchema.extend({
  format: z.enum(EXPORT_FORMATS).default('csv').openapi({ description: 'CSV with a header line (RFC 4180), or one JSON object per line. Default `csv`.' }),
});

const ErrorsByCode = z.record(z.string(), z.number().int()).openapi({ description: 'Errors by stable error code (`rate_limited`, `http_502`, …)' });
const ms = (what: string) => z.number().nullable().openapi({ description: `${what} latency of the whole request in ms (±1 %); null where there were no requests` });

const pointFields = {
  requests: z.number().int(),
  errors: z.number().int().openapi({ description: 'Requests answered with a non-2xx status or a gateway JSON-RPC error' }),
  errorRate: z.number().openapi({ description: 'errors / requests (0 without requests)' }),
  rateLimited: z.number().int().openapi({ description: '429 answers (rate limit, quota, handshake and stream limits)' }),
  p50Ms: ms('Median'),
  p95Ms: ms('95th percentile'),
  p99Ms: ms('99th percentile'),
  bytesIn: z.number().int(),
  bytesOut: z.number().int(),
  costUsd: z.number().openapi({ description: 'Upstream cost by the MCP servers’ pricing, USD' }),
  gatewayCostUsd: z.number().openapi({
    description:
      'The gateway’s own AWS cost (Lambda, API Gateway, DynamoDB, CloudWatch Logs), estimated per request from a per-region price table, USD; reported apart from costUsd and never included in it. 0 where nothing was estimated: in local mode (`plexmcp serve`) and in a region the price table lacks',
  }),
  errorsByCode: ErrorsByCode,
};

export const UsagePointSchema = z
  .object({ start: z.string().openapi({ description: 'Bucket start (ISO 8601, UTC)', example: '2026-12-01T10:00:00.000Z' }), ...pointFields })
  .openapi('UsagePoint');

export const UsageReportSchema = z
  .object({
    granularity: z.enum(GRANULARITIES),
    from: z.string().openapi({ description: 'First bucket start (ISO 8601)' }),
    to: z.string().openapi({ description: 'End of the last bucket (ISO 8601, exclusive)' }),
    groupBy: z.string().openapi({ description: 'The dimension of the series (`all`, `mcp`, `key`, `tool`, `resource`, `prompt` or `org`)' }),
    series: z
      .array(z.object({ group: z.string().openapi({ description: "'' for `all`" }), points: z.array(UsagePointSchema).openapi({ description: 'Every bucket of the range, zeros where nothing happened' }) }))
      .openapi({ description: 'Busiest first, at most 100' }),
    totals: z.object(pointFields).openapi({ description: 'The whole range: exact counts, percentiles of all its requests' }),
  })
  .openapi('UsageReport');

export type UsageQuery = z.infer<typeof UsageQuerySchema>;
export type FleetUsageQuery = z.infer<typeof FleetUsageQuerySchema>;
export type UsageExportQuery = z.infer<typeof UsageExportQuerySchema>;
