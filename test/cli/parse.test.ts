import { buildScopes } from '../../bin/cli/commands/keys';
import { CliError } from '../../bin/cli/errors';
import { intParser, parseEndpoint, parseExpires, parsePlanOverride, parseScopeRule, readAllStdin } from '../../bin/cli/parse';
import { Readable } from 'node:stream';

const NOW = new Date('2026-06-01T12:00:00.000Z');

describe('parseEndpoint', () => {
  test.each([
    ['https://a.example/mcp', { url: 'https://a.example/mcp' }],
    ['https://a.example/mcp=250', { url: 'https://a.example/mcp', weight: 250 }],
    ['http://127.0.0.1:9000/mcp=1', { url: 'http://127.0.0.1:9000/mcp', weight: 1 }],
    ['https://a.example/mcp?v=2=7', { url: 'https://a.example/mcp?v=2', weight: 7 }],
    ['https://a.example/mcp?v=x', { url: 'https://a.example/mcp?v=x' }],
  ])('%s', (input, expected) => {
    expect(parseEndpoint(input)).toEqual(expected);
  });

  test.each(['not a url', 'ftp://a.example/mcp', '=5'])('rejects %s as a usage error', (input) => {
    expect(() => parseEndpoint(input)).toThrow(CliError);
    try {
      parseEndpoint(input);
    } catch (err) {
      expect((err as CliError).exitCode).toBe(2);
    }
  });
});

describe('parseExpires', () => {
  test.each([
    ['30d', '2026-07-01T12:00:00.000Z'],
    ['12h', '2026-06-02T00:00:00.000Z'],
    ['90m', '2026-06-01T13:30:00.000Z'],
    ['2w', '2026-06-15T12:00:00.000Z'],
    ['2027-01-31', '2027-01-31T00:00:00.000Z'],
    ['2027-01-31T08:30:00Z', '2027-01-31T08:30:00.000Z'],
    ['2027-01-31T08:30:00+02:00', '2027-01-31T06:30:00.000Z'],
  ])('%s', (input, expected) => {
    expect(parseExpires(input, NOW)).toBe(expected);
  });

  test.each(['yesterday', '30x', '2026-05-01', '0d', '2027-13-45'])('rejects %s', (input) => {
    expect(() => parseExpires(input, NOW)).toThrow(/--expires/);
  });
});

describe('parseScopeRule and buildScopes', () => {
  test('splits at the first colon; the pattern may contain colons', () => {
    expect(parseScopeRule('github:ns:search_*', '--allow-tool')).toEqual({ slug: 'github', pattern: 'ns:search_*' });
    expect(() => parseScopeRule('github', '--allow-tool')).toThrow(/<mcp-slug>:<tool-pattern>/);
    expect(() => parseScopeRule(':x', '--allow-tool')).toThrow(CliError);
    expect(() => parseScopeRule('x:', '--deny-tool')).toThrow(/--deny-tool/);
  });

  test('all MCPs by default, no tools entry without tool rules', () => {
    expect(buildScopes({})).toEqual({ mcps: '*' });
    expect(buildScopes({ mcp: ['*'] })).toEqual({ mcps: '*' });
  });

  test('collects allow and deny rules per MCP, de-duplicating --mcp', () => {
    expect(
      buildScopes({
        mcp: ['github', 'jira', 'github'],
        allowTool: ['github:search_*', 'github:get_*'],
        denyTool: ['jira:delete_*', '*:admin_*'],
      }),
    ).toEqual({
      mcps: ['github', 'jira'],
      tools: {
        github: { allow: ['search_*', 'get_*'], deny: [] },
        jira: { allow: [], deny: ['delete_*'] },
        '*': { allow: [], deny: ['admin_*'] },
      },
    });
  });

  test('a tool rule for an MCP outside --mcp is a usage error', () => {
    expect(() => buildScopes({ mcp: ['github'], allowTool: ['jira:search'] })).toThrow(/not in --mcp/);
  });
});

test('intParser accepts whole numbers in range only', () => {
  const p = intParser(1, 10);
  expect(p('7')).toBe(7);
  for (const bad of ['0', '11', '1.5', '-1', 'abc', '']) expect(() => p(bad)).toThrow(/Expected/);
});

test('readAllStdin joins chunks and drops exactly one trailing newline', async () => {
  expect(await readAllStdin(Readable.from([Buffer.from('s3c'), Buffer.from('ret\n')]))).toBe('s3cret');
  expect(await readAllStdin(Readable.from([Buffer.from('a\r\n')]))).toBe('a');
  expect(await readAllStdin(Readable.from([Buffer.from('a\n\n')]))).toBe('a\n');
});

describe('resource and prompt rules', () => {
  test('a resource rule splits at the first colon, keeping the URI whole', () => {
    expect(parseScopeRule('docs:file:///docs/*', '--allow-resource', 'resource')).toEqual({ slug: 'docs', pattern: 'file:///docs/*' });
    expect(parseScopeRule('*:https://a.example/x?y=1', '--deny-resource', 'resource')).toEqual({ slug: '*', pattern: 'https://a.example/x?y=1' });
    expect(() => parseScopeRule('file:///docs/*', '--allow-resource', 'resource')).toThrow(/starts with a URI, not an MCP slug/);
    expect(() => parseScopeRule('docs', '--allow-resource', 'resource')).toThrow(/<mcp-slug>:<uri-pattern>/);
    expect(parseScopeRule('docs:ns:summarize', '--allow-prompt', 'prompt')).toEqual({ slug: 'docs', pattern: 'ns:summarize' });
  });

  test('buildScopes collects resources and prompts per MCP next to tools', () => {
    expect(
      buildScopes({
        mcp: ['docs'],
        allowResource: ['docs:file:///docs/*'],
        denyResource: ['*:file:///etc/*'],
        denyPrompt: ['docs:debug_*'],
      }),
    ).toEqual({
      mcps: ['docs'],
      resources: { docs: { allow: ['file:///docs/*'], deny: [] }, '*': { allow: [], deny: ['file:///etc/*'] } },
      prompts: { docs: { allow: [], deny: ['debug_*'] } },
    });
  });
});

test('parsePlanOverride', () => {
  const names = ['maxApiKeys', 'requestsPerMinute'];
  expect(parsePlanOverride('maxApiKeys=50', names)).toEqual({ name: 'maxApiKeys', value: 50 });
  expect(parsePlanOverride(' requestsPerMinute=default ', names)).toEqual({ name: 'requestsPerMinute', value: null });
  for (const bad of ['maxApiKeys', 'maxApiKeys=', 'maxApiKeys=-1', 'maxApiKeys=0', 'maxApiKeys=1.5', 'other=1', '=5', `maxApiKeys=${'9'.repeat(20)}`]) {
    expect(() => parsePlanOverride(bad, names)).toThrow(CliError);
  }
});
