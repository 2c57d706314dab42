import { RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { REGISTRY_TABLE } from '../lambda/core/registry-table';

/**
 * Partition keys of the registry items that the data plane and the health monitor write, as the
 * adapters build them (docs/data-model.md):
 * - `KEY#<keyId>`: an API key (lambda/adapters/dynamodb-registry-store.ts, `apiKeyKey`);
 * - `CONFIG#session-sealing-key`: the wrapped session-sealing key, one item per deployment
 *   (`configKey` there, with the name from lambda/core/gateway/session-key.ts);
 * - `HEALTH#<orgId>#<slug>`: health state, transition history and discovered metadata of one MCP
 *   server (lambda/adapters/dynamodb-health-store.ts).
 * IAM matches them in `dynamodb:LeadingKeys` conditions; test/lib/least-privilege.test.ts checks
 * them against the requests the real adapters send.
 */
export const REGISTRY_WRITE_PARTITIONS = {
  apiKeys: 'KEY#*',
  sessionKey: 'CONFIG#session-sealing-key',
  health: 'HEALTH#*',
} as const;

/** The one attribute of an API key item that the data plane may change (besides naming the key). */
export const KEY_USAGE_ATTRIBUTE = 'lastUsedAt';

/**
 * Grants on a registry table, owned by this app ({@link RegistryTables}) or imported
 * (`TableV2.fromTableName`, as regional stacks and other teams' stacks do). Each write grant is
 * one statement on the base table (writes never address an index) limited by
 * `dynamodb:LeadingKeys` to the partitions of one kind of item, so that a function which has to
 * write its own items cannot write organisations, MCP servers, keys or other settings.
 *
 * `dynamodb:LeadingKeys` is multivalued, so it is tested with `ForAllValues`, which is also true
 * when the request carries no such key at all; every statement therefore also requires the key
 * to be present (`Null: false`), and grants only single-item actions, which always carry it
 * (never Scan, BatchWriteItem or PartiQL).
 */
export class RegistryGrants {
  /** The grants on `table`. */
  static of(table: dynamodb.ITableV2): RegistryGrants {
    return new RegistryGrants(table);
  }

  private constructor(private readonly table: dynamodb.ITableV2) {}

  /**
   * Every read of the registry: `grantReadData` (GetItem, BatchGetItem, Query, Scan,
   * ConditionCheckItem, DescribeTable), on the table's own indexes too when the table knows them.
   */
  readData(grantee: iam.IGrantable): iam.Grant {
    return this.table.grantReadData(grantee);
  }

  /**
   * `UpdateItem` of an API key's `lastUsedAt` and nothing else: partition `KEY#*`, attributes
   * limited to the table's key (`pk`, `sk`: IAM needs the key attributes listed, and UpdateItem
   * cannot change them) and `lastUsedAt`. A key's secret hash, scopes, rate limit, organisation
   * and revocation stay out of reach. What the gateway's `touchKey` sends: `SET lastUsedAt`
   * under a condition on `pk` and `lastUsedAt`.
   */
  keyUsageWrites(grantee: iam.IGrantable): iam.Grant {
    return this.write(grantee, ['dynamodb:UpdateItem'], {
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [REGISTRY_WRITE_PARTITIONS.apiKeys] },
      'ForAllValues:StringEquals': {
        'dynamodb:Attributes': [REGISTRY_TABLE.partitionKey, REGISTRY_TABLE.sortKey, KEY_USAGE_ATTRIBUTE],
      },
    });
  }

  /**
   * `PutItem` of the session-sealing key item, which the first gateway instance of a deployment
   * creates with a conditional put (`CONFIG#session-sealing-key` exactly; no other setting).
   */
  sessionKeyCreation(grantee: iam.IGrantable): iam.Grant {
    return this.write(grantee, ['dynamodb:PutItem'], {
      'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [REGISTRY_WRITE_PARTITIONS.sessionKey] },
    });
  }

  /**
   * `PutItem` of health items: endpoint states, transition history and discovered metadata, all
   * in partitions `HEALTH#<orgId>#<slug>`. No UpdateItem and no DeleteItem: the health store
   * only puts whole items (history expires by TTL).
   */
  healthWrites(grantee: iam.IGrantable): iam.Grant {
    return this.write(grantee, ['dynamodb:PutItem'], {
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [REGISTRY_WRITE_PARTITIONS.health] },
    });
  }

  private write(grantee: iam.IGrantable, actions: string[], conditions: Record<string, Record<string, unknown>>): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: [this.table.tableArn],
      conditions: { ...conditions, Null: { 'dynamodb:LeadingKeys': 'false' } },
    });
    // Our tables use DynamoDB's own key; a table encrypted with a customer managed key needs it
    // for writes as well (what aws-cdk-lib's own write grants add).
    this.table.encryptionKey?.grantEncryptDecrypt(grantee);
    return grant;
  }
}

