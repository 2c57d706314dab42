import { CfnOutput, CrossStackReferences, ReferenceStrength, Stack, StackProps, Token, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { DEFAULT_REGISTRY_TABLE_NAME } from '../lambda/core/registry-table';
import { AdminApi } from './admin-api';
import { AuditLog, type AuditLogProps, denyAuditRewrites, grantAuditAppend } from './audit-log';
import { UsageAnalytics, type UsageAnalyticsProps } from './analytics';
import { OperationsDashboard } from './analytics-dashboard';
import { BackupCopyVault, RegistryBackup, type RegistryBackupOptions } from './backups';
import { CountersTable } from './counters-table';
import { CredentialsKey } from './credentials-key';
import { HealthMonitor } from './health-monitor';
import { McpGateway } from './mcp-gateway';
import { DEFAULT_OAUTH_COOKIE_SECRET_NAME, type OAuthIdentityProviderProps, OAuthServer, type OAuthServerProps } from './oauth-server';
import { RegionalOperatorAlarms, type RegionalOperatorAlarmsProps } from './operator-alarms';
import { PlexApi } from './plex-api';
import { RegionDomain, type RegionDomainOptions } from './region-domain';
import { RegistryTables } from './registry-tables';
import { DEFAULT_WEBHOOK_ENDPOINTS_TABLE_NAME, WebhookDelivery } from './webhook-delivery';

/** Default name of the operator token secret, the same in every region. */
export const DEFAULT_OPERATOR_SECRET_NAME = 'plexmcp/operator-token';

/**
 * Context key (optional): name of the operator token secret. Read by the primary stack when
 * its `operatorSecretName` prop is unset; regional stacks take the primary's name.
 */
export const OPERATOR_SECRET_NAME_CONTEXT = 'plexmcp:operatorSecretName';

// Secrets Manager names: 1-512 of A-Z a-z 0-9 / _ + = . @ -. A name that ends in a hyphen and six
// characters is refused: regional stacks address the secret by its partial ARN, which
// Secrets Manager cannot tell apart from a complete ARN (name + "-" + 6-character suffix).
/**
 * Context key (optional): `true` creates the opt-in Timestream database and table in every
 * region and has the analytics consumer write each usage record there. Off by default: Amazon
 * Timestream for LiveAnalytics takes no new customers since 2025-06-20.
 */
export const TIMESTREAM_CONTEXT = 'plexmcp:timestream';

const SECRET_NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SECRET_NAME_AMBIGUOUS_SUFFIX = /-[A-Za-z0-9]{6}$/;

/**
 * Properties for {@link PlexMcpStack}. `env.region` is required: every PlexMCP stack is
 * bound to one region.
 */
export interface PlexMcpStackProps extends StackProps {
  /**
   * The primary region's stack. When set, this is a regional stack: it uses the primary's
   * global table through its local replica and replicates the primary's credentials key. When
   * unset, this stack is the primary: it owns the global table and the multi-Region key.
   *
   * @default - this stack is the primary
   */
  readonly primary?: PlexMcpStack;

  /**
   * Regions other than this one that get a replica of the registry and of the credentials
   * key. Only for the primary stack; each of these regions needs its own regional stack
   * (with `primary` set to this stack) to run PlexMCP there.
   *
   * @default - none: a single-region deployment
   */
  readonly replicaRegions?: string[];

  /**
   * Physical name of the registry table (the primary stack only). A fixed name lets every
   * regional stack import its replica as a plain string; two installations in one account
   * need two names.
   *
   * @default 'plexmcp-registry' - the table name of local mode
   */
  readonly registryTableName?: string;

  /**
   * Whether DynamoDB refuses to delete the registry table (the primary stack only).
   *
   * @default true
   */
  readonly registryDeletionProtection?: boolean;

  /**
   * Name of the operator token secret (the primary stack only). The primary stack creates it
   * and replicates it to every replica region, where Secrets Manager keeps the same name; every
   * regional admin API reads its local replica by that name. Two installations in one account
   * need two names.
   *
   * @default - the context value `plexmcp:operatorSecretName`, else 'plexmcp/operator-token'
   */
  readonly operatorSecretName?: string;

  /**
   * Reserved concurrency of this region's gateway function (see
   * `McpGatewayProps.reservedConcurrentExecutions`; 0 for no reservation).
   *
   * @default 100
   */
  readonly gatewayReservedConcurrentExecutions?: number;

  /**
   * Options of this region's analytics pipeline (see {@link UsageAnalyticsProps}). Its
   * `timestream` defaults to the context value `plexmcp:timestream` (`true` or `false`).
   *
   * @default - the defaults of UsageAnalytics; Timestream off
   */
  readonly analytics?: Omit<UsageAnalyticsProps, 'gatewayLogGroup' | 'operatorAlarmTopic'>;

  /**
   * Options of the audit log (the primary stack only, which owns it: the audit table, replicated
   * to every replica region for reads, the digest signing key, the Object Lock archive and the
   * digest schedule). Every region's admin API writes audit entries to the primary region's table.
   *
   * @default - the defaults of AuditLog (table 'plexmcp-audit', 365-day COMPLIANCE retention, daily digests)
   */
  readonly audit?: Pick<AuditLogProps, 'tableName' | 'deletionProtection' | 'retention' | 'digestInterval'>;

  /**
   * Physical name of the webhook endpoints table (the primary stack only, which owns it as a
   * global table replicated to every replica region; regional stacks use their replica by this
   * name). Two installations in one account need two names.
   *
   * @default 'plexmcp-webhook-endpoints'
   */
  readonly webhookEndpointsTableName?: string;

  /**
   * The custom domain of this region (see {@link RegionDomain}): TLS 1.3 domains for the one name
   * and `<region>.<name>`, the default execute-api endpoint disabled, and with a hosted zone the
   * latency record and health check of this region. The same `domainName` in every region.
   *
   * @default - no custom domain: the API is served on its execute-api URL
   */
  readonly domain?: RegionDomainOptions;

  /**
   * AWS Backup of the shared tables (the primary stack only; see {@link RegistryBackup}): daily,
   * 35 days, a vault with its own KMS key. `copyRegion` defaults to the first replica region,
   * whose stack creates the copy vault (a single-region deployment has no copy unless one is
   * named; `null` turns the copy off).
   *
   * @default - the defaults of RegistryBackup, copied to the first replica region if there is one
   */
  readonly backup?: RegistryBackupOptions;

  /**
   * Thresholds of this region's operator alarms (see {@link RegionalOperatorAlarms}).
   *
   * @default - the defaults of RegionalOperatorAlarms
   */
  readonly operatorAlarms?: Omit<RegionalOperatorAlarmsProps, 'api' | 'stageName' | 'gatewayFunction' | 'tables' | 'replicatedTables' | 'operatorAlarmTopic'>;

  /**
   * Options of the OAuth authorization server (see {@link OAuthServer}). `tableName`,
   * `deletionProtection` and `cookieSecretName` belong to the primary stack, which owns the OAuth
   * global table and the cookie-key secret (both replicated to every replica region); the others
   * apply to this region. Give every region's stack the same `identityProvider` (a consent may
   * finish in another region than it started in).
   *
   * @default - the defaults of OAuthServer (table 'plexmcp-oauth', secret 'plexmcp/oauth-cookie-keys', no identity provider)
   */
  readonly oauth?: Pick<OAuthServerProps, 'tableName' | 'deletionProtection' | 'cookieSecretName' | 'publicBaseUrl' | 'throttling' | 'metadataThrottling'> & {
    readonly identityProvider?: PlexMcpIdentityProvider;
  };
}

/**
 * The consent page's identity provider of a {@link PlexMcpStack}: {@link OAuthIdentityProviderProps},
 * with the client secret named rather than passed, so that one configuration serves every region.
 */
export interface PlexMcpIdentityProvider extends Omit<OAuthIdentityProviderProps, 'clientSecret'> {
  /**
   * Name of the Secrets Manager secret whose value is the client secret (plain text), present in
   * every region of the deployment under this name (one secret with replicas): each region's
   * stack imports it by name.
   *
   * @default - none: a public client, PKCE only
   */
  readonly clientSecretName?: string;
}

/**
 * PlexMCP in one region. The primary region's stack owns the data that every region shares
 * (the registry global table, the multi-Region primary key, the operator token secret); each
 * other region's stack uses its local replica of all three. Every stack has its own REST API
 * (behind a WAF web ACL) with the admin API and the MCP gateway on it, its own counters
 * table (rate limits and quotas are counted per region), and its own health monitor, which
 * checks every endpoint from that region and has its own event bus, operator alarm topic and
 * organisation alerts topic. All admin APIs accept the one operator token.
 *
 * The registry table has a fixed name, so a regional stack imports its replica by name. The
 * primary key's ARN (chosen by KMS) travels through CDK's cross-region references
 * (`crossRegionReferences: true`): an SSM parameter that the primary stack writes into each
 * replica region at deploy time, so one `cdk deploy --all` deploys everything in order. The
 * operator secret has a fixed name too, and its replicas keep it, so a regional stack imports
 * it by name.
 */
export class PlexMcpStack extends Stack {
  /** True for the primary region's stack. */
  public readonly isPrimary: boolean;

  /** The registry table in this region. */
  public readonly registryTable: dynamodb.ITableV2;

  /** Physical name of the registry table, the same in every region. */
  public readonly registryTableName: string;

  /** The credentials key in this region (the primary key or its replica). */
  public readonly credentialsKey: kms.IKey;

  /** The regions that hold a replica (primary stack), or empty (regional stack). */
  public readonly replicaRegions: readonly string[];

  /** Name of the operator token secret, the same in every region. */
  public readonly operatorSecretName: string;

  /** The operator token secret in this region (created by the primary, a replica elsewhere). */
  public readonly operatorSecret: secretsmanager.ISecret;

  /** This region's rate-limit and quota counters (regional, never replicated). */
  public readonly countersTable: dynamodb.ITableV2;

  /** This region's REST API (with its WAF web ACL), shared by the admin API and the gateway. */
  public readonly api: PlexApi;

  /** This region's admin API. */
  public readonly adminApi: AdminApi;

  /** This region's MCP gateway. */
  public readonly gateway: McpGateway;

  /** This region's health monitor (its event bus, alarm topic and organisation alerts topic). */
  public readonly healthMonitor: HealthMonitor;

  /** This region's analytics pipeline (usage stream, consumer, rollup table, S3 export). */
  public readonly analytics: UsageAnalytics;

  /** This region's CloudWatch dashboard and request-path alarms. */
  public readonly operations: OperationsDashboard;

  /** The audit log (primary stack only; regional stacks write to the primary region's table). */
  public readonly auditLog?: AuditLog;

  /** Physical name of the audit table, the same in every region. */
  public readonly auditTableName: string;

  /** The region whose audit table every admin API writes to (the primary's region). */
  public readonly auditRegion: string;

  /**
   * ARN of the KMS key that signs the audit digests: the primary's AuditLog key, in the primary's
   * region. Regional stacks take the primary's (a cross-region reference); every admin API reads
   * its public key (`kms:GetPublicKey`) to serve it with the digests.
   */
  public readonly digestKeyArn: string;

  /**
   * This region's webhook delivery (queue, DLQ, delivery function, this region's deliveries table)
   * and the endpoints global table: owned by the primary, this region's replica elsewhere.
   */
  public readonly webhooks: WebhookDelivery;

  /** Physical name of the webhook endpoints table, the same in every region. */
  public readonly webhookEndpointsTableName: string;

  /** The region where webhook endpoints are written (the primary's). */
  public readonly webhookEndpointsRegion: string;

  /** This region's custom domain, certificate and Route 53 records (with `domain`). */
  public readonly domain?: RegionDomain;

  /** The backup plan and vault of the shared tables (primary stack only). */
  public readonly backup?: RegistryBackup;

  /** The vault the primary's backups are copied to (the stack of the primary's copy region only). */
  public readonly backupCopyVault?: BackupCopyVault;

  /** This region's further operator alarms (latency, throttles, concurrency, DynamoDB, replication). */
  public readonly operatorAlarms: RegionalOperatorAlarms;

  /**
   * This region's OAuth authorization server (its function and routes) and the protected resource
   * metadata routes of the gateway; the OAuth table is the primary's global table.
   */
  public readonly oauthServer: OAuthServer;

  /** Physical name of the OAuth table, the same in every region. */
  public readonly oauthTableName: string;

  /** The region where the OAuth table is written (the primary's). */
  public readonly oauthRegion: string;

  /** Name of the OAuth cookie-key secret, the same in every region. */
  public readonly oauthCookieSecretName: string;

  constructor(scope: Construct, id: string, props: PlexMcpStackProps) {
    super(scope, id, { ...props, crossRegionReferences: props.crossRegionReferences ?? true });
    if (props.primary !== undefined) {
      // Strong references (an SSM parameter per consumer region, written by the primary stack)
      // keep the primary stack from dropping the key while a regional stack still replicates
      // it. Explicit, so that a change of CDK's default cannot switch the mechanism under a
      // deployed app. Context must be set before this stack has children.
      CrossStackReferences.of(this).consume(ReferenceStrength.STRONG);
    }

    if (Token.isUnresolved(this.region)) {
      throw new Error(`PlexMcpStack ${id}: env.region is required (one stack per region).`);
    }
    const primary = props.primary;
    this.isPrimary = primary === undefined;

    if (primary === undefined) {
      const replicaRegions = [...(props.replicaRegions ?? [])];
      this.replicaRegions = replicaRegions;
      this.registryTableName = props.registryTableName ?? DEFAULT_REGISTRY_TABLE_NAME;
      const tables = new RegistryTables(this, 'RegistryTables', {
        tableName: this.registryTableName,
        replicaRegions,
        deletionProtection: props.registryDeletionProtection,
      });
      this.registryTable = tables.registry;
      this.credentialsKey = new CredentialsKey(this, 'CredentialsKey').key;

      this.operatorSecretName = operatorSecretNameOf(this, id, props.operatorSecretName);
      const operatorSecret = new secretsmanager.Secret(this, 'OperatorSecret', {
        secretName: this.operatorSecretName,
        description: 'PlexMCP operator token (Authorization: Bearer) for the admin API in every region',
        generateSecretString: { passwordLength: 48, excludePunctuation: true },
        // Each replica is encrypted with aws/secretsmanager in its region and keeps the name.
        replicaRegions: replicaRegions.map((region) => ({ region })),
      });
      Validations.of(operatorSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: 'The operator token is a bearer token held by the operator (CLI config); automatic rotation would silently lock the operator out. The operator rotates it deliberately with put-secret-value and updates the CLI at the same time.',
      });
      this.operatorSecret = operatorSecret;
    } else {
      if (
        props.replicaRegions !== undefined ||
        props.registryTableName !== undefined ||
        props.registryDeletionProtection !== undefined ||
        props.operatorSecretName !== undefined ||
        props.audit !== undefined ||
        props.webhookEndpointsTableName !== undefined
      ) {
        throw new Error(
          `PlexMcpStack ${id}: replicaRegions, registryTableName, registryDeletionProtection, audit, operatorSecretName and webhookEndpointsTableName belong to the primary stack.`,
        );
      }
      if (props.oauth?.tableName !== undefined || props.oauth?.deletionProtection !== undefined || props.oauth?.cookieSecretName !== undefined) {
        throw new Error(`PlexMcpStack ${id}: oauth.tableName, oauth.deletionProtection and oauth.cookieSecretName belong to the primary stack.`);
      }
      if (!primary.isPrimary) {
        throw new Error(`PlexMcpStack ${id}: primary ${primary.stackName} is itself a regional stack.`);
      }
      if (!primary.replicaRegions.includes(this.region)) {
        throw new Error(
          `PlexMcpStack ${id}: region ${this.region} is not a replica region of the primary stack ${primary.stackName} (replicas: ${primary.replicaRegions.join(', ') || 'none'}).`,
        );
      }
      this.replicaRegions = [];
      this.registryTableName = primary.registryTableName;
      // The global table's replica in this region has the primary table's name.
      this.registryTable = dynamodb.TableV2.fromTableName(this, 'RegistryTable', this.registryTableName);
      this.credentialsKey = new CredentialsKey(this, 'CredentialsKey', {
        primaryKeyArn: primary.credentialsKey.keyArn,
      }).key;
      // The primary's secret replicated to this region, under the same name. Its ARN is the
      // partial ARN arn:...:secret:<name> (the 6-character suffix is chosen by Secrets Manager),
      // which GetSecretValue accepts as SecretId; grants cover <name>-?????? only.
      this.operatorSecretName = primary.operatorSecretName;
      this.operatorSecret = secretsmanager.Secret.fromSecretNameV2(this, 'OperatorSecret', this.operatorSecretName);
      // Implied by the cross-region references too; explicit so the order survives refactoring.
      this.addStackDependency(primary, 'the global table replica, the primary key and the operator secret replica are created by the primary stack');
    }

    // Everything below exists once in every region, the primary included.
    this.countersTable = new CountersTable(this, 'Counters').table;
    // With a custom domain, the default execute-api endpoint (TLS 1.2) would bypass its TLS 1.3 policy.
    this.api = new PlexApi(this, 'Api', { disableExecuteApiEndpoint: props.domain !== undefined });
    this.healthMonitor = new HealthMonitor(this, 'HealthMonitor', {
      registryTable: this.registryTable,
      credentialsKey: this.credentialsKey,
      // key.expiring is claimed with a conditional write on the registry, a global table whose
      // conditions decide within one region only: exactly one region scans, the primary.
      keyExpiryScan: this.isPrimary,
    });
    this.adminApi = new AdminApi(this, 'AdminApi', {
      api: this.api.api,
      registryTable: this.registryTable,
      credentialsKey: this.credentialsKey,
      operatorSecret: this.operatorSecret,
      orgAlertsTopic: this.healthMonitor.orgAlertsTopic,
    });
    this.gateway = new McpGateway(this, 'Gateway', {
      api: this.api.api,
      registryTable: this.registryTable,
      countersTable: this.countersTable,
      credentialsKey: this.credentialsKey,
      reservedConcurrentExecutions: props.gatewayReservedConcurrentExecutions,
      // One topic for every operator alarm of the region.
      operatorAlarmTopic: this.healthMonitor.operatorAlarmTopic,
      // org.quota.threshold events go on the region's one bus (and from there to webhooks).
      eventBus: this.healthMonitor.eventBus,
    });
    if (props.domain !== undefined) {
      this.domain = new RegionDomain(this, 'Domain', { ...props.domain, api: this.api.api, operatorAlarmTopic: this.healthMonitor.operatorAlarmTopic });
    }

    // The audit log. Its table is written in one region only (the primary's): the per-org
    // sequence claim is a conditional write, which a global table honours within a region only.
    // Replica regions hold read replicas; their admin APIs write across regions to the primary.
    if (primary === undefined) {
      this.auditLog = new AuditLog(this, 'AuditLog', {
        ...props.audit,
        registryTable: this.registryTable,
        eventBus: this.healthMonitor.eventBus,
        replicaRegions: [...this.replicaRegions],
      });
      this.auditTableName = this.auditLog.tableName;
      this.auditRegion = this.region;
      this.digestKeyArn = this.auditLog.signingKey.keyArn;
      this.auditLog.grantAppend(this.adminApi.function);
    } else {
      this.auditTableName = primary.auditTableName;
      this.auditRegion = primary.auditRegion;
      // A cross-region reference (like the credentials key's ARN): the key lives in the primary region.
      this.digestKeyArn = primary.digestKeyArn;
      grantAuditAppend(
        this.adminApi.function,
        Stack.of(this).formatArn({ service: 'dynamodb', region: this.auditRegion, resource: 'table', resourceName: this.auditTableName }),
      );
    }
    // The digest routes serve the signing key's public key with the digests (grantAuditRead,
    // part of the append grant, covers the Query on DIGEST# items). Only that key, only that action.
    this.adminApi.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['kms:GetPublicKey'], resources: [this.digestKeyArn] }));
    if (this.adminApi.function instanceof lambda.Function) {
      this.adminApi.function.addEnvironment('PLEXMCP_AUDIT_TABLE', this.auditTableName);
      this.adminApi.function.addEnvironment('PLEXMCP_AUDIT_REGION', this.auditRegion);
      this.adminApi.function.addEnvironment('PLEXMCP_DIGEST_KEY_ID', this.digestKeyArn);
    }

    // The OAuth authorization server, on the same REST API (one origin with /mcp/{slug}). Its
    // table is the primary's global table: written in the primary region only (single-use codes
    // and refresh-token rotation are conditional writes), read by each gateway in its own region.
    // Grants are audited like admin changes, in the audit region; the cookie keys are one
    // secret, replicated under its name.
    this.oauthServer = new OAuthServer(this, 'OAuth', {
      api: this.api.api,
      registryTable: this.registryTable,
      gatewayFunction: this.gateway.function,
      audit: { tableName: this.auditTableName, region: this.auditRegion, ...(this.auditLog ? { tableArn: this.auditLog.table.tableArn } : {}) },
      eventBus: this.healthMonitor.eventBus,
      publicBaseUrl: props.oauth?.publicBaseUrl,
      throttling: props.oauth?.throttling,
      metadataThrottling: props.oauth?.metadataThrottling,
      identityProvider: identityProviderIn(this, props.oauth?.identityProvider),
      ...(primary === undefined
        ? { tableName: props.oauth?.tableName, deletionProtection: props.oauth?.deletionProtection, cookieSecretName: props.oauth?.cookieSecretName, replicaRegions: [...this.replicaRegions] }
        : {
            tableName: primary.oauthTableName,
            writerRegion: primary.oauthRegion,
            // The primary's secret replicated to this region, under the same name (as the operator secret).
            cookieSecret: secretsmanager.Secret.fromSecretNameV2(this, 'OAuthCookieSecret', primary.oauthCookieSecretName),
          }),
    });
    // The admin API lists and revokes grants: revoking one deletes its tokens.
    if (this.adminApi.function instanceof lambda.Function) this.oauthServer.grantTokenRevocation(this.adminApi.function);
    this.oauthTableName = this.oauthServer.tableName;
    this.oauthRegion = this.oauthServer.writerRegion;
    this.oauthCookieSecretName = primary === undefined ? (props.oauth?.cookieSecretName ?? DEFAULT_OAUTH_COOKIE_SECRET_NAME) : primary.oauthCookieSecretName;

    // Admin events (mcp.created|updated|deleted, key.created|revoked) go on the region's bus.
    this.healthMonitor.eventBus.grantPutEventsTo(this.adminApi.function);
    // Webhooks, in every region: the rule takes every plexmcp.* event of this region's bus, and
    // fans it out to every endpoint of the org, wherever it was registered. The endpoints are one
    // global table owned by the primary; every admin API writes them there (the per-org cap and
    // the version checks are conditional writes, decided within one region only), every delivery
    // function reads its local replica. Deliveries stay regional.
    this.webhookEndpointsTableName = primary === undefined ? (props.webhookEndpointsTableName ?? DEFAULT_WEBHOOK_ENDPOINTS_TABLE_NAME) : primary.webhookEndpointsTableName;
    this.webhookEndpointsRegion = primary === undefined ? this.region : primary.webhookEndpointsRegion;
    this.webhooks = new WebhookDelivery(this, 'Webhooks', {
      eventBus: this.healthMonitor.eventBus,
      registryTable: this.registryTable,
      endpointsTableName: this.webhookEndpointsTableName,
      ...(primary === undefined ? { endpointsReplicaRegions: [...this.replicaRegions] } : { endpointsWriterRegion: this.webhookEndpointsRegion }),
      credentialsKey: this.credentialsKey,
      alarmTopic: this.healthMonitor.operatorAlarmTopic,
      // webhook.endpoint.disabled is also emailed to the org's alert subscribers.
      orgAlertsTopic: this.healthMonitor.orgAlertsTopic,
    });
    // The admin API's webhook routes: endpoints, deliveries, test events and redeliveries.
    this.webhooks.grantManageEndpoints(this.adminApi.function);
    if (this.adminApi.function instanceof lambda.Function) {
      this.adminApi.function.addEnvironment('PLEXMCP_EVENT_BUS_NAME', this.healthMonitor.eventBus.eventBusName);
      for (const [name, value] of Object.entries(this.webhooks.environment)) this.adminApi.function.addEnvironment(name, value);
    }
    // No role of this stack, whatever it is granted, may update or delete audit entries or digests.
    denyAuditRewrites(this, this.auditTableName);

    // The gateway function is created above as a PlexFunction, with its own log group.
    const gatewayLogGroup = (this.gateway.function as lambda.Function).logGroup;
    this.analytics = new UsageAnalytics(this, 'Analytics', {
      ...props.analytics,
      timestream: props.analytics?.timestream ?? timestreamFromContext(this, id),
      gatewayLogGroup,
      operatorAlarmTopic: this.healthMonitor.operatorAlarmTopic,
    });
    // The admin API's usage and export endpoints read the rollups of this region.
    this.analytics.rollups.grantRollupReads(this.adminApi.function);
    if (this.adminApi.function instanceof lambda.Function) {
      this.adminApi.function.addEnvironment('PLEXMCP_ANALYTICS_TABLE', this.analytics.rollups.table.tableName);
    }
    // Backups of the tables every region shares, in the primary; the copy vault in the copy region.
    if (props.backup !== undefined && primary !== undefined) throw new Error(`PlexMcpStack ${id}: backup belongs to the primary stack.`);
    if (primary === undefined) {
      this.backup = new RegistryBackup(this, 'Backup', {
        ...props.backup,
        copyRegion: props.backup?.copyRegion === undefined ? this.replicaRegions[0] : props.backup.copyRegion,
        tables: { registry: this.registryTable, audit: this.auditLog!.table, webhookEndpoints: this.webhooks.endpointsTable },
        alarmTopic: this.healthMonitor.operatorAlarmTopic,
      });
    } else if (primary.backup?.copyRegion === this.region) {
      this.backupCopyVault = new BackupCopyVault(this, 'BackupCopyVault', { vaultName: primary.backup.vault.vaultName, vaultLock: primary.backup.vaultLock });
    }
    this.api.gatewayWaf?.notify(this.healthMonitor.operatorAlarmTopic);
    const otherRegions = primary === undefined ? [...this.replicaRegions] : [primary.region, ...primary.replicaRegions.filter((r) => r !== this.region)];
    this.operatorAlarms = new RegionalOperatorAlarms(this, 'OperatorAlarms', {
      ...props.operatorAlarms,
      api: this.api.api,
      stageName: this.api.stage.stageName,
      gatewayFunction: this.gateway.function,
      tables: {
        registry: this.registryTable,
        counters: this.countersTable,
        analytics: this.analytics.rollups.table,
        webhookEndpoints: this.webhooks.endpointsTable,
        webhookDeliveries: this.webhooks.deliveriesTable,
        ...(this.auditLog === undefined ? {} : { audit: this.auditLog.table }),
      },
      // Replication out of this region: every region writes the registry; only the primary writes audit entries and webhook endpoints.
      replicatedTables:
        otherRegions.length === 0
          ? {}
          : {
              registry: { tableName: this.registryTableName, receivingRegions: otherRegions },
              ...(primary === undefined
                ? { audit: { tableName: this.auditTableName, receivingRegions: otherRegions }, webhookEndpoints: { tableName: this.webhookEndpointsTableName, receivingRegions: otherRegions } }
                : {}),
            },
      operatorAlarmTopic: this.healthMonitor.operatorAlarmTopic,
    });
    this.operations = new OperationsDashboard(this, 'Operations', {
      api: this.api.api,
      stageName: this.api.stage.stageName,
      gatewayFunction: this.gateway.function,
      adminFunction: this.adminApi.function,
      healthFunction: this.healthMonitor.function,
      analytics: this.analytics,
      tables: { registry: this.registryTable, counters: this.countersTable, analytics: this.analytics.rollups.table },
      operatorAlarmTopic: this.healthMonitor.operatorAlarmTopic,
      waf: this.api.gatewayWaf,
      backup: this.backup,
      operatorAlarms: this.operatorAlarms,
    });
    if (this.backup !== undefined) {
      new CfnOutput(this, 'BackupVaultName', { description: 'AWS Backup vault of the registry, audit and webhook endpoints tables (docs/dr.md)', value: this.backup.vault.vaultName });
      new CfnOutput(this, 'BackupRoleArn', { description: 'IAM role for AWS Backup restores: aws backup start-restore-job --iam-role-arn <this> (docs/dr.md)', value: this.backup.role.roleArn });
    }

    new CfnOutput(this, 'AdminApiUrl', {
      description: 'Base URL of the versioned admin API in this region',
      value: this.domain?.regionalAdminUrl ?? this.adminApi.adminUrl,
    });
    new CfnOutput(this, 'GatewayUrl', {
      description: 'Base URL of the MCP gateway in this region: an MCP server is reached at this URL followed by its slug',
      value: this.domain?.regionalGatewayUrl ?? this.gateway.gatewayUrl,
    });
    if (this.domain !== undefined) {
      new CfnOutput(this, 'AgentUrl', {
        description: 'The one URL of an MCP server for agents, in every region ({slug} is its slug): Route 53 answers with the nearest healthy region',
        value: this.domain.agentUrl,
      });
      new CfnOutput(this, 'AdminUrl', {
        description: 'Base URL of the admin API under the one name (nearest healthy region)',
        value: this.domain.adminUrl,
      });
    }
    new CfnOutput(this, 'EventBusName', {
      description: 'Event bus of this region\'s health monitor: endpoint health and metadata change events, for EventBridge rules',
      value: this.healthMonitor.eventBus.eventBusName,
    });
    new CfnOutput(this, 'OperatorAlarmTopicArn', {
      description: 'SNS topic of this region\'s operator alarms (gateway at its reserved concurrency; health monitor errors, slow cycles, throttles, undelivered schedules): subscribe the operator to it',
      value: this.healthMonitor.operatorAlarmTopic.topicArn,
    });
    new CfnOutput(this, 'UsageExportBucket', {
      description: 'S3 bucket of the raw usage records (usage/dt=<day>/, NDJSON, GZIP); query them with Athena in the workgroup and Glue database named by UsageDatabase',
      value: this.analytics.export.bucket.bucketName,
    });
    new CfnOutput(this, 'UsageDatabase', {
      description: 'Glue database (and Athena workgroup) of the raw usage records: table usage_records',
      value: this.analytics.export.databaseName,
    });
    new CfnOutput(this, 'OperatorSecretArn', {
      description: `Operator token secret (one token for every region): aws secretsmanager get-secret-value --secret-id ${this.operatorSecretName} --query SecretString --output text (works in any PlexMCP region)`,
      value: this.operatorSecret.secretArn,
    });
  }
}

