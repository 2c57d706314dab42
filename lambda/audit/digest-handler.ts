import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import { dynamodb, kms, requiredEnv } from '../adapters/aws-clients';
import { DynamoDbAuditDigests } from '../adapters/dynamodb-audit-digests';
import { DynamoDbAuditStore } from '../adapters/dynamodb-audit-store';
import { DynamoDbRegistryStore } from '../adapters/dynamodb-registry-store';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher';
import { KmsDigestSigner } from '../adapters/kms-digest-signer';
import { S3AuditArchive } from '../adapters/s3-audit-archive';
import { DigestProducer, listAllOrgIds } from '../core/audit/digest-producer';

/**
 * The scheduled digest function (EventBridge Scheduler, daily by default; lib/audit-log.ts): one
 * DigestProducer run per invocation. Per org whose chain moved, a digest signed with the KMS key,
 * stored in the audit table, archived to the Object Lock bucket with its entries, announced as
 * `audit.digest.created`; then the deployment digest. A run that stored digests but could not
 * archive or announce one fails the invocation after logging, so the error metric and alarm see
 * it; the next run archives what is missing. Environment (set by the AuditLog construct):
 * PLEXMCP_AUDIT_TABLE, PLEXMCP_REGISTRY_TABLE, PLEXMCP_DIGEST_KEY_ID, PLEXMCP_AUDIT_BUCKET,
 * PLEXMCP_EVENT_BUS_NAME (optional: no events without it).
 */
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'plexmcp-audit' });

const auditTable = requiredEnv('PLEXMCP_AUDIT_TABLE');
const registry = new DynamoDbRegistryStore(dynamodb, requiredEnv('PLEXMCP_REGISTRY_TABLE'));
const entries = new DynamoDbAuditStore(dynamodb, auditTable);
const keyId = requiredEnv('PLEXMCP_DIGEST_KEY_ID');
const busName = process.env.PLEXMCP_EVENT_BUS_NAME;
const archive = new S3AuditArchive(new S3Client({}), requiredEnv('PLEXMCP_AUDIT_BUCKET'), entries);

// The public key is fetched once per instance, at the first invocation (not at init, so that a
// KMS hiccup fails one invocation rather than the instance).
let producer: Promise<DigestProducer> | undefined;

function producerOnce(): Promise<DigestProducer> {
  producer ??= KmsDigestSigner.create(kms, keyId).then(
    (signer) =>
      new DigestProducer({
        listOrgIds: () => listAllOrgIds(registry),
        head: (orgId) => entries.head(orgId),
        store: new DynamoDbAuditDigests(dynamodb, auditTable),
        signer,
        archive,
        publisher: busName ? new EventBridgePublisher(new EventBridgeClient({}), busName) : undefined,
      }),
  );
  producer.catch(() => (producer = undefined));
  return producer;
}

export interface DigestRunSummary {
  readonly digests: number;
  readonly failures: number;
}

export async function produceDigests(): Promise<DigestRunSummary> {
  const report = await (await producerOnce()).run();
  for (const d of report.created) {
    logger.info('audit digest created', { scope: d.digest.scope, n: d.n, fromSeq: d.digest.fromSeq, toSeq: d.digest.toSeq, digestHash: d.digestHash });
  }
  for (const f of report.failures) {
    // The error's name only: messages of SDK errors can carry request details.
    logger.error('audit digest follow-up failed', { scope: f.scope, n: f.n, step: f.step, error: (f.error as Error)?.name });
  }
  if (report.failures.length > 0) throw new Error(`${report.failures.length} audit digest follow-ups failed`);
  return { digests: report.created.length, failures: 0 };
}

export const handler = middy<unknown, DigestRunSummary>()
  .use(injectLambdaContext(logger))
  .handler(produceDigests);
