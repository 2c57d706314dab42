import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_OPERATOR_TOKEN_MAX_AGE_MS, OperatorCredential } from '../../lambda/core/admin/operator-credential';
import { loadOrCreateOperatorToken, OPERATOR_TOKEN_PREFIX } from '../../lambda/local/operator-token';

const TOKEN = 'pmop_Q2hhbmdlTWVfVGhpc0lzQVRlc3RUb2tlbl8xMjM0NTY3ODk';

function countingLoader(value: string = TOKEN) {
  const loader = Object.assign(
    async () => {
      loader.calls++;
      return value;
    },
    { calls: 0 },
  );
  return loader;
}

describe('OperatorCredential', () => {
  it('matches the right token', async () => {
    expect(await new OperatorCredential(countingLoader()).matches(TOKEN)).toBe(true);
  });

  it.each([
    ['a wrong token of the same length', TOKEN.slice(0, -1) + (TOKEN.endsWith('9') ? '8' : '9')],
    ['a shorter token', TOKEN.slice(0, -1)],
    ['a longer token', TOKEN + 'x'],
    ['a prefix only', 'pmop_'],
    ['an empty token', ''],
    ['an API key', 'pmcp_abcdefghijklmnop_' + 'A'.repeat(43)],
  ])('rejects %s', async (_label, presented) => {
    expect(await new OperatorCredential(countingLoader()).matches(presented)).toBe(false);
  });

  it('ignores surrounding whitespace, such as the newline of the token file', async () => {
    const credential = new OperatorCredential(countingLoader(`${TOKEN}\n`));
    expect(await credential.matches(TOKEN)).toBe(true);
    expect(await credential.matches(`${TOKEN} `)).toBe(true);
  });

  it('loads the token once across many calls, including concurrent ones', async () => {
    const loader = countingLoader();
    const credential = new OperatorCredential(loader);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => credential.matches(i % 2 ? TOKEN : 'wrong')));
    expect(results).toEqual(Array.from({ length: 10 }, (_, i) => i % 2 === 1));
    expect(await credential.matches(TOKEN)).toBe(true);
    expect(loader.calls).toBe(1);
  });

  it('does not call the loader before the first request', () => {
    const loader = countingLoader();
    new OperatorCredential(loader);
    expect(loader.calls).toBe(0);
  });

  it('retries a failed load on the next call', async () => {
    let calls = 0;
    const credential = new OperatorCredential(async () => {
      calls++;
      if (calls === 1) throw new Error('Secrets Manager throttled');
      return TOKEN;
    });
    await expect(credential.matches(TOKEN)).rejects.toThrow('Secrets Manager throttled');
    expect(await credential.matches(TOKEN)).toBe(true);
    expect(await credential.matches('wrong')).toBe(false);
    expect(calls).toBe(2);
  });

  it('keeps retrying while the loader keeps failing', async () => {
    let calls = 0;
    const credential = new OperatorCredential(async () => {
      calls++;
      throw new Error(`failure ${calls}`);
    });
    await expect(credential.matches(TOKEN)).rejects.toThrow('failure 1');
    await expect(credential.matches(TOKEN)).rejects.toThrow('failure 2');
    await expect(credential.matches(TOKEN)).rejects.toThrow('failure 3');
  });
});

describe('OperatorCredential rotation', () => {
  let dir: string;
  let path: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'plexmcp-operator-'));
    path = join(dir, 'operator-token');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** The local loader: the data directory's operator-token file, read as `plexmcp serve` does. */
  const fileLoader = () => readFile(path, 'utf8');

  it('re-reads the token after the bound: a rotated token is refused and the new one accepted within it', async () => {
    const first = loadOrCreateOperatorToken(path);
    expect(first.created).toBe(true);
    let clock = 1_000_000;
    const credential = new OperatorCredential(fileLoader, { maxAgeMs: 60_000, now: () => clock });
    expect(await credential.matches(first.token)).toBe(true);

    const rotated = `${OPERATOR_TOKEN_PREFIX}rotated-${Date.now()}`;
    await writeFile(path, `${rotated}\n`);
    clock += 59_999; // within the bound the instance still holds the old digest
    expect(await credential.matches(first.token)).toBe(true);
    expect(await credential.matches(rotated)).toBe(false);
    clock += 1; // at the bound it reads the file again
    expect(await credential.matches(first.token)).toBe(false);
    expect(await credential.matches(rotated)).toBe(true);
    expect(loadOrCreateOperatorToken(path)).toEqual({ token: rotated, created: false });
  });

  it('with a short real bound, too (no fake clock)', async () => {
    const { token } = loadOrCreateOperatorToken(path);
    const credential = new OperatorCredential(fileLoader, { maxAgeMs: 50 });
    expect(await credential.matches(token)).toBe(true);
    await writeFile(path, 'pmop_next\n');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await credential.matches(token)).toBe(false);
    expect(await credential.matches('pmop_next')).toBe(true);
  });

  it('loads once per bound, shared by concurrent requests; the default bound is 60 s', async () => {
    const loader = countingLoader();
    let clock = 0;
    const credential = new OperatorCredential(loader, { now: () => clock });
    await Promise.all(Array.from({ length: 5 }, () => credential.matches(TOKEN)));
    clock = 59_999;
    await credential.matches(TOKEN);
    expect(loader.calls).toBe(1);
    clock = 60_000;
    await Promise.all(Array.from({ length: 5 }, () => credential.matches(TOKEN)));
    expect(loader.calls).toBe(2);
    expect(DEFAULT_OPERATOR_TOKEN_MAX_AGE_MS).toBe(60_000);
  });

  it('fails closed when a re-read fails after the bound, and recovers on the next request', async () => {
    let clock = 0;
    let fail = false;
    const credential = new OperatorCredential(
      async () => {
        if (fail) throw new Error('Secrets Manager throttled');
        return TOKEN;
      },
      { maxAgeMs: 1_000, now: () => clock },
    );
    expect(await credential.matches(TOKEN)).toBe(true);
    fail = true;
    clock = 1_000;
    await expect(credential.matches(TOKEN)).rejects.toThrow('throttled');
    fail = false;
    expect(await credential.matches(TOKEN)).toBe(true);
  });

  it('maxAgeMs 0 reads the token on every request', async () => {
    const loader = countingLoader();
    const credential = new OperatorCredential(loader, { maxAgeMs: 0 });
    await credential.matches(TOKEN);
    await credential.matches(TOKEN);
    expect(loader.calls).toBe(2);
  });
});
