import type { Command } from 'commander';
import { CliContext, type CliIo } from '../context';
import { table } from '../format';
import { intParser } from '../parse';

const orgOption = ['--org <orgId>', 'organisation (default: the org of an org admin key)'] as const;

/** `--events key.revoked,mcp.*`: comma-separated event types or `prefix.*` patterns. */
function parseEventTypes(value: string): string[] {
  return value.split(',').map((v) => v.trim()).filter((v) => v !== '');
}

const when = (iso: string | undefined) => (iso ? iso.replace(/\.\d{3}Z$/, 'Z') : '-');

/** What every webhook command starts with: its context, the org, the client and the org's webhook routes. */
async function orgScope(io: CliIo, cmd: Command, org: string | undefined) {
  const ctx = CliContext.of(io, cmd);
  const orgId = await ctx.orgId(org);
  const client = await ctx.client();
  return { ctx, orgId, client, hooks: client.typed().orgs[':orgId'].webhooks };
}

export function registerWebhookCommands(program: Command, io: CliIo): void {
  const webhook = program
    .command('webhook')
    .description('signed webhooks (Standard Webhooks) for the events of an organisation (plans with webhooks: pro and up)');

  webhook
    .command('add')
    .description('add a webhook endpoint; prints its signing secret once')
    .argument('<url>', 'where events are POSTed (https, a public address)')
    .option('--events <list>', 'event types to deliver, comma-separated (key.revoked,mcp.*); default every type', parseEventTypes)
    .option('--description <text>', 'a note for the endpoint')
    .option('--disabled', 'create it disabled')
    .option(...orgOption)
    .action(async (url: string, opts: { events?: string[]; description?: string; disabled?: boolean; org?: string }, cmd: Command) => {
      const { ctx, orgId, client, hooks } = await orgScope(io, cmd, opts.org);
      const json = { url, ...(opts.events ? { eventTypes: opts.events } : {}), ...(opts.description ? { description: opts.description } : {}), ...(opts.disabled ? { enabled: false } : {}) };
      const created = await client.answer(hooks.$post({ param: { orgId }, json }));
      if (ctx.json) return ctx.printJson(created);
      ctx.out(
        `Added webhook ${created.endpoint.endpointId} for ${created.endpoint.eventTypes.length > 0 ? created.endpoint.eventTypes.join(', ') : 'every event'} of org ${orgId}.\n` +
          `Signing secret (shown only now; verify deliveries with it, e.g. the standardwebhooks package):\n  ${created.secret}`,
      );
    });

  webhook
    .command('list')
    .description('list webhook endpoints')
    .option(...orgOption)
    .action(async (opts: { org?: string }, cmd: Command) => {
      const { ctx, orgId, client, hooks } = await orgScope(io, cmd, opts.org);
      const { items } = await client.answer(hooks.$get({ param: { orgId } }));
      if (ctx.json) return ctx.printJson({ items });
      if (items.length === 0) return ctx.out(`No webhook endpoints in org ${orgId}.`);
      ctx.out(
        table(
          ['ID', 'URL', 'EVENTS', 'STATE'],
          items.map((e) => [e.endpointId, e.url, e.eventTypes.length > 0 ? e.eventTypes.join(',') : '*', e.enabled ? 'enabled' : `disabled${e.disabledReason ? ` (${e.disabledReason})` : ''}`]),
        ),
      );
    });

  webhook
    .command('remove')
    .description('remove a webhook endpoint (its pending deliveries are dropped)')
    .argument('<endpointId>')
    .option(...orgOption)
    .action(async (endpointId: string, opts: { org?: string }, cmd: Command) => {
      const { ctx, orgId, client, hooks } = await orgScope(io, cmd, opts.org);
      await client.answer(hooks[':endpointId'].$delete({ param: { orgId, endpointId } }));
      if (!ctx.json) ctx.out(`Removed webhook ${endpointId} from org ${orgId}.`);
    });

  webhook
    .command('rotate-secret')
    .description('issue a new signing secret; the old one keeps signing too (two signatures) during the overlap')
    .argument('<endpointId>')
    .option('--overlap <seconds>', 'how long the old secret keeps signing (default 86400, at most 7 days)', intParser(0, 7 * 86_400))
    .option(...orgOption)
    .action(async (endpointId: string, opts: { overlap?: number; org?: string }, cmd: Command) => {
      const { ctx, orgId, client, hooks } = await orgScope(io, cmd, opts.org);
      const rotated = await client.answer(
        hooks[':endpointId']['rotate-secret'].$post({ param: { orgId, endpointId }, json: opts.overlap === undefined ? {} : { overlapSeconds: opts.overlap } }),
      );
      if (ctx.json) return ctx.printJson(rotated);
      ctx.out(
        `New signing secret for ${endpointId} (shown only now):\n  ${rotated.secret}\n` +
          (rotated.previousSecretExpiresAt ? `The previous secret also signs until ${when(rotated.previousSecretExpiresAt)}.` : 'The previous secret no longer signs.'),
      );
    });

  webhook
    .command('test')
    .description('send a webhook.test event to one endpoint')
    .argument('<endpointId>')
    .option(...orgOption)
    .action(async (endpointId: string, opts: { org?: string }, cmd: Command) => {
      const { ctx, orgId, client, hooks } = await orgScope(io, cmd, opts.org);
      const delivery = await client.answer(hooks[':endpointId'].test.$post({ param: { orgId, endpointId } }));
      if (ctx.json) return ctx.printJson(delivery);
      ctx.out(`Queued test delivery ${delivery.deliveryId}; \`plexmcp webhook deliveries ${endpointId}\` shows its attempts.`);
    });

  webhook
    .command('deliveries')
    .description('deliveries to an endpoint, newest first, with their attempts (never bodies)')
    .argument('<endpointId>')
    .option('--limit <n>', 'at most this many (default 50)', intParser(1, 100))
    .option(...orgOption)
    .action(async (endpointId: string, opts: { limit?: number; org?: string }, cmd: Command) => {
      const { ctx, orgId, client, hooks } = await orgScope(io, cmd, opts.org);
      const page = await client.answer(
        hooks[':endpointId'].deliveries.$get({ param: { orgId, endpointId }, query: opts.limit === undefined ? {} : { limit: String(opts.limit) } }),
      );
      if (ctx.json) return ctx.printJson(page);
      if (page.items.length === 0) return ctx.out(`No deliveries to ${endpointId} yet.`);
      ctx.out(
        table(
          ['DELIVERY', 'EVENT', 'STATE', 'ATTEMPTS', 'LAST', 'NEXT'],
          page.items.map((d) => {
            const last = d.attemptLog.at(-1);
            const lastText = last ? `${last.status ?? last.errorClass ?? '-'} in ${Math.round(last.latencyMs)} ms` : '-';
            return [d.deliveryId, d.eventType, d.state, String(d.attempts), lastText, when(d.nextAttemptAt)];
          }),
        ),
      );
    });

  webhook
    .command('redeliver')
    .description('queue a failed delivery again (same webhook-id)')
    .argument('<deliveryId>')
    .option(...orgOption)
    .action(async (deliveryId: string, opts: { org?: string }, cmd: Command) => {
      const { ctx, orgId, client, hooks } = await orgScope(io, cmd, opts.org);
      const delivery = await client.answer(hooks.deliveries[':deliveryId'].redeliver.$post({ param: { orgId, deliveryId } }));
      if (ctx.json) return ctx.printJson(delivery);
      ctx.out(`Queued ${deliveryId} again (redelivery ${delivery.redeliveries}).`);
    });
}
