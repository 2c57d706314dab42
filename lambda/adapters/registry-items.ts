import { REGISTRY_TABLE } from '../core/registry-table';

/** Attributes of the registry table's layout (keys, index keys, TTL, bookkeeping), not of records. */
const LAYOUT_ATTRIBUTES = [
  REGISTRY_TABLE.partitionKey,
  REGISTRY_TABLE.sortKey,
  REGISTRY_TABLE.listIndex.partitionKey,
  REGISTRY_TABLE.listIndex.sortKey,
  REGISTRY_TABLE.ttlAttribute,
  'entity',
  'requestHash',
];

/** The domain record an item holds: the item without its layout attributes. */
export function recordOf<T>(item: Record<string, unknown>): T {
  const copy: Record<string, unknown> = { ...item };
  for (const attribute of LAYOUT_ATTRIBUTES) delete copy[attribute];
  return copy as T;
}
