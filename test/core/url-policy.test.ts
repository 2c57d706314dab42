import {
  checkEndpointUrl,
  forbiddenAddressReason,
  isValidCidr,
  MAX_URL_LENGTH,
  type Resolver,
  type UrlPolicy,
} from '../../lambda/core/url-policy';

/** Fixed DNS answers; no real resolution. Records every name asked for. */
const DNS: Record<string, string[]> = {
  'mcp.example.com': ['93.184.215.14'],
  'v6.example.com': ['2606:4700:4700::1111'],
  'dual.example.com': ['93.184.215.14', '2606:4700:4700::1111'],
  'public.example': ['93.184.215.14'],
  'mixed.example': ['93.184.215.14', '10.1.2.3'],
  'mixed-reversed.example': ['10.1.2.3', '93.184.215.14'],
  'mixed-v6.example': ['2606:4700:4700::1111', 'fd00::1'],
  'metadata.example': ['169.254.169.254'],
  'mapped-metadata.example': ['::ffff:169.254.169.254'],
  'localhost': ['127.0.0.1'],
  'localhost6': ['::1'],
  'loopback-and-public.example': ['127.0.0.1', '93.184.215.14'],
  'empty.example': [],
};

function fakeResolver(): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = async (hostname: string) => {
    asked.push(hostname);
    if (hostname === 'throws.example') throw new Error('ENOTFOUND throws.example');
    const answer = DNS[hostname];
    if (!answer) throw new Error(`ENOTFOUND ${hostname}`);
    return answer;
  };
  return Object.assign(resolve, { asked });
}

const aws = (): UrlPolicy => ({ allowLoopback: false, resolve: fakeResolver() });
const local = (): UrlPolicy => ({ allowLoopback: true, resolve: fakeResolver() });

const PATH = 'endpoints.3.url';

async function problemFor(raw: string, policy: UrlPolicy): Promise<string> {
  const result = await checkEndpointUrl(raw, PATH, policy);
  if (!('problem' in result)) throw new Error(`expected ${raw} to be refused, got ${result.url}`);
  expect(result.problem.path).toBe(PATH);
  return result.problem.message;
}

