import { randomBytes } from 'node:crypto';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { KmsDataKeyProvider } from '../../lambda/adapters/kms-data-keys';
import { EnvelopeCipher, upstreamSecretContext } from '../../lambda/core/envelope';

// KMS has no local engine, so the client is mocked; the tests check the exact requests.
const kmsMock = mockClient(KMSClient);

const KEY_ID = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const CONTEXT = upstreamSecretContext('orgaaaaaaaaaaaaaaaa', 'github');
const EXPECTED_CONTEXT = { purpose: 'plexmcp:upstream-credential', orgId: 'orgaaaaaaaaaaaaaaaa', mcp: 'github' };

describe('KmsDataKeyProvider via EnvelopeCipher', () => {
  let dataKey: Buffer;
  let blob: Buffer;
  let cipher: EnvelopeCipher;

  beforeEach(() => {
    kmsMock.reset();
    dataKey = randomBytes(32);
    blob = randomBytes(184); // an opaque KMS ciphertext blob
    kmsMock.on(GenerateDataKeyCommand).resolves({ KeyId: KEY_ID, Plaintext: new Uint8Array(dataKey), CiphertextBlob: new Uint8Array(blob) });
    kmsMock.on(DecryptCommand).resolves({ KeyId: KEY_ID, Plaintext: new Uint8Array(dataKey) });
    cipher = new EnvelopeCipher(new KmsDataKeyProvider(new KMSClient({ region: 'eu-west-1' }), KEY_ID));
  });

  afterAll(() => {
    kmsMock.restore();
  });

  it('asks KMS for an AES-256 data key bound to the context, and stores only the wrapped key', async () => {
    const stored = await cipher.encrypt('s3cret-token', CONTEXT);

    const calls = kmsMock.commandCalls(GenerateDataKeyCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toStrictEqual({ KeyId: KEY_ID, KeySpec: 'AES_256', EncryptionContext: EXPECTED_CONTEXT });
    expect(kmsMock.calls()).toHaveLength(1);

    expect(stored.provider).toBe('kms');
    expect(stored.wrappedKey).toBe(blob.toString('base64'));
    const serialized = JSON.stringify(stored);
    expect(serialized).not.toContain('s3cret-token');
    expect(serialized).not.toContain(dataKey.toString('base64'));
  });

  it('decrypts by sending KMS exactly the key id, the wrapped blob and the context', async () => {
    const stored = await cipher.encrypt('s3cret-token', CONTEXT);
    kmsMock.resetHistory();

    expect(await cipher.decrypt(stored, CONTEXT)).toBe('s3cret-token');

    const calls = kmsMock.commandCalls(DecryptCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toStrictEqual({
      KeyId: KEY_ID,
      CiphertextBlob: blob,
      EncryptionContext: EXPECTED_CONTEXT,
    });
    expect(kmsMock.calls()).toHaveLength(1);
  });

  it('passes a copy of the context, not the caller object', async () => {
    const context = { purpose: 'p', orgId: 'o' };
    await cipher.encrypt('x', context);
    const sent = kmsMock.commandCalls(GenerateDataKeyCommand)[0]!.args[0].input.EncryptionContext;
    expect(sent).toStrictEqual(context);
    expect(sent).not.toBe(context);
  });

  it('does not decrypt under another context even when KMS returns the data key', async () => {
    // This mock KMS ignores the context; AES-GCM's additional data still binds the secret.
    const stored = await cipher.encrypt('s3cret-token', CONTEXT);
    const other = upstreamSecretContext('orgbbbbbbbbbbbbbbbb', 'github');
    await expect(cipher.decrypt(stored, other)).rejects.toThrow();
    expect(kmsMock.commandCalls(DecryptCommand)[0]!.args[0].input.EncryptionContext).toStrictEqual({
      ...EXPECTED_CONTEXT,
      orgId: 'orgbbbbbbbbbbbbbbbb',
    });
  });

  it('fails when KMS refuses the context', async () => {
    const stored = await cipher.encrypt('s3cret-token', CONTEXT);
    kmsMock.on(DecryptCommand).rejects(Object.assign(new Error('InvalidCiphertextException'), { name: 'InvalidCiphertextException' }));
    await expect(cipher.decrypt(stored, CONTEXT)).rejects.toThrow('InvalidCiphertextException');
  });

  it('uses a fresh data key per secret', async () => {
    const secondKey = randomBytes(32);
    const secondBlob = randomBytes(184);
    kmsMock
      .on(GenerateDataKeyCommand)
      .resolvesOnce({ Plaintext: new Uint8Array(dataKey), CiphertextBlob: new Uint8Array(blob) })
      .resolvesOnce({ Plaintext: new Uint8Array(secondKey), CiphertextBlob: new Uint8Array(secondBlob) });
    const a = await cipher.encrypt('same', CONTEXT);
    const b = await cipher.encrypt('same', CONTEXT);
    expect(kmsMock.commandCalls(GenerateDataKeyCommand)).toHaveLength(2);
    expect(a.wrappedKey).not.toBe(b.wrappedKey);
    expect(a.iv).not.toBe(b.iv);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  it('throws when GenerateDataKey returns no plaintext', async () => {
    kmsMock.on(GenerateDataKeyCommand).resolves({ CiphertextBlob: new Uint8Array(blob) });
    await expect(cipher.encrypt('x', CONTEXT)).rejects.toThrow('KMS returned no data key');
  });

  it('throws when GenerateDataKey returns no ciphertext blob', async () => {
    kmsMock.on(GenerateDataKeyCommand).resolves({ Plaintext: new Uint8Array(dataKey) });
    await expect(cipher.encrypt('x', CONTEXT)).rejects.toThrow('KMS returned no data key');
  });

  it('throws when Decrypt returns no plaintext', async () => {
    const stored = await cipher.encrypt('x', CONTEXT);
    kmsMock.on(DecryptCommand).resolves({ KeyId: KEY_ID });
    await expect(cipher.decrypt(stored, CONTEXT)).rejects.toThrow('KMS returned no plaintext');
  });

  it('refuses a secret wrapped by the local key file without calling KMS', async () => {
    const stored = await cipher.encrypt('x', CONTEXT);
    kmsMock.resetHistory();
    await expect(cipher.decrypt({ ...stored, provider: 'local' }, CONTEXT)).rejects.toThrow(
      'secret was wrapped by local, this cipher uses kms',
    );
    expect(kmsMock.calls()).toHaveLength(0);
  });
});
