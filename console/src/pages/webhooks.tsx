/**
 * Webhooks and alerts: the org's webhook endpoints (add, enable/disable, test, rotate the signing
 * secret, delete), each one's recent deliveries with redelivery, and the email alert
 * subscriptions. A signing secret is shown once, right after it is made; the API never returns
 * it again.
 */
import { useState } from 'preact/hooks';
import { answer, type AdminApi, type AnswerOf, type ApiFailure, type PageItem } from '../api';
import { useSession } from '../session-context';
import { ConfirmButton, CopyButton, describedBy, ErrorNote, Field, Loaded, PageHeader, Time, useAction, useAsync } from '../ui';
import { AlertSubscriptions } from './alert-subscriptions';
import { WebhookDeliveries } from './webhook-deliveries';

type WebhookEndpoint = PageItem<AnswerOf<AdminApi['orgs'][':orgId']['webhooks']['$get']>>;
type EventCatalog = AnswerOf<AdminApi['events']['$get']>;

/** A signing secret just made, for the one endpoint it belongs to. */
interface FreshSecret {
  readonly endpointId: string;
  readonly secret: string;
  readonly reason: 'created' | 'rotated';
  readonly previousSecretExpiresAt?: string;
}

/** The page has no sub-pages: the router's `rest` segments are not used. */
export function WebhooksPage(_route: { rest: readonly string[] }) {
  const { api, orgId } = useSession();
  if (orgId === undefined) return <PageHeader title="Webhooks & alerts" />;
  return (
    <>
      <PageHeader title="Webhooks & alerts" />
      <WebhookEndpoints api={api} orgId={orgId} />
      <AlertSubscriptions api={api} orgId={orgId} />
    </>
  );
}

/** What a plan refusal means for the reader (the API's own message stays next to it). */
function planText(error: ApiFailure | undefined): string | undefined {
  if (!error) return undefined;
  if (error.code === 'plan_required') return 'This organisation’s plan includes no webhook endpoints. Ask the operator to change the plan (or its webhook limit) to add one.';
  if (error.code === 'too_many_webhooks') return 'This organisation has as many webhook endpoints as its plan allows. Delete one, or ask the operator for a higher limit.';
  return undefined;
}

