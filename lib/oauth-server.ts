import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { AUTHORIZATION_SERVER_WELL_KNOWN } from '../lambda/core/oauth/routes';
import { PROTECTED_RESOURCE_WELL_KNOWN } from '../lambda/core/oauth/resource-metadata';
import { DEFAULT_OAUTH_TABLE_NAME, OAUTH_TABLE } from '../lambda/core/oauth/table';
import { REGISTRY_TABLE } from '../lambda/core/registry-table';
import { IDENTITY_PROVIDER_ENV, IDENTITY_PROVIDER_SECRET_ENV, identityProviderProblem, type IdentityProviderConfig } from '../lambda/oauth/identity-provider-env';
import { grantAuditAppend } from './audit-log';
import { PlexFunction, PROJECT_ROOT } from './lambda-defaults';
import { type MethodThrottling, throttleMethod } from './private/stage';
import { REGISTRY_WRITE_PARTITIONS } from './registry-tables';

/** Default name of the cookie-key secret, the same in every region. */
export const DEFAULT_OAUTH_COOKIE_SECRET_NAME = 'plexmcp/oauth-cookie-keys';

/** Path of the authorization server's endpoints and consent page below the stage URL: `oauth/{proxy+}`. */
export const OAUTH_BASE_PATH = 'oauth';

/**
 * Default throttling of the authorization server's routes (each method on its own): an OAuth
 * client makes a handful of requests per sign-in and one refresh per 10 minutes; registration is
 * unauthenticated, so this bounds what anyone can make the function (and the table) do.
 */
export const DEFAULT_OAUTH_THROTTLING: MethodThrottling = { rateLimit: 20, burstLimit: 40 };

/** Default throttling of each metadata route (RFC 8414 and RFC 9728 documents, cacheable). */
export const DEFAULT_OAUTH_METADATA_THROTTLING: MethodThrottling = { rateLimit: 20, burstLimit: 40 };

/**
 * The partition of the registry's per-org usage item (`ORG#<orgId>` / `#USAGE`,
 * lambda/adapters/dynamodb-org-usage.ts), which creating and revoking a grant's backing key
 * counts against the plan's `maxApiKeys`, and the attributes those writes touch.
 */
const ORG_USAGE_PARTITIONS = 'ORG#*';
const ORG_USAGE_ATTRIBUTES = ['entity', 'mcpServers', 'apiKeys', 'version', 'changedAt', 'inFlight'];

/** Where grants are audited: the audit table every region writes to (the primary's). */
export interface OAuthAuditTable {
  /** Physical name of the audit table (lib/audit-log.ts). */
  readonly tableName: string;
  /** The region whose table is written (the primary's). */
  readonly region: string;
  /** ARN of the table in that region. @default - formatted from `tableName` and `region` */
  readonly tableArn?: string;
}

/**
 * The organisation's OpenID Provider (Amazon Cognito, Okta, Entra ID, any other) that org admins
 * may sign in with on the consent page, beside their org admin API keys. The consent page sends the
 * browser to the provider (authorization code with PKCE), and one claim of the ID token names the
 * org the user may approve OAuth clients for.
 *
 * The provider's app (client) must allow `<public base URL>/oauth/signin/callback` as a redirect
 * URI, for every name the API answers under (the custom domain, each `<region>.<domain>`, the
 * execute-api URL with its stage), and must put {@link orgClaim} in the ID token (not only in the
 * access token or at the userinfo endpoint).
 */
export interface OAuthIdentityProviderProps {
  /**
   * The provider's issuer, exactly as its discovery document (`<issuer>/.well-known/openid-configuration`)
   * names it: `https://cognito-idp.<region>.amazonaws.com/<user pool id>`,
   * `https://<org>.okta.com` (or `…/oauth2/<server>`), `https://login.microsoftonline.com/<tenant id>/v2.0`.
   * A literal `https://` URL without query, fragment or trailing slash after a path.
   */
  readonly issuer: string;

  /** The gateway's client id at the provider (a literal). */
  readonly clientId: string;

