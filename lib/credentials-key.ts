import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * Properties for {@link CredentialsKey}.
 */
export interface CredentialsKeyProps {
  /**
   * ARN of the multi-Region primary key to replicate into this stack's region. When set, this
   * construct creates a replica key (`AWS::KMS::ReplicaKey`) instead of a primary key.
   *
   * @default - create a new multi-Region primary key
   */
  readonly primaryKeyArn?: string;

  /**
   * Waiting period before KMS deletes the key once it leaves the stack (7 to 30 days).
   *
   * @default Duration.days(30)
   */
  readonly pendingWindow?: Duration;

  /**
   * What happens to the key when it leaves the stack.
   *
   * @default RemovalPolicy.RETAIN - without the key, every stored upstream credential is lost
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The KMS key for envelope encryption of upstream credentials (the admin API encrypts them
 * with a data key from `GenerateDataKey`; the gateway decrypts them with `Decrypt`) and of
 * webhook signing secrets (encrypted by the admin API of any region, stored in the endpoints
 * global table, decrypted by the delivery function of every region; their encryption context
 * names the org and endpoint, never a region).
 *
 * It is a symmetric multi-Region key: the primary region's stack creates the primary key and
 * every other region's stack a replica with the same key material and key id (`mrk-...`), so a
 * ciphertext written through the registry's global table in one region decrypts in every
 * region, and a region keeps working when the primary region is down. Rotation is set on the
 * primary and applies to its replicas.
 */
export class CredentialsKey extends Construct {
  /** The key in this stack's region (the primary key or its replica). */
  public readonly key: kms.IKey;

  /** True when this construct created a replica of a primary key in another region. */
  public readonly isReplica: boolean;

  constructor(scope: Construct, id: string, props: CredentialsKeyProps = {}) {
    super(scope, id);

    const pendingWindow = props.pendingWindow ?? Duration.days(30);
    const pendingDays = pendingWindow.toDays();
    if (pendingDays < 7 || pendingDays > 30) {
      throw new Error(`CredentialsKey: pendingWindow must be 7 to 30 days, got ${pendingDays}.`);
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const description = 'PlexMCP: envelope encryption of upstream MCP server credentials';
    this.isReplica = props.primaryKeyArn !== undefined;

    if (props.primaryKeyArn === undefined) {
      this.key = new kms.Key(this, 'Key', {
        description,
        keySpec: kms.KeySpec.SYMMETRIC_DEFAULT,
        keyUsage: kms.KeyUsage.ENCRYPT_DECRYPT,
        enableKeyRotation: true,
        multiRegion: true,
        pendingWindow,
        removalPolicy,
      });
      return;
    }

    // A replica key needs its own key policy (it is not replicated). This one is the standard
    // default policy: the account may delegate use of the key through IAM, so the L2 grants in
    // this region (which only write identity policies for an imported key) take effect.
    const replica = new kms.CfnReplicaKey(this, 'Key', {
      primaryKeyArn: props.primaryKeyArn,
      description,
      enabled: true,
      pendingWindowInDays: pendingDays,
      keyPolicy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            actions: ['kms:*'],
            principals: [new iam.AccountRootPrincipal()],
            resources: ['*'],
          }),
        ],
      }),
    });
    replica.applyRemovalPolicy(removalPolicy);
    this.key = kms.Key.fromKeyArn(this, 'Imported', replica.attrArn);
  }
}