/**
 * Properties for {@link RegistryTables}.
 */
export interface RegistryTablesProps {
  /**
   * Physical name of the registry table. Replicas carry the same name in their regions.
   *
   * @default - generated by CloudFormation
   */
  readonly tableName?: string;

  /**
   * Regions that get a replica of the registry (the stack's own region holds the primary
   * replica and must not be listed).
   *
   * @default - no replicas: a single-region table
   */
  readonly replicaRegions?: string[];

  /**
   * Whether DynamoDB refuses to delete the table (and every replica).
   *
   * @default true
   */
  readonly deletionProtection?: boolean;

  /**
   * What happens to the table when it leaves the stack.
   *
   * @default RemovalPolicy.RETAIN - the registry holds every organisation, key and MCP server
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The registry: one DynamoDB global table (organisations, MCP servers, API keys, webhooks,
 * idempotency records) replicated to every region PlexMCP runs in.
 *
 * The key schema comes from `lambda/core/registry-table.ts`, the same definition the local
 * engine uses to create its table, so that the code sees the same table in both places.
 */
export class RegistryTables extends Construct {
  /** The registry table (the replica in this stack's region). */
  public readonly registry: dynamodb.ITableV2;

  /** Grants on {@link registry}, narrowed to the items a function writes. */
  public readonly grants: RegistryGrants;

  constructor(scope: Construct, id: string, props: RegistryTablesProps = {}) {
    super(scope, id);

    const replicaRegions = props.replicaRegions ?? [];
    const region = Stack.of(this).region;
    if (replicaRegions.length > 0 && Token.isUnresolved(region)) {
      // TableV2 needs to know which replica is local; an environment-agnostic stack cannot say.
      throw new Error('RegistryTables: replicaRegions need a stack with a concrete region (set env.region).');
    }
    if (replicaRegions.includes(region)) {
      throw new Error(`RegistryTables: replicaRegions must not contain the stack's own region ${region}.`);
    }
    if (new Set(replicaRegions).size !== replicaRegions.length) {
      throw new Error(`RegistryTables: replicaRegions contains duplicates: ${replicaRegions.join(', ')}.`);
    }

    const str = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });
    const deletionProtection = props.deletionProtection ?? true;
    // Replica-level settings (PITR, deletion protection) are not synchronised by DynamoDB, so
    // they are set on the table and inherited by every replica through TableOptionsV2.
    this.registry = new dynamodb.TableV2(this, 'Registry', {
      tableName: props.tableName,
      partitionKey: str(REGISTRY_TABLE.partitionKey),
      sortKey: str(REGISTRY_TABLE.sortKey),
      globalSecondaryIndexes: [
        {
          indexName: REGISTRY_TABLE.listIndex.name,
          partitionKey: str(REGISTRY_TABLE.listIndex.partitionKey),
          sortKey: str(REGISTRY_TABLE.listIndex.sortKey),
          projectionType: dynamodb.ProjectionType.ALL,
        },
      ],
      timeToLiveAttribute: REGISTRY_TABLE.ttlAttribute,
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      replicas: replicaRegions.map((replicaRegion) => ({ region: replicaRegion })),
    });
    this.grants = RegistryGrants.of(this.registry);
  }

  /** See {@link RegistryGrants.keyUsageWrites}. */
  grantKeyUsageWrites(grantee: iam.IGrantable): iam.Grant {
    return this.grants.keyUsageWrites(grantee);
  }

  /** See {@link RegistryGrants.sessionKeyCreation}. */
  grantSessionKeyCreation(grantee: iam.IGrantable): iam.Grant {
    return this.grants.sessionKeyCreation(grantee);
  }

  /** See {@link RegistryGrants.healthWrites}. */
  grantHealthWrites(grantee: iam.IGrantable): iam.Grant {
    return this.grants.healthWrites(grantee);
  }
}
