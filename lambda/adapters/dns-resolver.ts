import { lookup } from 'node:dns/promises';
import type { Resolver } from '../core/url-policy';

/** Every address the system resolver returns for `hostname`, as the HTTP client would see them. */
export const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);
