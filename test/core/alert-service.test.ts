import {
  AddressInUseError,
  type AlertDelivery,
  type AlertEvent,
  AlertService,
  type AlertStore,
  formatAlert,
  MAX_ALERT_SUBSCRIPTIONS_PER_ORG,
  publishWithAlerts,
} from '../../lambda/core/alert-service';
import type { AlertSubscription } from '../../lambda/core/alerts';
import { ApiError } from '../../lambda/core/errors';
import { parseEvent, type WebhookEndpointDisabledEvent } from '../../lambda/core/events/catalog';
import type { PlexEvent } from '../../lambda/core/events/model';
import type { HealthEvent } from '../../lambda/core/health/model';
import type { Plan } from '../../lambda/core/model';

class MemoryAlertStore implements AlertStore {
  readonly items = new Map<string, AlertSubscription>();
  failCreate = false;
  async listSubscriptions(orgId: string) {
    return [...this.items.values()].filter((s) => s.orgId === orgId);
  }
  async getSubscription(orgId: string, id: string) {
    const s = this.items.get(id);
    return s?.orgId === orgId ? s : undefined;
  }
  async createSubscription(s: AlertSubscription) {
    if (this.failCreate) throw new Error('dynamodb down');
    if (this.items.has(s.subscriptionId)) return false;
    this.items.set(s.subscriptionId, s);
    return true;
  }
  async deleteSubscription(orgId: string, id: string) {
    return (await this.getSubscription(orgId, id)) !== undefined && this.items.delete(id);
  }
}

class FakeDelivery implements AlertDelivery {
  readonly log: string[] = [];
  failPublishFor = new Set<string>();
  subscribeError?: Error;
  async subscribe(s: AlertSubscription) {
    if (this.subscribeError) throw this.subscribeError;
    this.log.push(`subscribe ${s.address} ${s.events.join(',')}`);
    return `arn:sns:${s.subscriptionId}`;
  }
  async unsubscribe(s: AlertSubscription) {
    this.log.push(`unsubscribe ${s.deliveryRef}`);
  }
  async publish(orgId: string, event: AlertEvent) {
    const about = event.type === 'webhook.endpoint.disabled' ? event.endpointId : event.mcp;
    if (this.failPublishFor.has(about)) throw new Error('sns throttled');
    this.log.push(`publish ${orgId} ${event.type} ${about}`);
  }
}

const PRO = 'org_pppppppppppppppp';
const FREE = 'org_ffffffffffffffff';
const TEAM = 'org_tttttttttttttttt';
const plans: Record<string, Plan> = { [PRO]: 'pro', [FREE]: 'free', [TEAM]: 'team' };
const getOrg = async (orgId: string) => (plans[orgId] ? { orgId, plan: plans[orgId]! } : undefined);

type StatusEvent = Extract<HealthEvent, { type: 'mcp.endpoint.status.changed' }>;
const status = (orgId: string, mcp = 'github'): StatusEvent => ({
  type: 'mcp.endpoint.status.changed', orgId, mcp, endpointId: 'ep_1', region: 'us-east-1', from: 'healthy', to: 'unhealthy', at: '2026-03-01T10:00:00.000Z',
});
const tools = (orgId: string, mcp = 'github'): HealthEvent => ({
  type: 'mcp.tools.changed', orgId, mcp, region: 'us-east-1', hash: 'h2', added: ['a'], removed: [], changed: [], at: '2026-03-01T10:00:00.000Z',
});

const disabled = (orgId: string, endpointId = 'wh_aaaaaaaaaaaaaaaa'): WebhookEndpointDisabledEvent => ({
  type: 'webhook.endpoint.disabled', orgId, at: '2026-03-06T10:00:00.000Z', endpointId, reason: 'failing', failingSince: '2026-03-01T09:59:00.000Z',
});

let store: MemoryAlertStore;
let delivery: FakeDelivery;
let logged: Record<string, unknown>[];
let service: AlertService;

beforeEach(() => {
  store = new MemoryAlertStore();
  delivery = new FakeDelivery();
  logged = [];
  service = new AlertService({ store, delivery, getOrg, now: () => new Date('2026-03-01T09:00:00.000Z'), log: (r) => logged.push(r) });
});

