import { OperatorCredential } from '../../lambda/core/admin/operator-credential';

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