  /**
   * The client secret, for a confidential client (sent as `client_secret_basic`, or
   * `client_secret_post` where the provider lists only that): a secret whose
   * SecretString is the client secret itself, as plain text (not JSON key/value pairs). It is read
   * with the cookie keys, so a new value reaches every warm function within their re-read bound.
   * It must be readable in this construct's region: in a regional stack, pass that region's
   * replica (or a secret of its own).
   *
   * @default - none: a public client, PKCE only
   */
  readonly clientSecret?: secretsmanager.ISecret;

  /**
   * What the consent page's button says: "Sign in with <displayName>" (1-100 characters).
   *
   * @default - the issuer's host name
   */
  readonly displayName?: string;

  /**
   * The ID token claim that names the org the user administers: a string, or an array of strings
   * (`cognito:groups`, a Cognito custom attribute such as `custom:plexmcp_org`, Okta's `groups`,
   * Entra's `roles` or `groups`). A token naming no known org, or several, signs nobody in.
   */
  readonly orgClaim: string;

  /**
   * Claim values to org ids (`{ 'plexmcp-admins-acme': 'acme' }`): a value not listed grants
   * nothing. Org ids are 1-128 characters.
   *
   * @default - none: the claim's value is the org id itself
   */
  readonly orgs?: Record<string, string>;

  /**
   * The scopes asked for (`openid` is always among them); each without spaces. The provider's app
   * must allow them.
   *
   * @default ['openid', 'email', 'profile']
   */
  readonly scopes?: string[];
}

/**
 * The longest `PLEXMCP_IDP` value accepted, in bytes. Lambda allows 4 KB for all of a function's environment
 * variables, and the others take under 1 KB; a longer one fails the deployment, late and with a
 * vaguer message.
 */
const MAX_IDENTITY_PROVIDER_ENV_LENGTH = 2048;

/**
 * Properties for {@link OAuthServer}.
 */
export interface OAuthServerProps {
  /** The REST API to add the routes to, usually a {@link PlexApi}'s; its stage must be defined in this app. */
  readonly api: apigateway.IRestApi;

  /** The registry table in this region (the local replica of the global table). */
  readonly registryTable: dynamodb.ITableV2;

  /**
   * The gateway function of this region (an {@link McpGateway}'s): it reads access tokens from
   * the OAuth table (PLEXMCP_OAUTH_TABLE) and answers the protected resource metadata routes.
   */
  readonly gatewayFunction: lambda.IFunction;

  /** The audit table grants are recorded in (`grant.created`, `grant.revoked`). */
  readonly audit: OAuthAuditTable;

  /**
   * The bus `grant.created` and `grant.revoked` go on, usually the {@link HealthMonitor}'s.
   *
   * @default - no bus: grants are audited but not announced
   */
  readonly eventBus?: events.IEventBus;

  /**
   * Physical name of the OAuth table, the same in every region.
   *
   * @default 'plexmcp-oauth' - the table name of local mode
   */
  readonly tableName?: string;

  /**
   * Regions other than this one that get a replica of the OAuth table (their gateways read it
   * there). Only without {@link writerRegion}.
   *
   * @default - none: a single-region table
   */
  readonly replicaRegions?: string[];

  /**
   * The region whose stack owns the OAuth global table (the primary's). When set, this construct
   * creates no table: the gateway reads this region's replica of {@link tableName}, and the
   * authorization server writes the table in the writer region, because single-use codes and
   * refresh-token rotation are conditional writes, which a global table decides within one
   * region only.
   *
   * @default - this construct owns the table, in its own region
   */
  readonly writerRegion?: string;

  /**
   * Whether DynamoDB refuses to delete the OAuth table (only where this construct owns it).
   *
   * @default true
   */
  readonly deletionProtection?: boolean;

  /**
   * What happens to the table when it leaves the stack (only where this construct owns it).
   *
   * @default RemovalPolicy.RETAIN - grants would lose their refresh tokens and clients their registrations
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * The secret holding the keys that sign the authorization server's cookies and consent forms
   * (one string, or a JSON array newest first). Regional stacks pass the owner's replica.
   *
   * @default - a new secret with a generated 64-character key, replicated to {@link replicaRegions}
   */
  readonly cookieSecret?: secretsmanager.ISecret;

  /**
   * Name of the cookie-key secret this construct creates (without {@link cookieSecret}); its
   * replicas keep it, so regional stacks import the secret by it.
   *
   * @default 'plexmcp/oauth-cookie-keys'
   */
  readonly cookieSecretName?: string;