const apiError = async (promise: Promise<unknown>) => {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ApiError);
  return [(error as ApiError).status, (error as ApiError).code];
};

describe('subscriptions', () => {
  test('create stores the delivery ref; events are de-duplicated in a fixed order', async () => {
    const s = await service.create(PRO, { type: 'email', address: ' ops@example.com ', events: ['mcp.tools.changed', 'mcp.endpoint.status.changed', 'mcp.tools.changed'] });
    expect(s).toEqual({
      subscriptionId: expect.stringMatching(/^al_[a-z2-7]{16}$/),
      orgId: PRO,
      type: 'email',
      address: 'ops@example.com',
      events: ['mcp.endpoint.status.changed', 'mcp.tools.changed'],
      createdAt: '2026-03-01T09:00:00.000Z',
      deliveryRef: `arn:sns:${s.subscriptionId}`,
    });
    expect(store.items.get(s.subscriptionId)).toEqual(s);
  });

  test('without events a subscription gets every alert type, webhook.endpoint.disabled included', async () => {
    const s = await service.create(PRO, { type: 'email', address: 'all@example.com' });
    expect(s.events).toEqual(['mcp.endpoint.status.changed', 'mcp.tools.changed', 'webhook.endpoint.disabled']);
    expect(delivery.log).toEqual(['subscribe all@example.com mcp.endpoint.status.changed,mcp.tools.changed,webhook.endpoint.disabled']);
    const only = await service.create(PRO, { type: 'email', address: 'hooks@example.com', events: ['webhook.endpoint.disabled'] });
    expect(only.events).toEqual(['webhook.endpoint.disabled']);
  });

  test('plan gate, unknown org, limit and duplicates are checked before anything is subscribed', async () => {
    expect(await apiError(service.create(FREE, { type: 'email', address: 'a@example.com' }))).toEqual([403, 'plan_required']);
    expect(await apiError(service.create('org_nnnnnnnnnnnnnnnn', { type: 'email', address: 'a@example.com' }))).toEqual([404, 'not_found']);
    for (let i = 0; i < MAX_ALERT_SUBSCRIPTIONS_PER_ORG; i++) await service.create(TEAM, { type: 'email', address: `a${i}@example.com` });
    delivery.log.length = 0;
    expect(await apiError(service.create(TEAM, { type: 'email', address: 'new@example.com' }))).toEqual([409, 'too_many_subscriptions']);
    expect(await apiError(service.create(TEAM, { type: 'email', address: 'A3@EXAMPLE.com' }))).toEqual([409, 'already_subscribed']);
    expect(delivery.log).toEqual([]);
  });

  test('an address the delivery already has with other settings is 409 address_in_use, nothing stored', async () => {
    delivery.subscribeError = new AddressInUseError();
    expect(await apiError(service.create(PRO, { type: 'email', address: 'a@example.com' }))).toEqual([409, 'address_in_use']);
    expect(store.items.size).toBe(0);
  });

  test('a failed store write undoes the delivery subscription', async () => {
    store.failCreate = true;
    await expect(service.create(PRO, { type: 'email', address: 'a@example.com' })).rejects.toThrow('dynamodb down');
    expect(delivery.log).toEqual([expect.stringMatching(/^subscribe a@example.com /), expect.stringMatching(/^unsubscribe arn:sns:al_/)]);
  });

  test('list oldest first (also on a free plan, to clean up after a downgrade); remove unsubscribes, then deletes', async () => {
    const first = await service.create(PRO, { type: 'email', address: 'a@example.com' });
    plans[PRO] = 'free';
    try {
      expect(await service.list(PRO)).toEqual([first]);
      await service.remove(PRO, first.subscriptionId);
    } finally {
      plans[PRO] = 'pro';
    }
    expect(delivery.log.at(-1)).toBe(`unsubscribe ${first.deliveryRef}`);
    expect(await service.list(PRO)).toEqual([]);
    expect(await apiError(service.remove(PRO, first.subscriptionId))).toEqual([404, 'not_found']);
    expect(await apiError(service.list('org_nnnnnnnnnnnnnnnn'))).toEqual([404, 'not_found']);
  });

  test('without a delivery every subscription call is 501 alerts_unavailable and dispatch publishes nothing', async () => {
    const none = new AlertService({ store, getOrg });
    expect(none.available).toBe(false);
    expect(await apiError(none.create(PRO, { type: 'email', address: 'a@example.com' }))).toEqual([501, 'alerts_unavailable']);
    expect(await apiError(none.list(PRO))).toEqual([501, 'alerts_unavailable']);
    expect(await apiError(none.remove(PRO, 'al_aaaaaaaaaaaaaaaa'))).toEqual([501, 'alerts_unavailable']);
    expect(await none.dispatch([status(PRO)])).toEqual({ published: 0, skipped: 1, failed: 0 });
  });
});

