import type { AlertEventType } from './alert-service';
import type { Plan } from './model';

/** Plans whose orgs may subscribe to alerts (free gets none). */
export const ALERT_PLANS: ReadonlySet<Plan> = new Set(['pro', 'team', 'enterprise']);

/** An org's alert subscription: where health, tool-change and webhook-disabled alerts go. */
export interface AlertSubscription {
  readonly subscriptionId: string;
  readonly orgId: string;
  /** Email via Amazon SNS in AWS (the recipient confirms); logged locally. */
  readonly type: 'email';
  readonly address: string;
  /** Which events (ALERT_EVENT_TYPES): status changes, tool-list changes, disabled webhook endpoints. */
  readonly events: AlertEventType[];
  readonly createdAt: string;
  /** The delivery system's own id (the SNS subscription ARN), when it has one. */
  readonly deliveryRef?: string;
}