  /**
   * The deployment's public base URL (PLEXMCP_PUBLIC_BASE_URL of the OAuth and gateway
   * functions): the issuer and the base of every resource URI, for a custom domain with a base
   * path mapping, which API Gateway's event does not reveal. `https://host[/one-segment]`.
   *
   * @default - the domain each request came to (with the stage on the execute-api host name)
   */
  readonly publicBaseUrl?: string;

  /**
   * Throttling of each authorization server method (`ANY /oauth/{proxy+}`,
   * `GET /.well-known/oauth-authorization-server` and its `OPTIONS`).
   *
   * @default {@link DEFAULT_OAUTH_THROTTLING}
   */
  readonly throttling?: MethodThrottling;

  /**
   * Throttling of each protected resource metadata method.
   *
   * @default {@link DEFAULT_OAUTH_METADATA_THROTTLING}
   */
  readonly metadataThrottling?: MethodThrottling;

  /**
   * An identity provider org admins may sign in with on the consent page, beside their org admin
   * API keys (see {@link OAuthIdentityProviderProps}).
   *
   * @default - none: the consent page signs in with an org admin API key only
   */
  readonly identityProvider?: OAuthIdentityProviderProps;

  /**
   * Retention of the function's logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The gateway's OAuth 2.1 authorization server in one region (issue 13, docs/oauth-aws.md):
 * `ANY /oauth/{proxy+}` and `GET|OPTIONS /.well-known/oauth-authorization-server` to its own
 * function (oidc-provider and the consent page), and the protected resource metadata routes
 * (`GET|HEAD|OPTIONS /.well-known/oauth-protected-resource` and `…/{proxy+}`) to the gateway
 * function, on the same REST API as `/mcp/{slug}` (one origin: the issuer is the gateway's base URL).
 *
 * The OAuth table (oidc-provider's models, stored under hashes of their ids; lambda/core/oauth/table.ts)
 * is a global table owned by the primary region's construct and replicated to every other
 * region, where the gateway reads access tokens from its replica. The authorization server writes
 * it in the owner's region only. Its function gets single-item reads and writes and batch
 * deletes on that table and Query on its two indexes; reads on the registry, and writes of API key
 * items (a grant's backing key) and of the org's usage counts only; appends to the audit log;
 * PutEvents on the bus; read on the cookie-key secret. No KMS key: it handles no upstream credential.
 *
 * With {@link OAuthServerProps.identityProvider}, org admins may also sign in on the consent page
 * with the organisation's OpenID Provider (`PLEXMCP_IDP`, and read on the client secret in
 * `PLEXMCP_IDP_CLIENT_SECRET_ARN`). The provider's app must register
 * `<public base URL>/oauth/signin/callback` as a redirect URI, for every name the API answers
 * under (custom domain, `<region>.<domain>`, execute-api URL with its stage), and put the org claim
 * in the ID token.
 */
export class OAuthServer extends Construct {
  /** The authorization server's function. */
  public readonly function: lambda.IFunction;

  /** The OAuth table in this region (the owner's table, or this region's replica). */
  public readonly table: dynamodb.ITableV2;

  /** Physical name of the OAuth table, the same in every region. */
  public readonly tableName: string;

  /** The region where the authorization server writes the table. */
  public readonly writerRegion: string;

  /** ARN of the OAuth table in the writer region. */
  public readonly writerTableArn: string;

  /** The cookie-key secret (created here, or the one passed in). */
  public readonly cookieSecret: secretsmanager.ISecret;

  /** The `ANY /oauth/{proxy+}` method. */
  public readonly method: apigateway.Method;

  /** The `GET /.well-known/oauth-authorization-server` method. */
  public readonly metadataMethod: apigateway.Method;

  /** The protected resource metadata methods (gateway function), root form and path-inserted. */
  public readonly protectedResourceMethods: readonly apigateway.Method[];

