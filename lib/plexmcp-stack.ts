import { CfnOutput, CrossStackReferences, ReferenceStrength, Stack, StackProps, Token } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { DEFAULT_REGISTRY_TABLE_NAME } from '../lambda/core/registry-table';
import { AdminApi } from './admin-api';
import { CredentialsKey } from './credentials-key';
import { RegistryTables } from './registry-tables';

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
}

/**
 * PlexMCP in one region. The primary region's stack owns the data that every region shares
 * (the registry global table, the multi-Region primary key); each other region's stack uses
 * its local replica of both. Every stack has its own admin API.
 *
 * The registry table has a fixed name, so a regional stack imports its replica by name. The
 * primary key's ARN (chosen by KMS) travels through CDK's cross-region references
 * (`crossRegionReferences: true`): an SSM parameter that the primary stack writes into each
 * replica region at deploy time, so one `cdk deploy --all` deploys everything in order.
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

  /** This region's admin API. */
  public readonly adminApi: AdminApi;

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
    } else {
      if (props.replicaRegions !== undefined || props.registryTableName !== undefined || props.registryDeletionProtection !== undefined) {
        throw new Error(`PlexMcpStack ${id}: replicaRegions, registryTableName and registryDeletionProtection belong to the primary stack.`);
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
      // Implied by the cross-region references too; explicit so the order survives refactoring.
      this.addStackDependency(primary, 'the global table replica and the primary key are created by the primary stack');
    }

    this.adminApi = new AdminApi(this, 'AdminApi', {
      registryTable: this.registryTable,
      credentialsKey: this.credentialsKey,
    });

    new CfnOutput(this, 'AdminApiUrl', {
      description: 'Base URL of the versioned admin API in this region',
      value: this.adminApi.adminUrl,
    });
    new CfnOutput(this, 'OperatorSecretArn', {
      description: 'Operator token: aws secretsmanager get-secret-value --secret-id <this ARN> --query SecretString --output text',
      value: this.adminApi.operatorSecret.secretArn,
    });
  }
}