describe('dispatch', () => {
  test('publishes each event once, only for orgs on an alert plan with a subscription to that event type', async () => {
    await service.create(PRO, { type: 'email', address: 'a@example.com', events: ['mcp.endpoint.status.changed'] });
    await service.create(PRO, { type: 'email', address: 'b@example.com', events: ['mcp.endpoint.status.changed'] });
    await service.create(TEAM, { type: 'email', address: 'c@example.com', events: ['mcp.tools.changed'] });
    // A free org that still has a subscription from before a downgrade gets nothing.
    await store.createSubscription({ subscriptionId: 'al_ffffffffffffffff', orgId: FREE, type: 'email', address: 'f@example.com', events: ['mcp.endpoint.status.changed', 'mcp.tools.changed'], createdAt: 'x' });
    delivery.log.length = 0;
    const orgsAsked: string[] = [];
    const result = await service.dispatch(
      [status(PRO), tools(PRO), status(TEAM), tools(TEAM), status(FREE), tools(FREE), status('org_nnnnnnnnnnnnnnnn'), status(PRO, 'jira')],
      async (orgId) => {
        orgsAsked.push(orgId);
        return getOrg(orgId);
      },
    );
    expect(result).toEqual({ published: 3, skipped: 5, failed: 0 });
    expect(delivery.log).toEqual([
      `publish ${PRO} mcp.endpoint.status.changed github`,
      `publish ${PRO} mcp.endpoint.status.changed jira`,
      `publish ${TEAM} mcp.tools.changed github`,
    ]);
    // Each org is read once per batch.
    expect(orgsAsked).toEqual([PRO, TEAM, FREE, 'org_nnnnnnnnnnnnnnnn']);
  });

  test('a failed publish is logged and does not stop the others; a failed org read skips only that org', async () => {
    await service.create(PRO, { type: 'email', address: 'a@example.com' });
    await service.create(TEAM, { type: 'email', address: 'b@example.com' });
    delivery.log.length = 0;
    delivery.failPublishFor.add('broken');
    const result = await service.dispatch([status(PRO, 'broken'), status(PRO), tools(TEAM)], async (orgId) => {
      if (orgId === TEAM) throw new Error('registry down');
      return getOrg(orgId);
    });
    expect(result).toEqual({ published: 1, skipped: 0, failed: 2 });
    expect(delivery.log).toEqual([`publish ${PRO} mcp.endpoint.status.changed github`]);
    expect(logged).toEqual([
      { level: 'error', msg: 'alert dispatch: publish failed', orgId: PRO, mcp: 'broken', eventType: 'mcp.endpoint.status.changed', error: 'Error' },
      { level: 'error', msg: 'alert dispatch: reading the org or its subscriptions failed', orgId: TEAM, error: 'Error' },
    ]);
    expect(JSON.stringify(logged)).not.toMatch(/throttled|registry down/);
  });

  test('webhook.endpoint.disabled goes to the subscribers of that type; events of other types are skipped', async () => {
    await service.create(PRO, { type: 'email', address: 'a@example.com' }); // default: all types
    await service.create(TEAM, { type: 'email', address: 'b@example.com', events: ['mcp.endpoint.status.changed'] });
    delivery.log.length = 0;
    const keyRevoked: PlexEvent = { type: 'key.revoked', orgId: PRO, at: '2026-03-06T10:00:00.000Z', keyId: 'k_1', name: 'ci', role: 'member' };
    const result = await service.dispatch([disabled(PRO), disabled(TEAM), keyRevoked, disabled(FREE), status(PRO)]);
    expect(result).toEqual({ published: 2, skipped: 3, failed: 0 });
    expect(delivery.log).toEqual([
      `publish ${PRO} webhook.endpoint.disabled wh_aaaaaaaaaaaaaaaa`,
      `publish ${PRO} mcp.endpoint.status.changed github`,
    ]);
  });

  test('a failed webhook alert is logged with the endpoint id', async () => {
    await service.create(PRO, { type: 'email', address: 'a@example.com' });
    delivery.failPublishFor.add('wh_bbbbbbbbbbbbbbbb');
    expect(await service.dispatch([disabled(PRO, 'wh_bbbbbbbbbbbbbbbb')])).toEqual({ published: 0, skipped: 0, failed: 1 });
    expect(logged).toEqual([
      { level: 'error', msg: 'alert dispatch: publish failed', orgId: PRO, endpointId: 'wh_bbbbbbbbbbbbbbbb', eventType: 'webhook.endpoint.disabled', error: 'Error' },
    ]);
  });

  test('getOrg defaults to the service’s own', async () => {
    await service.create(PRO, { type: 'email', address: 'a@example.com' });
    expect(await service.dispatch([status(PRO), status(FREE)])).toEqual({ published: 1, skipped: 1, failed: 0 });
  });
});