  constructor(scope: Construct, id: string, props: OAuthServerProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const region = stack.region;

    const tableName = props.tableName ?? DEFAULT_OAUTH_TABLE_NAME;
    if (Token.isUnresolved(tableName) || !/^[A-Za-z0-9_.-]{3,255}$/.test(tableName)) {
      throw new Error(`OAuthServer ${id}: tableName must be a literal DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -), got ${JSON.stringify(tableName)}.`);
    }
    this.tableName = tableName;
    if (props.publicBaseUrl !== undefined && !/^https:\/\/[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::\d{1,5})?(?:\/[A-Za-z0-9_-]{1,128})?$/.test(props.publicBaseUrl)) {
      throw new Error(`OAuthServer ${id}: publicBaseUrl must be https://<lowercase host>[:port][/<one path segment>] without a trailing slash, got ${JSON.stringify(props.publicBaseUrl)}.`);
    }
    for (const [name, throttling] of [['throttling', props.throttling], ['metadataThrottling', props.metadataThrottling]] as const) {
      if (throttling !== undefined && !(throttling.rateLimit > 0 && Number.isInteger(throttling.burstLimit) && throttling.burstLimit >= 1)) {
        throw new Error(`OAuthServer ${id}: ${name} needs a rateLimit above 0 and a whole burstLimit of at least 1.`);
      }
    }

    const identityProvider = props.identityProvider === undefined ? undefined : identityProviderEnvironment(id, region, props.identityProvider);

    if (!(props.gatewayFunction instanceof lambda.Function)) {
      throw new Error(`OAuthServer ${id}: gatewayFunction must be a function defined in this app (its environment gets PLEXMCP_OAUTH_TABLE).`);
    }

    const replicaRegions = [...(props.replicaRegions ?? [])];
    if (props.writerRegion !== undefined) {
      // A regional stack: the owner's global table, through this region's replica.
      const writerRegion = props.writerRegion;
      if (replicaRegions.length > 0 || props.deletionProtection !== undefined || props.removalPolicy !== undefined || props.cookieSecretName !== undefined) {
        throw new Error(`OAuthServer ${id}: replicaRegions, deletionProtection, removalPolicy and cookieSecretName belong to the construct that owns the OAuth table, not to one with writerRegion.`);
      }
      if (Token.isUnresolved(writerRegion) || Token.isUnresolved(region) || writerRegion === region) {
        throw new Error(`OAuthServer ${id}: writerRegion must be a literal region other than the stack's own (${region}), got ${JSON.stringify(writerRegion)}.`);
      }
      if (props.cookieSecret === undefined) {
        throw new Error(`OAuthServer ${id}: with writerRegion, pass cookieSecret (this region's replica of the owner's secret): every region must sign cookies with the same keys.`);
      }
      this.table = dynamodb.TableV2.fromTableName(this, 'Table', tableName);
      this.writerRegion = writerRegion;
      this.writerTableArn = stack.formatArn({ service: 'dynamodb', region: writerRegion, resource: 'table', resourceName: tableName });
    } else {
      if (replicaRegions.length > 0 && Token.isUnresolved(region)) {
        // TableV2 needs to know which replica is local; an environment-agnostic stack cannot say.
        throw new Error(`OAuthServer ${id}: replicaRegions need a stack with a concrete region (set env.region).`);
      }
      if (new Set(replicaRegions).size !== replicaRegions.length || replicaRegions.includes(region)) {
        throw new Error(`OAuthServer ${id}: replicaRegions must be distinct regions other than the stack's own (${region}).`);
      }
      const str = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });
      // The same table as ensureOAuthTable creates locally (OAUTH_TABLE): pk only, two KEYS_ONLY
      // indexes, TTL. Replica-level settings (PITR, deletion protection) are set on the table and
      // inherited by every replica, as for the registry.
      const table = new dynamodb.TableV2(this, 'Table', {
        tableName,
        partitionKey: str(OAUTH_TABLE.partitionKey),
        globalSecondaryIndexes: [
          { indexName: OAUTH_TABLE.grantIndex.name, partitionKey: str(OAUTH_TABLE.grantIndex.partitionKey), projectionType: dynamodb.ProjectionType.KEYS_ONLY },
          { indexName: OAUTH_TABLE.sessionUidIndex.name, partitionKey: str(OAUTH_TABLE.sessionUidIndex.partitionKey), projectionType: dynamodb.ProjectionType.KEYS_ONLY },
        ],
        timeToLiveAttribute: OAUTH_TABLE.ttlAttribute,
        billing: dynamodb.Billing.onDemand(),
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        deletionProtection: props.deletionProtection ?? true,
        removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
        replicas: replicaRegions.map((replicaRegion) => ({ region: replicaRegion })),
      });
      this.table = table;
      this.writerRegion = region;
      this.writerTableArn = table.tableArn;
    }