function WebhookEndpoints({ api, orgId }: { api: AdminApi; orgId: string }) {
  const [endpoints, reload] = useAsync(() => answer(api.orgs[':orgId'].webhooks.$get({ param: { orgId } })), [api, orgId]);
  const [org, reloadOrg] = useAsync(() => answer(api.orgs[':orgId'].$get({ param: { orgId } })), [api, orgId]);
  const [catalog] = useAsync(() => answer(api.events.$get()), [api]);
  const [fresh, setFresh] = useState<FreshSecret | undefined>(undefined);
  const limit = org.status === 'ok' ? org.value.limits.maxWebhookEndpoints : undefined;
  const used = endpoints.status === 'ok' ? endpoints.value.items.length : undefined;
  return (
    <section aria-labelledby="webhooks-heading">
      <h2 id="webhooks-heading">Webhook endpoints</h2>
      <p class="muted">
        Events are POSTed to each endpoint signed per the Standard Webhooks spec (<code>webhook-id</code>, <code>webhook-timestamp</code>, <code>webhook-signature</code>), retried with backoff until delivered.
        {limit !== undefined && used !== undefined ? ` This plan allows ${limit} endpoint${limit === 1 ? '' : 's'}; ${used} in use.` : ''}
      </p>
      {limit === 0 ? (
        <p class="warning" role="note">
          This organisation’s plan includes no webhook endpoints.
        </p>
      ) : null}
      <AddWebhook
        api={api}
        orgId={orgId}
        catalog={catalog.status === 'ok' ? catalog.value : undefined}
        onAdded={(created) => {
          setFresh({ endpointId: created.endpoint.endpointId, secret: created.secret, reason: 'created' });
          reload();
          reloadOrg();
        }}
      />
      <Loaded state={endpoints}>
        {(list) =>
          list.items.length === 0 ? (
            <p>No webhook endpoints yet.</p>
          ) : (
            <ul class="webhook-list">
              {list.items.map((endpoint) => (
                <li key={endpoint.endpointId}>
                  <EndpointCard
                    api={api}
                    orgId={orgId}
                    endpoint={endpoint}
                    fresh={fresh?.endpointId === endpoint.endpointId ? fresh : undefined}
                    onRotated={(secret, previousSecretExpiresAt) => setFresh({ endpointId: endpoint.endpointId, secret, reason: 'rotated', previousSecretExpiresAt })}
                    onChanged={() => {
                      if (fresh?.endpointId === endpoint.endpointId) setFresh(undefined);
                      reload();
                      reloadOrg();
                    }}
                  />
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
    </section>
  );
}

type Created = AnswerOf<AdminApi['orgs'][':orgId']['webhooks']['$post']>;

function AddWebhook({ api, orgId, catalog, onAdded }: { api: AdminApi; orgId: string; catalog: EventCatalog | undefined; onAdded: (created: Created) => void }) {
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [eventTypes, setEventTypes] = useState<readonly string[]>([]);
  const add = useAction(async () => {
    const created = await answer(
      api.orgs[':orgId'].webhooks.$post({
        param: { orgId },
        json: { url: url.trim(), ...(eventTypes.length > 0 ? { eventTypes: [...eventTypes] } : {}), ...(description.trim() ? { description: description.trim() } : {}) },
      }),
    );
    setUrl('');
    setDescription('');
    setEventTypes([]);
    onAdded(created);
  });
  const toggle = (type: string, on: boolean) => setEventTypes(on ? [...eventTypes, type] : eventTypes.filter((t) => t !== type));
  const urlError = add.error?.forField('url');
  const eventError = add.error?.details.find((d) => d.path.startsWith('eventTypes'))?.message;
  const descriptionError = add.error?.forField('description');
  const plan = planText(add.error);
  return (
    <form
      class="panel"
      aria-labelledby="add-webhook-heading"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void add.run();
      }}
    >
      <h3 id="add-webhook-heading">Add an endpoint</h3>
      <Field id="webhook-url" label="Endpoint URL" hint="https, on a public address (the gateway checks it again at every delivery)" error={urlError}>
        <input {...describedBy('webhook-url', { hint: true, error: urlError })} type="url" spellcheck={false} autoComplete="off" value={url} onInput={(e) => setUrl((e.target as HTMLInputElement).value)} />
      </Field>
      <Field id="webhook-description" label="Description (optional)" error={descriptionError}>
        <input {...describedBy('webhook-description', { error: descriptionError })} type="text" value={description} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} />
      </Field>
      <fieldset class="event-types" aria-describedby="webhook-events-hint">
        <legend>Event types</legend>
        <small id="webhook-events-hint" class="muted">
          None ticked: every event type.
        </small>
        {catalog === undefined ? (
          <p class="muted">Loading the event catalog…</p>
        ) : (
          <div class="event-type-grid">
            {catalog.items.map((item) => (
              <label key={item.type} class="checkbox">
                <input type="checkbox" checked={eventTypes.includes(item.type)} onChange={(e) => toggle(item.type, (e.target as HTMLInputElement).checked)} /> <code>{item.type}</code>
              </label>
            ))}
          </div>
        )}
        {eventError ? (
          <small class="field-error" role="alert">
            {eventError}
          </small>
        ) : null}
      </fieldset>
      <button type="submit" disabled={add.busy}>
        {add.busy ? 'Adding…' : 'Add endpoint'}
      </button>
      {plan ? (
        <p class="error plan-limit" role="alert">
          <strong>{plan}</strong> <span class="muted">({add.error!.message})</span> <code>{add.error!.code}</code>
        </p>
      ) : urlError || eventError || descriptionError ? null : (
        <ErrorNote error={add.error} />
      )}
    </form>
  );
}

function SecretOnce({ fresh }: { fresh: FreshSecret }) {
  return (
    <div class="warning secret-once" role="status">
      <p>
        <strong>{fresh.reason === 'created' ? 'Signing secret of the new endpoint' : 'New signing secret'}: copy it now — it is not shown again.</strong>{' '}
        Receivers verify each delivery’s signature with it.
        {fresh.previousSecretExpiresAt ? (
          <>
            {' '}
            The previous secret keeps signing too until <Time at={fresh.previousSecretExpiresAt} />.
          </>
        ) : null}
      </p>
      <div class="secret">
        <code aria-label="Signing secret">{fresh.secret}</code>
        <CopyButton text={fresh.secret} label="Copy secret" />
      </div>
    </div>
  );
}

function EndpointCard({
  api,
  orgId,
  endpoint,
  fresh,
  onRotated,
  onChanged,
}: {
  api: AdminApi;
  orgId: string;
  endpoint: WebhookEndpoint;
  fresh: FreshSecret | undefined;
  onRotated: (secret: string, previousSecretExpiresAt?: string) => void;
  onChanged: () => void;
}) {
  const param = { orgId, endpointId: endpoint.endpointId };
  const [deliveriesTick, setDeliveriesTick] = useState(0);
  const [sent, setSent] = useState<string | undefined>(undefined);
  const toggle = useAction(async () => {
    await answer(api.orgs[':orgId'].webhooks[':endpointId'].$patch({ param, json: { enabled: !endpoint.enabled } }));
    onChanged();
  });
  const test = useAction(async () => {
    const queued = await answer(api.orgs[':orgId'].webhooks[':endpointId'].test.$post({ param }));
    setSent(queued.deliveryId);
    setDeliveriesTick((t) => t + 1);
  });
  const rotate = useAction(async () => {
    const rotated = await answer(api.orgs[':orgId'].webhooks[':endpointId']['rotate-secret'].$post({ param, json: {} }));
    onRotated(rotated.secret, rotated.previousSecretExpiresAt);
  });
  const remove = useAction(async () => {
    await answer(api.orgs[':orgId'].webhooks[':endpointId'].$delete({ param }));
    onChanged();
  });
  const status = endpoint.enabled ? 'enabled' : endpoint.disabledReason === 'gone' ? 'disabled (the receiver answered 410 Gone)' : endpoint.disabledReason === 'failing' ? 'disabled (failing for 5 days)' : 'disabled';
  const headingId = `webhook-${endpoint.endpointId}`;
  const error = toggle.error ?? test.error ?? rotate.error ?? remove.error;
  return (
    <article class="panel webhook-endpoint" aria-labelledby={headingId}>
      <h3 id={headingId} class="webhook-url">
        {endpoint.url}
      </h3>
      <p>
        <span class={endpoint.enabled ? 'badge active' : 'badge disabled'}>{status}</span>{' '}
        <span class="muted">
          <code>{endpoint.endpointId}</code> · events: {endpoint.eventTypes.length === 0 ? 'every type' : endpoint.eventTypes.join(', ')}
          {endpoint.description ? ` · ${endpoint.description}` : ''} · added <Time at={endpoint.createdAt} />
        </span>
      </p>
      {fresh ? <SecretOnce fresh={fresh} /> : null}
      <div class="actions">
        <button type="button" class="secondary" disabled={toggle.busy} onClick={() => void toggle.run()}>
          {endpoint.enabled ? 'Disable' : 'Enable'}
        </button>
        <button type="button" disabled={test.busy || !endpoint.enabled} onClick={() => void test.run()}>
          {test.busy ? 'Sending…' : 'Send test event'}
        </button>
        <ConfirmButton class="secondary" question={`Rotate the signing secret of ${endpoint.url}? The previous secret keeps signing for a day, so receivers can switch.`} disabled={rotate.busy} onConfirm={() => void rotate.run()}>
          Rotate secret
        </ConfirmButton>
        <ConfirmButton question={`Delete the webhook endpoint ${endpoint.url}? Pending deliveries to it are dropped.`} disabled={remove.busy} onConfirm={() => void remove.run()}>
          Delete
        </ConfirmButton>
      </div>
      {sent ? (
        <p class="muted" role="status">
          Test event queued (delivery <code>{sent}</code>).
        </p>
      ) : null}
      <ErrorNote error={error} />
      <WebhookDeliveries api={api} orgId={orgId} endpointId={endpoint.endpointId} endpointLabel={endpoint.url} refresh={deliveriesTick} />
    </article>
  );
}