/** `plexmcp:timestream` from context: true/false or "true"/"false" (`-c plexmcp:timestream=true`). */
function timestreamFromContext(stack: Stack, id: string): boolean {
  const raw: unknown = stack.node.tryGetContext(TIMESTREAM_CONTEXT);
  if (raw === undefined || raw === false || raw === 'false') return false;
  if (raw === true || raw === 'true') return true;
  throw new Error(`PlexMcpStack ${id}: context ${TIMESTREAM_CONTEXT} must be true or false, got ${JSON.stringify(raw)}.`);
}

/** The operator secret name from the prop, else context, else the default; validated. */
function operatorSecretNameOf(stack: Stack, id: string, prop: string | undefined): string {
  const fromContext: unknown = stack.node.tryGetContext(OPERATOR_SECRET_NAME_CONTEXT);
  const source = prop !== undefined ? 'operatorSecretName' : `context ${OPERATOR_SECRET_NAME_CONTEXT}`;
  const name: unknown = prop ?? fromContext ?? DEFAULT_OPERATOR_SECRET_NAME;
  if (typeof name !== 'string') {
    throw new Error(`PlexMcpStack ${id}: ${source} must be a Secrets Manager secret name, got ${JSON.stringify(name)}.`);
  }
  if (Token.isUnresolved(name)) {
    throw new Error(`PlexMcpStack ${id}: ${source} must be a literal name: regional stacks import the secret by it.`);
  }
  if (!SECRET_NAME_PATTERN.test(name)) {
    throw new Error(`PlexMcpStack ${id}: ${source} must be a Secrets Manager secret name (1-512 of A-Z a-z 0-9 / _ + = . @ -), got ${JSON.stringify(name)}.`);
  }
  if (SECRET_NAME_AMBIGUOUS_SUFFIX.test(name)) {
    throw new Error(
      `PlexMcpStack ${id}: ${source} ${JSON.stringify(name)} ends in a hyphen and six characters, which Secrets Manager would take for the suffix of a complete ARN; choose another name.`,
    );
  }
  return name;
}

/** The identity provider with its client secret imported by name in `stack`'s region. */
function identityProviderIn(stack: Stack, provider: PlexMcpIdentityProvider | undefined): OAuthIdentityProviderProps | undefined {
  if (provider === undefined) return undefined;
  const { clientSecretName, ...rest } = provider;
  if (clientSecretName === undefined) return rest;
  if (Token.isUnresolved(clientSecretName) || !/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(clientSecretName) || /-[A-Za-z0-9]{6}$/.test(clientSecretName)) {
    throw new Error(
      `PlexMcpStack ${stack.node.id}: oauth.identityProvider.clientSecretName must be a literal Secrets Manager name (1-512 of A-Z a-z 0-9 / _ + = . @ -) not ending in a hyphen and six characters, got ${JSON.stringify(clientSecretName)}.`,
    );
  }
  return { ...rest, clientSecret: secretsmanager.Secret.fromSecretNameV2(stack, 'IdentityProviderClientSecret', clientSecretName) };
}
