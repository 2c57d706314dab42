/**
 * An `OAuthClientProvider` for the MCP SDK's client auth (`@modelcontextprotocol/sdk/client/auth.js`)
 * as a headless application would write one: it keeps what the SDK hands it (client information,
 * tokens, the PKCE verifier, the discovery state) in memory, and its `redirectToAuthorization`
 * sends the authorization URL to a "user agent" — in these tests the consent page approved in
 * headless Chromium — and keeps the query the loopback redirect receiver got back. Everything it
 * was given is recorded, so a test can check what the SDK discovered, registered and requested.
 */
import { randomBytes } from 'node:crypto';
import type { OAuthClientProvider, OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';

export interface RecordingProviderOptions {
  /** The loopback redirect receiver's URL (`http://127.0.0.1:<port>/callback`). */
  readonly redirectUrl: string;
  readonly clientName: string;
  /** A client ID metadata document's URL: the SDK then uses it as client_id instead of registering. */
  readonly clientMetadataUrl?: string;
  /** What the user does with the authorization URL: resolves with the query the redirect brought back. */
  readonly userAgent: (authorizationUrl: URL) => Promise<URLSearchParams>;
}

export class RecordingOAuthProvider implements OAuthClientProvider {
  readonly clientMetadataUrl?: string;
  /** Every authorization URL the SDK sent the user to, in order. */
  readonly authorizationUrls: URL[] = [];
  /** Every set of tokens the SDK saved, in order (an authorization, then each refresh). */
  readonly savedTokens: OAuthTokens[] = [];
  /** Every `invalidateCredentials` scope the SDK asked for, in order. */
  readonly invalidations: string[] = [];
  /** The query of the latest redirect back from the authorization server. */
  callback?: URLSearchParams;
  /** The `state` sent with the latest authorization URL. */
  sentState?: string;
  discovery?: OAuthDiscoveryState;
  private client?: OAuthClientInformationMixed;
  private current?: OAuthTokens;
  private verifier?: string;

  constructor(private readonly options: RecordingProviderOptions) {
    this.clientMetadataUrl = options.clientMetadataUrl;
  }

  get redirectUrl(): string {
    return this.options.redirectUrl;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.options.clientName,
      redirect_uris: [this.options.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state(): string {
    this.sentState = randomBytes(16).toString('base64url');
    return this.sentState;
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.client;
  }

  saveClientInformation(information: OAuthClientInformationMixed): void {
    this.client = information;
  }

  tokens(): OAuthTokens | undefined {
    return this.current;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.current = tokens;
    this.savedTokens.push(tokens);
  }

  /**
   * Replaces the access token the SDK will present, keeping the refresh token: what a client
   * holds once its access token has expired or been purged on the server (both are an unknown
   * token to the gateway, answered with 401 invalid_token).
   */
  replaceAccessToken(accessToken: string): void {
    if (!this.current) throw new Error('no tokens to replace');
    this.current = { ...this.current, access_token: accessToken };
  }

  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    this.authorizationUrls.push(authorizationUrl);
    this.callback = await this.options.userAgent(authorizationUrl);
  }

  saveCodeVerifier(codeVerifier: string): void {
    this.verifier = codeVerifier;
  }

  codeVerifier(): string {
    if (!this.verifier) throw new Error('no code verifier saved');
    return this.verifier;
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.discovery = state;
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this.discovery;
  }

  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    this.invalidations.push(scope);
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.current = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
    if (scope === 'all' || scope === 'discovery') this.discovery = undefined;
  }
}
