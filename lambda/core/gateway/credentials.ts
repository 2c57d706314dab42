import type { UpstreamAuth } from '../model';

/** The headers that carry an MCP server's upstream credential (gateway requests and health probes). */
export function credentialHeaders(auth: UpstreamAuth, secret: string | undefined): Record<string, string> {
  if (secret === undefined) return {};
  switch (auth.type) {
    case 'bearer':
      return { authorization: `Bearer ${secret}` };
    case 'basic':
      return { authorization: `Basic ${Buffer.from(`${auth.username}:${secret}`).toString('base64')}` };
    case 'header':
      return { [auth.headerName.toLowerCase()]: secret };
    case 'none':
      return {};
  }
}
