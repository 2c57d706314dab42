import type { AuditActor } from './entry';

/** An audit entry's actor in one line, as the CLI and the console show it. */
export function actorText(actor: AuditActor): string {
  switch (actor.kind) {
    case 'key':
      return `key ${actor.keyId} (${actor.name})`;
    case 'user':
      return `${actor.name} (${actor.subject} at ${actor.issuer})`;
    default:
      return actor.kind;
  }
}