describe('checkEndpointUrl refuses hostile URLs (AWS mode)', () => {
  it.each([
    ['plain http', 'http://mcp.example.com/mcp', /^must use https$/],
    ['EC2 metadata (IPv4)', 'https://169.254.169.254/latest/meta-data', /linkLocal/],
    ['EC2 metadata (IPv6)', 'https://[fd00:ec2::254]/', /uniqueLocal/],
    ['private 10/8', 'https://10.0.0.1', /private/],
    ['private 192.168/16', 'https://192.168.1.1', /private/],
    ['private 172.16/12', 'https://172.16.0.1', /private/],
    ['private 172.31 (end of 172.16/12)', 'https://172.31.255.254/', /private/],
    ['shared address space (CGNAT)', 'https://100.64.0.1', /carrierGradeNat/],
    ['loopback', 'https://127.0.0.1', /loopback/],
    ['loopback elsewhere in 127/8', 'https://127.9.8.7:8443/', /loopback/],
    ['loopback in hex shorthand', 'https://0x7f.1/', /loopback/],
    ['loopback as a decimal integer', 'https://2130706433/', /loopback/],
    ['loopback in octal', 'https://0177.0.0.1/', /loopback/],
    ['IPv6 loopback', 'https://[::1]/', /loopback/],
    ['IPv4-mapped loopback', 'https://[::ffff:127.0.0.1]/', /loopback/],
    ['IPv4-mapped private', 'https://[::ffff:10.0.0.1]', /private/],
    ['IPv4-compatible (deprecated) loopback', 'https://[::127.0.0.1]/', /ipv4Compatible/],
    ['IPv4-compatible (deprecated) private', 'https://[::10.0.0.1]/', /ipv4Compatible/],
    ['NAT64 of a private address', 'https://[64:ff9b::a00:1]', /rfc6052/],
    ['6to4', 'https://[2002:a00:1::1]/', /6to4/],
    ['Teredo', 'https://[2001::1]/', /teredo/],
    ['IPv6 link-local', 'https://[fe80::1]/', /linkLocal/],
    ['unspecified IPv4', 'https://0.0.0.0', /unspecified/],
    ['unspecified IPv4 shorthand', 'https://0/', /unspecified/],
    ['unspecified IPv6', 'https://[::]', /unspecified/],
    ['multicast', 'https://224.0.0.1', /multicast/],
    ['IPv6 multicast', 'https://[ff02::1]/', /multicast/],
    ['broadcast', 'https://255.255.255.255/', /broadcast/],
    ['reserved 240/4', 'https://240.0.0.1/', /reserved/],
    ['documentation range', 'https://192.0.2.10/', /reserved/],
    ['credentials in the URL', 'https://user:pw@example.com', /^must not carry credentials/],
    ['user name only', 'https://user@mcp.example.com/', /^must not carry credentials/],
    ['name with one public and one private address', 'https://mixed.example/mcp', /private/],
    ['name with one private and one public address', 'https://mixed-reversed.example/mcp', /private/],
    ['name with public and unique-local IPv6 addresses', 'https://mixed-v6.example/', /uniqueLocal/],
    ['name resolving to the metadata address', 'https://metadata.example/', /linkLocal/],
    ['name resolving to an IPv4-mapped metadata address', 'https://mapped-metadata.example/', /linkLocal/],
    ['name resolving to loopback', 'https://localhost/', /loopback/],
    ['name resolving to nothing', 'https://empty.example/', /^host name does not resolve$/],
    ['resolver that throws', 'https://throws.example/', /^host name does not resolve$/],
    ['ftp', 'ftp://mcp.example.com/', /^must use https$/],
    ['javascript', 'javascript:alert(1)', /^must use https$/],
    ['file', 'file:///etc/passwd', /^must use https$/],
    ['data', 'data:text/plain,hi', /^must use https$/],
    ['fragment', 'https://mcp.example.com/mcp#frag', /^must not have a fragment$/],
    ['empty fragment', 'https://mcp.example.com/mcp#', /^must not have a fragment$/],
    ['not a URL', 'not a url', /^is not a valid URL$/],
    ['relative URL', '/mcp', /^is not a valid URL$/],
    ['empty string', '', /^is not a valid URL$/],
  ])('%s: %s', async (_label, raw, message) => {
    expect(await problemFor(raw, aws())).toMatch(message);
  });

  it(`refuses a URL longer than ${MAX_URL_LENGTH} characters without resolving it`, async () => {
    expect(MAX_URL_LENGTH).toBe(2048);
    const prefix = 'https://mcp.example.com/';
    const policy = aws();
    const tooLong = prefix + 'a'.repeat(MAX_URL_LENGTH + 1 - prefix.length);
    expect(tooLong).toHaveLength(2049);
    expect(await problemFor(tooLong, policy)).toBe('must be at most 2048 characters');
    expect((policy.resolve as ReturnType<typeof fakeResolver>).asked).toEqual([]);

    const longest = prefix + 'a'.repeat(MAX_URL_LENGTH - prefix.length);
    expect(longest).toHaveLength(2048);
    expect(await checkEndpointUrl(longest, PATH, policy)).toEqual({ url: longest });
  });

  it('does not resolve IP literals', async () => {
    const policy = aws();
    await problemFor('https://10.0.0.1/', policy);
    expect(await checkEndpointUrl('https://8.8.8.8/mcp', PATH, policy)).toEqual({ url: 'https://8.8.8.8/mcp' });
    expect((policy.resolve as ReturnType<typeof fakeResolver>).asked).toEqual([]);
  });

  it('checks the credentials before resolving the host', async () => {
    const policy = aws();
    await problemFor('https://user:pw@throws.example/', policy);
    expect((policy.resolve as ReturnType<typeof fakeResolver>).asked).toEqual([]);
  });
});

describe('checkEndpointUrl admits public upstreams', () => {
  it.each([
    ['name resolving to a public address', 'https://mcp.example.com/mcp', 'https://mcp.example.com/mcp'],
    ['public IPv4 literal', 'https://8.8.8.8/mcp', 'https://8.8.8.8/mcp'],
    ['public IPv6 literal', 'https://[2606:4700:4700::1111]/mcp', 'https://[2606:4700:4700::1111]/mcp'],
    ['name resolving to public IPv6', 'https://v6.example.com/mcp', 'https://v6.example.com/mcp'],
    ['name resolving to public IPv4 and IPv6', 'https://dual.example.com:8443/mcp?x=1', 'https://dual.example.com:8443/mcp?x=1'],
    ['upper-case host, normalized', 'HTTPS://MCP.Example.COM/mcp', 'https://mcp.example.com/mcp'],
    ['default port dropped', 'https://mcp.example.com:443/mcp', 'https://mcp.example.com/mcp'],
  ])('%s: %s', async (_label, raw, url) => {
    expect(await checkEndpointUrl(raw, PATH, aws())).toEqual({ url });
  });
});

