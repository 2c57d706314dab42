/**
 * An MCP client approved by an org admin, the whole way a real one gets there: discovery from the
 * gateway's 401, dynamic client registration, authorization code with PKCE and a resource, the
 * consent page approved in the browser, the code exchanged for tokens. For tests that need a real
 * grant (the admin API's, the CLI's and the console's grant views).
 */
import type { Page } from 'playwright-core';
import { approveInBrowser, discover, pkce, startRedirectReceiver, tokenRequest } from './oauth-support';

export interface ApprovedClient {
  readonly clientId: string;
  readonly mcpUrl: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  /** Asks the token endpoint for new tokens with the refresh token: status and body. */
  refresh(): Promise<{ status: number; body: Record<string, unknown> }>;
}

/** Registers `clientName` for the MCP `slug` and has `adminKey` approve it on `page`. */
export async function approvedClient(page: Page, options: { baseUrl: string; slug: string; adminKey: string; clientName: string }): Promise<ApprovedClient> {
  const mcpUrl = `${options.baseUrl}/mcp/${options.slug}`;
  const found = await discover(mcpUrl);
  const receiver = await startRedirectReceiver();
  try {
    const registered = await fetch(found.server.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: options.clientName, redirect_uris: [receiver.url], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' }),
    });
    if (registered.status !== 201) throw new Error(`registration answered ${registered.status}`);
    const clientId = ((await registered.json()) as { client_id: string }).client_id;
    const { verifier, challenge } = pkce();
    const authorize = `${found.server.authorization_endpoint}?${new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: receiver.url,
      scope: found.challengeScope,
      state: 'approved-client',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      resource: found.resource.resource,
    })}`;
    const redirected = receiver.next();
    await approveInBrowser(page, authorize, options.adminKey);
    const code = (await redirected).get('code');
    if (!code) throw new Error('the consent page redirected without a code');
    const token = await tokenRequest(found.server.token_endpoint, { grant_type: 'authorization_code', code, redirect_uri: receiver.url, code_verifier: verifier, client_id: clientId, resource: found.resource.resource });
    if (token.status !== 200) throw new Error(`the token endpoint answered ${token.status}`);
    const refreshToken = token.body.refresh_token as string;
    return {
      clientId,
      mcpUrl,
      accessToken: token.body.access_token as string,
      refreshToken,
      refresh: () => tokenRequest(found.server.token_endpoint, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId, resource: found.resource.resource }),
    };
  } finally {
    await receiver.close();
  }
}
