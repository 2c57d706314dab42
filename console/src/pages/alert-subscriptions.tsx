/** The org's email alert subscriptions: endpoint health changes, tool changes, a disabled webhook. */
import { useState } from 'preact/hooks';
import { answer, type AdminApi } from '../api';
import { ConfirmButton, describedBy, ErrorNote, Field, Loaded, Time, useAction, useAsync } from '../ui';

/** The alert event types the API accepts (CreateAlertSubscription.events). */
const ALERT_EVENTS = [
  { type: 'mcp.endpoint.status.changed', label: 'An MCP endpoint’s health changed' },
  { type: 'mcp.tools.changed', label: 'An MCP server’s tools changed' },
  { type: 'webhook.endpoint.disabled', label: 'A webhook endpoint was disabled' },
] as const;
type AlertEvent = (typeof ALERT_EVENTS)[number]['type'];

export function AlertSubscriptions({ api, orgId }: { api: AdminApi; orgId: string }) {
  const [subscriptions, reload] = useAsync(() => answer(api.orgs[':orgId'].alerts.$get({ param: { orgId } })), [api, orgId]);
  const [address, setAddress] = useState('');
  const [events, setEvents] = useState<readonly AlertEvent[]>([]);
  const add = useAction(async () => {
    await answer(api.orgs[':orgId'].alerts.$post({ param: { orgId }, json: { type: 'email', address: address.trim(), ...(events.length > 0 ? { events: [...events] } : {}) } }));
    setAddress('');
    setEvents([]);
    reload();
  });
  const remove = useAction(async (subscriptionId: string) => {
    await answer(api.orgs[':orgId'].alerts[':subscriptionId'].$delete({ param: { orgId, subscriptionId } }));
    reload();
  });
  const addressError = add.error?.forField('address');
  const eventsError = add.error?.details.find((d) => d.path.startsWith('events'))?.message;
  return (
    <section aria-labelledby="alerts-heading">
      <h2 id="alerts-heading">Email alerts</h2>
      <form
        class="panel"
        aria-labelledby="add-alert-heading"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void add.run();
        }}
      >
        <h3 id="add-alert-heading">Add an alert subscription</h3>
        <Field id="alert-address" label="Email address" error={addressError}>
          <input {...describedBy('alert-address', { error: addressError })} type="email" autoComplete="email" value={address} onInput={(e) => setAddress((e.target as HTMLInputElement).value)} />
        </Field>
        <fieldset class="event-types" aria-describedby="alert-events-hint">
          <legend>Alert on</legend>
          <small id="alert-events-hint" class="muted">
            None ticked: all of them.
          </small>
          {ALERT_EVENTS.map((event) => (
            <label key={event.type} class="checkbox">
              <input
                type="checkbox"
                checked={events.includes(event.type)}
                onChange={(e) => setEvents((e.target as HTMLInputElement).checked ? [...events, event.type] : events.filter((t) => t !== event.type))}
              />{' '}
              {event.label} (<code>{event.type}</code>)
            </label>
          ))}
          {eventsError ? (
            <small class="field-error" role="alert">
              {eventsError}
            </small>
          ) : null}
        </fieldset>
        <button type="submit" disabled={add.busy}>
          {add.busy ? 'Adding…' : 'Add alert'}
        </button>
        {addressError || eventsError ? null : <ErrorNote error={add.error} />}
      </form>
      <ErrorNote error={remove.error} />
      <Loaded state={subscriptions}>
        {(list) =>
          list.items.length === 0 ? (
            <p>No alert subscriptions.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Address</th>
                  <th scope="col">Events</th>
                  <th scope="col">Added</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.items.map((subscription) => (
                  <tr key={subscription.subscriptionId}>
                    <td>{subscription.address}</td>
                    <td>{subscription.events.join(', ')}</td>
                    <td>
                      <Time at={subscription.createdAt} />
                    </td>
                    <td>
                      <ConfirmButton question={`Stop sending alerts to ${subscription.address}?`} disabled={remove.busy} onConfirm={() => void remove.run(subscription.subscriptionId)}>
                        Remove {subscription.address}
                      </ConfirmButton>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Loaded>
    </section>
  );
}