    if (props.cookieSecret !== undefined) {
      this.cookieSecret = props.cookieSecret;
    } else {
      const cookieSecretName = props.cookieSecretName ?? DEFAULT_OAUTH_COOKIE_SECRET_NAME;
      if (Token.isUnresolved(cookieSecretName) || !/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(cookieSecretName) || /-[A-Za-z0-9]{6}$/.test(cookieSecretName)) {
        throw new Error(
          `OAuthServer ${id}: cookieSecretName must be a literal Secrets Manager name (1-512 of A-Z a-z 0-9 / _ + = . @ -) not ending in a hyphen and six characters (regional stacks import it by name), got ${JSON.stringify(cookieSecretName)}.`,
        );
      }
      const secret = new secretsmanager.Secret(this, 'CookieSecret', {
        secretName: cookieSecretName,
        description: 'PlexMCP OAuth: keys that sign the authorization server cookies and consent forms (one key, or a JSON array newest first), in every region',
        generateSecretString: { passwordLength: 64, excludePunctuation: true },
        replicaRegions: replicaRegions.map((replicaRegion) => ({ region: replicaRegion })),
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: 'The cookie keys sign short-lived cookies and consent forms (10-minute interactions). A rotation must keep the previous key after the new one until those expire, which a Secrets Manager rotation function replacing the value cannot do; the operator rotates with put-secret-value of a JSON array (new key first, old second), which every warm function reads within 5 minutes (docs/oauth-aws.md).',
      });
      this.cookieSecret = secret;
    }

    const fn = new PlexFunction(this, 'Function', {
      entry: path.join(PROJECT_ROOT, 'lambda', 'oauth', 'handler.ts'),
      description: 'PlexMCP OAuth authorization server (/oauth/*, /.well-known/oauth-authorization-server)',
      // Argon2id verification of the org admin's key on the consent page, as in the admin API.
      memorySize: 1024,
      timeout: Duration.seconds(29),
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      environment: {
        PLEXMCP_MODE: 'aws',
        PLEXMCP_REGISTRY_TABLE: props.registryTable.tableName,
        PLEXMCP_OAUTH_TABLE: tableName,
        PLEXMCP_OAUTH_REGION: this.writerRegion,
        PLEXMCP_AUDIT_TABLE: props.audit.tableName,
        PLEXMCP_AUDIT_REGION: props.audit.region,
        PLEXMCP_OAUTH_COOKIE_SECRET_ARN: this.cookieSecret.secretArn,
        ...(props.eventBus ? { PLEXMCP_EVENT_BUS_NAME: props.eventBus.eventBusName } : {}),
        ...(props.publicBaseUrl ? { PLEXMCP_PUBLIC_BASE_URL: props.publicBaseUrl } : {}),
        ...(identityProvider ? { [IDENTITY_PROVIDER_ENV]: identityProvider } : {}),
        ...(props.identityProvider?.clientSecret ? { [IDENTITY_PROVIDER_SECRET_ENV]: props.identityProvider.clientSecret.secretArn } : {}),
      },
    });
    this.function = fn;

