import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  readonly target: string;
  readonly body: Record<string, unknown>;
}

/**
 * A loopback stand-in for the two AWS services that have no local engine and that the admin
 * Lambda calls: KMS (GenerateDataKey, Decrypt, and GetPublicKey of one P-256 signing key) and
 * Secrets Manager (GetSecretValue), plus EventBridge's PutEvents (accepted and recorded), speaking
 * their JSON 1.1 wire protocol. It records every call so tests assert the exact requests, and the
 * region each call was signed for (`regions`, parallel to `calls`). Anything else is answered with
 * an error, so an unexpected call fails the test.
 */
export async function startFakeKmsAndSecrets(secrets: Record<string, string>) {
  const calls: RecordedCall[] = [];
  const regions: string[] = [];
  const dataKeys = new Map<string, { plaintext: Buffer; context: string }>();
  // The one asymmetric key: GetPublicKey answers its SPKI DER, as KMS does for ECC_NIST_P256 SIGN_VERIFY.
  const signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;

  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    const body = JSON.parse((await readBody(req)) || '{}') as Record<string, unknown>;
    const target = String(req.headers['x-amz-target'] ?? '');
    calls.push({ target, body });
    regions.push(/Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '');
    const reply = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(payload));
    };
    switch (target) {
      case 'TrentService.GenerateDataKey': {
        const plaintext = randomBytes(32);
        const blob = randomBytes(48);
        dataKeys.set(blob.toString('base64'), { plaintext, context: JSON.stringify(body.EncryptionContext) });
        return reply(200, { KeyId: body.KeyId, Plaintext: plaintext.toString('base64'), CiphertextBlob: blob.toString('base64') });
      }
      case 'TrentService.Decrypt': {
        const entry = dataKeys.get(String(body.CiphertextBlob));
        if (!entry || entry.context !== JSON.stringify(body.EncryptionContext)) {
          return reply(400, { __type: 'InvalidCiphertextException', message: 'invalid ciphertext' });
        }
        return reply(200, { KeyId: body.KeyId, Plaintext: entry.plaintext.toString('base64') });
      }
      case 'TrentService.GetPublicKey':
        return reply(200, {
          KeyId: body.KeyId,
          PublicKey: signingKey.export({ type: 'spki', format: 'der' }).toString('base64'),
          KeySpec: 'ECC_NIST_P256',
          KeyUsage: 'SIGN_VERIFY',
          SigningAlgorithms: ['ECDSA_SHA_256'],
        });
      case 'AWSEvents.PutEvents': {
        const entries = (body.Entries as unknown[] | undefined) ?? [];
        return reply(200, { FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: randomUUID() })) });
      }
      case 'secretsmanager.GetSecretValue': {
        const value = secrets[String(body.SecretId)];
        if (value === undefined) return reply(400, { __type: 'ResourceNotFoundException', message: 'no such secret' });
        return reply(200, { ARN: body.SecretId, Name: body.SecretId, SecretString: value, VersionId: randomUUID() });
      }
      default:
        return reply(400, { __type: 'UnknownOperationException', message: target });
    }
  };
  // node:http ignores a handler's promise: a body that fails to arrive or parse is answered here
  // (an AWS-style 500 the SDK reports) instead of becoming an unhandled rejection.
  const server: Server = createServer((req, res) => {
    answer(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ __type: 'InternalFailure', message: 'fake AWS could not read the request' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    regions,
    /** The PEM (SPKI) of the signing key's public key, as KmsDigestSigner exports it. */
    publicKeyPem: signingKey.export({ type: 'spki', format: 'pem' }).toString(),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