describe('checkEndpointUrl in local mode', () => {
  it.each([
    ['http to IPv4 loopback', 'http://127.0.0.1:3000/mcp', 'http://127.0.0.1:3000/mcp'],
    ['http to IPv6 loopback', 'http://[::1]:3000/mcp', 'http://[::1]:3000/mcp'],
    ['http to localhost', 'http://localhost:3000/mcp', 'http://localhost:3000/mcp'],
    ['http to an IPv6-only localhost', 'http://localhost6:3000/mcp', 'http://localhost6:3000/mcp'],
    ['https to loopback', 'https://127.0.0.1:3443/mcp', 'https://127.0.0.1:3443/mcp'],
    ['https to a public host', 'https://mcp.example.com/mcp', 'https://mcp.example.com/mcp'],
  ])('admits %s', async (_label, raw, url) => {
    expect(await checkEndpointUrl(raw, PATH, local())).toEqual({ url });
  });

  it.each([
    ['http to a public host', 'http://public.example/', /^must use https \(plain http is allowed only to loopback addresses\)$/],
    ['http to a public IP', 'http://8.8.8.8/', /plain http is allowed only to loopback/],
    ['http to a name with loopback and public addresses', 'http://loopback-and-public.example/', /plain http is allowed only to loopback/],
    ['a private address', 'http://10.0.0.1/', /private/],
    ['the metadata address', 'http://169.254.169.254/', /linkLocal/],
    ['ftp', 'ftp://127.0.0.1/', /^must use https \(or http to a loopback address\)$/],
    ['credentials', 'http://user:pw@127.0.0.1:3000/', /^must not carry credentials/],
  ])('refuses %s', async (_label, raw, message) => {
    expect(await problemFor(raw, local())).toMatch(message);
  });
});

describe('forbiddenAddressReason', () => {
  it.each([
    ['8.8.8.8', false],
    ['93.184.215.14', false],
    ['2606:4700:4700::1111', false],
    ['127.0.0.1', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
  ])('admits %s (allowLoopback %s)', (address, allowLoopback) => {
    expect(forbiddenAddressReason(address, allowLoopback)).toBeUndefined();
  });

  it.each([
    ['127.0.0.1', false, 'resolves to a loopback address, which upstreams may not use'],
    ['::1', false, 'resolves to a loopback address, which upstreams may not use'],
    ['::ffff:10.0.0.1', true, 'resolves to a private address, which upstreams may not use'],
    ['10.0.0.1', true, 'resolves to a private address, which upstreams may not use'],
    ['169.254.169.254', true, 'resolves to a linkLocal address, which upstreams may not use'],
    ['fd00:ec2::254', true, 'resolves to a uniqueLocal address, which upstreams may not use'],
    ['::7f00:1', true, 'resolves to a ipv4Compatible address, which upstreams may not use'],
    ['::a00:1', false, 'resolves to a ipv4Compatible address, which upstreams may not use'],
    ['example.com', false, 'is not an IP address'],
    ['', false, 'is not an IP address'],
  ])('refuses %s (allowLoopback %s)', (address, allowLoopback, reason) => {
    expect(forbiddenAddressReason(address, allowLoopback)).toBe(reason);
  });
});

describe('isValidCidr', () => {
  it.each(['10.0.0.0/8', '192.168.1.0/24', '0.0.0.0/0', '203.0.113.7/32', '2001:db8::/32', '::/0', '10.0.0.1', '::1'])(
    'accepts %s',
    (value) => {
      expect(isValidCidr(value)).toBe(true);
    },
  );

  it.each(['', 'abc', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/-1', '2001:db8::/129', '10.0.0.0/8 ', ' 10.0.0.1', '300.1.1.1', '10.0.0.0/8/8', 'example.com/24', '010.0.0.1', '2130706433', '0x7f.0.0.1', '10.1', '10.0.0.0/08x'])(
    'rejects %j',
    (value) => {
      expect(isValidCidr(value)).toBe(false);
    },
  );
});