    // The OAuth table in the writer region: oidc-provider's single-item reads and writes (find,
    // upsert, consume, destroy, a client's idle expiry), revocation of a grant (Query on byGrant,
    // BatchWriteItem deletes), sessions by uid (Query on bySessionUid). No Scan.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
        resources: [this.writerTableArn],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${this.writerTableArn}/index/${OAUTH_TABLE.grantIndex.name}`, `${this.writerTableArn}/index/${OAUTH_TABLE.sessionUidIndex.name}`],
      }),
    );

    // The registry: the org and its plan, its MCP servers (consent page), keys by id (the org
    // admin signing in, a grant's backing key) and by org (the list index: grants, key counts).
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:Query'], resources: [props.registryTable.tableArn] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${props.registryTable.tableArn}/index/${REGISTRY_TABLE.listIndex.name}`] }));
    // Writes: API key items (a grant's backing key is created, revoked, and an org admin's
    // lastUsedAt touched), and the org's usage counts (the plan's maxApiKeys), whose item shares
    // the org's partition: limited to the counting attributes, so no org, MCP server or setting
    // field is reachable. Single-item actions only, which always carry their leading key.
    const nullKey = { Null: { 'dynamodb:LeadingKeys': 'false' } };
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [props.registryTable.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [REGISTRY_WRITE_PARTITIONS.apiKeys] }, ...nullKey },
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:UpdateItem'],
        resources: [props.registryTable.tableArn],
        conditions: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [ORG_USAGE_PARTITIONS] },
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': [REGISTRY_TABLE.partitionKey, REGISTRY_TABLE.sortKey, ...ORG_USAGE_ATTRIBUTES] },
          ...nullKey,
        },
      }),
    );

    // grant.created / grant.revoked: appended to the org's audit chain in the audit region.
    grantAuditAppend(
      fn,
      props.audit.tableArn ?? stack.formatArn({ service: 'dynamodb', region: props.audit.region, resource: 'table', resourceName: props.audit.tableName }),
    );
    props.eventBus?.grantPutEventsTo(fn);
    this.cookieSecret.grantRead(fn);
    props.identityProvider?.clientSecret?.grantRead(fn);

    // The gateway reads access tokens from this region's table (a replica elsewhere): GetItem of
    // the token's item and of a session, Query of bySessionUid for a token bound to its session.
    // In a replica region, also the writer region's table: a token is used the moment it is issued,
    // before it has replicated (the gateway reads there on a miss, lambda/gateway/handler.ts).
    const gateway = props.gatewayFunction as lambda.Function;
    const tokenTables = this.writerRegion === region ? [this.table.tableArn] : [this.table.tableArn, this.writerTableArn];
    gateway.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:GetItem'], resources: tokenTables }));
    gateway.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: tokenTables.map((arn) => `${arn}/index/${OAUTH_TABLE.sessionUidIndex.name}`) }));
    gateway.addEnvironment('PLEXMCP_OAUTH_TABLE', tableName);
    if (this.writerRegion !== region) gateway.addEnvironment('PLEXMCP_OAUTH_REGION', this.writerRegion);
    if (props.publicBaseUrl) gateway.addEnvironment('PLEXMCP_PUBLIC_BASE_URL', props.publicBaseUrl);

    // Routes. The authorization server's: everything below /oauth/ (authorize, token, register,
    // revoke, jwks, consent) and the RFC 8414 document, with its CORS preflight (browser clients
    // send MCP-Protocol-Version). No request validator: oidc-provider validates every parameter.
    const throttling = props.throttling ?? DEFAULT_OAUTH_THROTTLING;
    const metadataThrottling = props.metadataThrottling ?? DEFAULT_OAUTH_METADATA_THROTTLING;
    const integration = new apigateway.LambdaIntegration(fn, { allowTestInvoke: false });
    const oauth = props.api.root.addResource(OAUTH_BASE_PATH);
    const proxy = oauth.addResource('{proxy+}');
    this.method = proxy.addMethod('ANY', integration, { requestParameters: { 'method.request.path.proxy': true } });
    throttleMethod(this.method, throttling, 'OAuthServer');

    const wellKnown = props.api.root.resourceForPath('/.well-known');
    const authorizationServer = wellKnown.addResource(AUTHORIZATION_SERVER_WELL_KNOWN.split('/').pop()!);
    this.metadataMethod = authorizationServer.addMethod('GET', integration);
    throttleMethod(this.metadataMethod, throttling, 'OAuthServer');
    throttleMethod(authorizationServer.addMethod('OPTIONS', integration), throttling, 'OAuthServer');

    // Protected resource metadata: the gateway function, through the same response-streaming
    // integration as /mcp/{slug} (its handler is a streaming one, and tells the routes apart by
    // event.resource); it answers without its runtime.
    const streaming = new apigateway.LambdaIntegration(gateway, { responseTransferMode: apigateway.ResponseTransferMode.STREAM, allowTestInvoke: false });
    const protectedRoot = wellKnown.addResource(PROTECTED_RESOURCE_WELL_KNOWN.split('/').pop()!);
    const protectedBelow = protectedRoot.addResource('{proxy+}');
    const methods: apigateway.Method[] = [];
    for (const resource of [protectedRoot, protectedBelow]) {
      for (const httpMethod of ['GET', 'HEAD', 'OPTIONS']) {
        const method = resource.addMethod(
          httpMethod,
          streaming,
          resource === protectedBelow ? { requestParameters: { 'method.request.path.proxy': true } } : undefined,
        );
        throttleMethod(method, metadataThrottling, 'OAuthServer');
        methods.push(method);
      }
    }
    this.protectedResourceMethods = methods;

    // The authorization server authenticates what needs it itself (PKCE and the client at the
    // token endpoint, an org admin key on the consent page); its discovery, registration and
    // authorize endpoints and the metadata documents are public by the OAuth and MCP specs.
    for (const resource of [oauth, wellKnown]) {
      for (const nagId of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
        Validations.of(resource).acknowledge({
          id: nagId,
          reason:
            'OAuth 2.1 endpoints are public by specification (RFC 8414/9728 metadata, RFC 7591 registration, authorization and token endpoints): clients prove themselves with PKCE, tokens and codes in the function, and the consent page signs in an org admin with an API key checked with Argon2id. An API Gateway authorizer cannot apply; each method has its own throttle and the stage its web ACL.',
        });
      }
    }
  }

  /**
   * Lets `grantee` (the admin API, which lists and revokes grants) delete the tokens of a grant:
   * Query of the byGrant index and deletes of what it finds, in the writer region's table (where
   * every token is written); with the table's name and region in its environment.
   */
  public grantTokenRevocation(grantee: lambda.Function): void {
    grantee.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${this.writerTableArn}/index/${OAUTH_TABLE.grantIndex.name}`] }));
    grantee.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'], resources: [this.writerTableArn] }));
    grantee.addEnvironment('PLEXMCP_OAUTH_TABLE', this.tableName);
    grantee.addEnvironment('PLEXMCP_OAUTH_REGION', this.writerRegion);
  }
}

/**
 * `PLEXMCP_IDP`: the identity provider without its secret, as JSON, after the checks the function
 * makes at init (lambda/oauth/identity-provider-env.ts), so a configuration that synthesizes is one
 * it accepts. Every field must be a literal: the value is written once, as JSON, at synthesis.
 */
function identityProviderEnvironment(id: string, region: string, props: OAuthIdentityProviderProps): string {
  const fail = (problem: string): never => {
    throw new Error(`OAuthServer ${id}: identityProvider.${problem}.`);
  };
  const config: IdentityProviderConfig = {
    issuer: props.issuer,
    clientId: props.clientId,
    ...(props.displayName !== undefined ? { displayName: props.displayName } : {}),
    orgClaim: props.orgClaim,
    ...(props.orgs !== undefined ? { orgs: props.orgs } : {}),
    ...(props.scopes !== undefined ? { scopes: props.scopes } : {}),
  };
  const unresolved = (value: unknown): boolean =>
    Token.isUnresolved(value) ||
    (Array.isArray(value) && value.some(unresolved)) ||
    (typeof value === 'object' && value !== null && Object.entries(value).some(([k, v]) => Token.isUnresolved(k) || unresolved(v)));
  for (const [field, value] of Object.entries(config)) {
    if (unresolved(value)) fail(`${field} must be a literal (it is written into the function's environment as JSON at synthesis), got a token`);
  }
  const problem = identityProviderProblem(config);
  if (problem !== undefined) fail(problem);

  const secretRegion = props.clientSecret?.env.region;
  if (secretRegion !== undefined && !Token.isUnresolved(secretRegion) && !Token.isUnresolved(region) && secretRegion !== region) {
    fail(`clientSecret is in ${secretRegion}, but the function runs in ${region}: pass a secret readable in ${region} (its replica there, imported in a stack of that region)`);
  }

  const json = JSON.stringify(config);
  const size = Buffer.byteLength(json);
  if (size > MAX_IDENTITY_PROVIDER_ENV_LENGTH) {
    throw new Error(
      `OAuthServer ${id}: identityProvider is too long for the function's environment: ${size} bytes as JSON, at most ${MAX_IDENTITY_PROVIDER_ENV_LENGTH} fit (Lambda allows 4 KB for all its variables). Map fewer claim values in orgs, or name the groups after the org ids and leave orgs out.`,
    );
  }
  return json;
}