describe('formatAlert', () => {
  test('a status change without an error class; no control characters anywhere', () => {
    const { subject, message } = formatAlert({ ...status(PRO), from: 'unknown', to: 'healthy', endpointId: 'ep_1\n\u0007x' });
    expect(subject).toBe('PlexMCP healthy: github endpoint ep_1??x (us-east-1)');
    expect(message).toContain('Status:        unknown -> healthy\n');
    expect(message).not.toContain('Error class');
    // eslint-disable-next-line no-control-regex
    expect(message.replace(/\n/g, '')).not.toMatch(/[\u0000-\u001f\u007f]/);
  });

  test('a first discovery has no previous hash', () => {
    const { message } = formatAlert(tools(PRO));
    expect(message).toContain('Hash:          h2\n');
    expect(message).toContain('Added:         a\nRemoved:       none\nChanged:       none\n');
  });
});

describe('formatAlert: webhook.endpoint.disabled', () => {
  // Fields a careless producer might add: none of them may reach the email.
  const leaky = { url: 'https://hooks.example.com/in?token=tok_s3cr3t', secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0' };
  const leaks = /hooks\.example|tok_s3cr3t|whsec_|https?:/;

  test('failing for 5 days: endpoint id, reason and failingSince, exactly', () => {
    const event = disabled(PRO);
    expect(parseEvent(event)).toEqual(event); // the catalog's shape
    const { subject, message } = formatAlert({ ...event, ...leaky } as WebhookEndpointDisabledEvent);
    expect(subject).toBe('PlexMCP webhook endpoint disabled: wh_aaaaaaaaaaaaaaaa (failing for 5 days)');
    expect(message).toBe(
      [
        'Every delivery to webhook endpoint wh_aaaaaaaaaaaaaaaa failed for 5 days, so delivery disabled it.',
        '',
        `Organisation:  ${PRO}`,
        'Endpoint id:   wh_aaaaaaaaaaaaaaaa',
        'Reason:        failing (no successful delivery for 5 days)',
        'Failing since: 2026-03-01T09:59:00.000Z',
        'At:            2026-03-06T10:00:00.000Z',
        '',
        'No events are delivered to it while it is disabled; deliveries that were pending end as gone.',
        'Once the receiver works again, re-enable it (PATCH /admin/v1/orgs/{orgId}/webhooks/{endpointId}',
        'with {"enabled": true}) and redeliver what it missed.',
        '',
        'You receive this because your organisation subscribed to webhook.endpoint.disabled alerts.',
        'List or remove subscriptions with `plexmcp alert list` and `plexmcp alert remove <id>`.',
        '',
      ].join('\n'),
    );
    expect(`${subject}\n${message}`).not.toMatch(leaks);
  });

  test('410 Gone without failingSince: no Failing since line', () => {
    const event: WebhookEndpointDisabledEvent = { type: 'webhook.endpoint.disabled', orgId: TEAM, at: '2026-03-06T10:00:00.000Z', endpointId: 'wh_cccccccccccccccc', reason: 'gone' };
    expect(parseEvent(event)).toEqual(event);
    const { subject, message } = formatAlert({ ...event, ...leaky } as WebhookEndpointDisabledEvent);
    expect(subject).toBe('PlexMCP webhook endpoint disabled: wh_cccccccccccccccc (410 Gone)');
    expect(message.split('\n').slice(0, 6)).toEqual([
      'Webhook endpoint wh_cccccccccccccccc answered 410 Gone, so delivery disabled it.',
      '',
      `Organisation:  ${TEAM}`,
      'Endpoint id:   wh_cccccccccccccccc',
      'Reason:        gone (410 Gone)',
      'At:            2026-03-06T10:00:00.000Z',
    ]);
    expect(message).not.toContain('Failing since');
    expect(`${subject}\n${message}`).not.toMatch(leaks);
  });

  test('a hostile endpoint id is reduced to printable characters and the subject stays under 100', () => {
    const { subject, message } = formatAlert({ ...disabled(PRO), endpointId: `wh_${'x'.repeat(200)}\r\nBcc: a@evil.example` });
    expect(subject.length).toBeLessThanOrEqual(99);
    expect(subject).toBe(`PlexMCP webhook endpoint disabled: wh_${'x'.repeat(34)}... (failing for 5 days)`);
    // eslint-disable-next-line no-control-regex
    expect(`${subject}${message.replace(/\n/g, '')}`).not.toMatch(/[\u0000-\u001f\u007f]/);
  });
});

describe('publishWithAlerts', () => {
  const busOf = (fail = false) => {
    const seen: PlexEvent[][] = [];
    return {
      seen,
      async publish(events: readonly PlexEvent[]) {
        seen.push([...events]);
        if (fail) throw new Error('PutEvents throttled');
      },
    };
  };
  const keyRevoked: PlexEvent = { type: 'key.revoked', orgId: PRO, at: '2026-03-06T10:00:00.000Z', keyId: 'k_1', name: 'ci', role: 'member' };

  test('every event goes to the bus; alert events also to dispatch', async () => {
    await service.create(PRO, { type: 'email', address: 'a@example.com' });
    delivery.log.length = 0;
    const bus = busOf();
    await publishWithAlerts(bus, service).publish([disabled(PRO), keyRevoked]);
    expect(bus.seen).toEqual([[disabled(PRO), keyRevoked]]);
    expect(delivery.log).toEqual([`publish ${PRO} webhook.endpoint.disabled wh_aaaaaaaaaaaaaaaa`]);
  });

  test('a bus failure still sends the alert, then is thrown; without a bus alerts alone are sent', async () => {
    await service.create(PRO, { type: 'email', address: 'a@example.com' });
    delivery.log.length = 0;
    await expect(publishWithAlerts(busOf(true), service).publish([disabled(PRO)])).rejects.toThrow('PutEvents throttled');
    await publishWithAlerts(undefined, service).publish([disabled(PRO)]);
    expect(delivery.log).toEqual([`publish ${PRO} webhook.endpoint.disabled wh_aaaaaaaaaaaaaaaa`, `publish ${PRO} webhook.endpoint.disabled wh_aaaaaaaaaaaaaaaa`]);
  });

  test('a batch without alert events does not ask alerts at all', async () => {
    let asked = 0;
    await publishWithAlerts(busOf(), { dispatch: async () => (asked++, { published: 0, skipped: 0, failed: 0 }) }).publish([keyRevoked]);
    expect(asked).toBe(0);
  });
});
