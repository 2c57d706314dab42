/**
 * Markers that exist at most once: the store's conditional write decides which of several
 * instances (or scans) gets to publish an event that must go out once (a quota threshold, an
 * expiring key). Claim first, then publish; a publish that fails releases the marker.
 */
export interface OnceMarks {
  /** Writes marker `id` unless it exists, as one conditional write: true when this call wrote it. */
  claim(id: string, expiresAtSeconds: number): Promise<boolean>;
  /** Takes back a marker this process claimed and could not act on, so that a later try claims it again. */
  release(id: string): Promise<void>;
}
