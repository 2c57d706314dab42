/** One webhook endpoint's recent deliveries, with their last attempt, and redelivery of a failed one. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { answer, type AdminApi, type AnswerOf, type PageItem } from '../api';
import { ErrorNote, Loaded, Time, useAction, useAsync } from '../ui';

type Delivery = PageItem<AnswerOf<AdminApi['orgs'][':orgId']['webhooks'][':endpointId']['deliveries']['$get']>>;

const RECENT = '20';
/** While a delivery is pending the list is read again this often, at most MAX_FOLLOW_UPS times in a row. */
const FOLLOW_UP_MS = 1_000;
const MAX_FOLLOW_UPS = 60;

export function WebhookDeliveries({ api, orgId, endpointId, endpointLabel, refresh }: { api: AdminApi; orgId: string; endpointId: string; endpointLabel: string; refresh: number }) {
  const [deliveries, reload] = useAsync(
    () => answer(api.orgs[':orgId'].webhooks[':endpointId'].deliveries.$get({ param: { orgId, endpointId }, query: { limit: RECENT } })),
    [api, orgId, endpointId, refresh],
  );
  // Follow a pending delivery until it settles (bounded), so a test event's result shows by itself.
  const followUps = useRef(0);
  const pending = deliveries.status === 'ok' && deliveries.value.items.some((d) => d.state === 'pending');
  useEffect(() => {
    if (!pending) {
      followUps.current = 0;
      return undefined;
    }
    if (followUps.current >= MAX_FOLLOW_UPS) return undefined;
    const timer = setTimeout(() => {
      followUps.current += 1;
      reload();
    }, FOLLOW_UP_MS);
    return () => clearTimeout(timer);
  }, [deliveries]);
  useEffect(() => {
    followUps.current = 0;
  }, [refresh]);
  const [redelivered, setRedelivered] = useState<string | undefined>(undefined);
  const redeliver = useAction(async (deliveryId: string) => {
    await answer(api.orgs[':orgId'].webhooks.deliveries[':deliveryId'].redeliver.$post({ param: { orgId, deliveryId } }));
    setRedelivered(deliveryId);
    followUps.current = 0;
    reload();
  });
  return (
    <section class="deliveries" aria-label={`Recent deliveries to ${endpointLabel}`}>
      <div class="page-header">
        <h4>Recent deliveries</h4>
        <button type="button" class="secondary" onClick={reload}>
          Refresh deliveries
        </button>
      </div>
      <ErrorNote error={redeliver.error} />
      {redelivered ? (
        <p class="muted" role="status">
          Delivery <code>{redelivered}</code> queued again.
        </p>
      ) : null}
      <Loaded state={deliveries}>
        {(page) =>
          page.items.length === 0 ? (
            <p class="muted">No deliveries yet.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Queued</th>
                  <th scope="col">Event type</th>
                  <th scope="col">Status</th>
                  <th scope="col" class="num">Attempts</th>
                  <th scope="col">Last response</th>
                  <th scope="col" class="num">Latency</th>
                  <th scope="col">Error class</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((delivery) => (
                  <DeliveryRow key={delivery.deliveryId} delivery={delivery} busy={redeliver.busy} onRedeliver={() => void redeliver.run(delivery.deliveryId)} />
                ))}
              </tbody>
            </table>
          )
        }
      </Loaded>
    </section>
  );
}

function DeliveryRow({ delivery, busy, onRedeliver }: { delivery: Delivery; busy: boolean; onRedeliver: () => void }) {
  const last = delivery.attemptLog.at(-1);
  const canRedeliver = delivery.state === 'failed' || delivery.state === 'gone';
  return (
    <tr data-delivery-id={delivery.deliveryId}>
      <td>
        <Time at={delivery.enqueuedAt} />
      </td>
      <td>
        <code>{delivery.eventType}</code>
      </td>
      <td>
        <span class={`badge ${delivery.state}`}>{delivery.state}</span>
        {delivery.redeliveries > 0 ? <span class="muted"> (redelivered {delivery.redeliveries}×)</span> : null}
        {delivery.state === 'pending' && delivery.nextAttemptAt ? (
          <div class="muted">
            next attempt <Time at={delivery.nextAttemptAt} />
          </div>
        ) : null}
      </td>
      <td class="num">{delivery.attempts}</td>
      <td>{last ? (last.status === undefined ? 'no response' : `HTTP ${last.status}`) : '—'}</td>
      <td class="num">{last ? `${Math.round(last.latencyMs)} ms` : '—'}</td>
      <td>{last?.errorClass ? <code>{last.errorClass}</code> : '—'}</td>
      <td>
        {canRedeliver ? (
          <button type="button" class="secondary" disabled={busy} onClick={onRedeliver}>
            Redeliver
          </button>
        ) : null}
      </td>
    </tr>
  );
}
