import { type Command, InvalidArgumentError } from 'commander';
import type { InferRequestType } from 'hono/client';
import type { AdminApi } from '../client';
import { CliContext, type CliIo } from '../context';
import { alertTable, eventsSummary } from '../format';

type CreateAlertBody = InferRequestType<AdminApi['orgs'][':orgId']['alerts']['$post']>['json'];
type AlertEvent = NonNullable<CreateAlertBody['events']>[number];

const EVENT_NAMES: Record<string, AlertEvent> = {
  status: 'mcp.endpoint.status.changed',
  tools: 'mcp.tools.changed',
  'mcp.endpoint.status.changed': 'mcp.endpoint.status.changed',
  'mcp.tools.changed': 'mcp.tools.changed',
  webhooks: 'webhook.endpoint.disabled',
  'webhook.endpoint.disabled': 'webhook.endpoint.disabled',
};

/** `--events status,tools`: short or full event names, comma-separated. */
export function parseAlertEvents(value: string): AlertEvent[] {
  const names = value.split(',').map((v) => v.trim()).filter((v) => v !== '');
  if (names.length === 0) throw new InvalidArgumentError('Expected status, tools, webhooks or a comma-separated list of them (status,tools).');
  const events = new Set<AlertEvent>();
  for (const name of names) {
    const event = EVENT_NAMES[name];
    if (!event) throw new InvalidArgumentError(`Unknown event ${JSON.stringify(name)}; expected status, tools, webhooks or a comma-separated list of them (status,tools).`);
    events.add(event);
  }
  return [...events];
}

const orgOption = ['--org <orgId>', 'organisation (default: the org of an org admin key)'] as const;

export function registerAlertCommands(program: Command, io: CliIo): void {
  const alert = program
    .command('alert')
    .description('email alerts on endpoint status and tool-list changes and disabled webhook endpoints (pro, team and enterprise plans)');

  alert
    .command('add')
    .description('subscribe an email address to the alerts of an organisation')
    .requiredOption('--email <address>', 'where the alerts go')
    .option('--events <list>', 'status (endpoint status changes), tools (tool-list changes), webhooks (a webhook endpoint disabled), comma-separated (default all)', parseAlertEvents)
    .option(...orgOption)
    .action(async (opts: { email: string; events?: AlertEvent[]; org?: string }, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const orgId = await ctx.orgId(opts.org);
      const json: CreateAlertBody = { type: 'email', address: opts.email, ...(opts.events ? { events: opts.events } : {}) };
      const client = await ctx.client();
      const created = await client.answer(client.typed().orgs[':orgId'].alerts.$post({ param: { orgId }, json }));
      if (ctx.json) return ctx.printJson(created);
      ctx.out(
        `Subscribed ${created.address} to ${eventsSummary(created.events)} alerts of org ${created.orgId} ` +
          `(subscription ${created.subscriptionId}).\n` +
          (created.deliveryRef
            ? 'The recipient must first confirm from the email Amazon SNS sends; nothing is delivered before that.'
            : 'This server does not send email: `plexmcp serve` logs alerts instead.'),
      );
    });

  alert
    .command('list')
    .description('list alert subscriptions')
    .option(...orgOption)
    .action(async (opts: { org?: string }, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const orgId = await ctx.orgId(opts.org);
      const client = await ctx.client();
      const { items } = await client.answer(client.typed().orgs[':orgId'].alerts.$get({ param: { orgId } }));
      if (ctx.json) return ctx.printJson({ items });
      ctx.out(items.length === 0 ? `No alert subscriptions in org ${orgId}.` : alertTable(items));
    });

  alert
    .command('remove')
    .description('unsubscribe and delete an alert subscription')
    .argument('<subscriptionId>')
    .option(...orgOption)
    .action(async (subscriptionId: string, opts: { org?: string }, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const orgId = await ctx.orgId(opts.org);
      const client = await ctx.client();
      await client.answer(client.typed().orgs[':orgId'].alerts[':subscriptionId'].$delete({ param: { orgId, subscriptionId } }));
      if (!ctx.json) ctx.out(`Removed alert subscription ${subscriptionId} from org ${orgId}.`);
    });
}
