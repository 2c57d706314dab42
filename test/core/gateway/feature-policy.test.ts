import {
  accessFor,
  authorizeMessage,
  authorizeMessages,
  compileGlob,
  featurePolicies,
  hasDotSegment,
  looseSpelling,
  MAX_RESOURCE_URI_LENGTH,
  UNRESTRICTED,
  type Access,
  type PolicyKey,
  type PolicyMcp,
} from '../../../lambda/core/gateway/feature-policy';
import { inspectBody, type InspectedMessage } from '../../../lambda/core/gateway/jsonrpc';
import type { ToolPolicy } from '../../../lambda/core/model';

const globMatch = (pattern: string, name: string) => compileGlob(pattern)(name);

/** The tool check of the Access built from up to two policies: the MCP's own and the key's `*` entry. */
const toolAllowed = (name: string, policies: ToolPolicy[]) =>
  accessFor({ slug: 'files', toolPolicy: policies[0] ?? { allow: [], deny: [] } }, { scopes: { tools: policies[1] ? { '*': policies[1] } : {} } }).tool(name);

describe('globMatch', () => {
  it.each([
    ['*', '', true],
    ['*', 'anything', true],
    ['**', '', true],
    ['', '', true],
    ['', 'a', false],
    ['a', 'a', true],
    ['a', 'A', false],
    ['a', 'ab', false],
    ['a', 'ba', false],
    ['a*', 'a', true],
    ['a*', 'abc', true],
    ['a*', 'ba', false],
    ['*b', 'b', true],
    ['*b', 'aab', true],
    ['*b', 'ba', false],
    ['a*b', 'ab', true],
    ['a*b', 'axxb', true],
    ['a*b', 'axxbx', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'acb', false],
    ['*a*', 'bab', true],
    ['*a*', 'bbb', false],
    ['ab*ba', 'aba', false], // prefix and suffix may not overlap
    ['ab*ba', 'abba', true],
    ['a*a*a', 'aa', false],
    ['a*a*a', 'aaa', true],
    ['*ab*ab*', 'abab', true],
    ['*ab*ab*', 'aba', false],
    ['a.b', 'a.b', true],
    ['a.b', 'axb', false],
    ['get_*', 'get_user', true],
    ['get_*', 'get', false],
    ['github.*', 'github.issues', true],
    ['github.*', 'githubXissues', false],
    ['(a)', '(a)', true],
    ['(a)', 'a', false],
    ['[ab]', 'a', false],
    ['[ab]', '[ab]', true],
    ['a+', 'aa', false],
    ['a+', 'a+', true],
    ['a?', 'a', false],
    ['a?', 'ab', false],
    ['a?', 'a?', true],
    ['^a$', 'a', false],
    ['^a$', '^a$', true],
    ['a|b', 'a', false],
    ['a|b', 'a|b', true],
    ['a\\b', 'a\\b', true],
    ['a\\*', 'a\\xyz', true], // a backslash does not escape the star
    ['a\\*', 'a*', false],
    ['{1,2}', '{1,2}', true],
    ['$&', '$&', true],
    ['ü*', 'über', true],
    ['*🙂', 'smile🙂', true],
  ])('%p matches %p: %p', (pattern, name, expected) => {
    expect(globMatch(pattern, name)).toBe(expected);
  });

  /** The obvious (and, for `*`-only globs, correct) regular-expression matcher, as a reference. */
  function reference(pattern: string, name: string): boolean {
    const source = pattern
      .split('*')
      .map((piece) => piece.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    return new RegExp(`^${source}$`, 's').test(name);
  }

  it('agrees with a regular-expression reference on every short pattern and name', () => {
    const alphabet = ['a', 'b', '*'];
    const strings = (chars: string[], max: number): string[] => {
      const out = [''];
      let level = [''];
      for (let n = 0; n < max; n++) {
        level = level.flatMap((s) => chars.map((c) => s + c));
        out.push(...level);
      }
      return out;
    };
    const patterns = strings(alphabet, 5);
    const names = strings(['a', 'b'], 6);
    let checked = 0;
    for (const pattern of patterns) {
      for (const name of names) {
        expect([pattern, name, globMatch(pattern, name)]).toEqual([pattern, name, reference(pattern, name)]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(30_000);
  });

  it('takes linear time on patterns that make backtracking matchers explode', () => {
    const name = 'a'.repeat(10_000);
    const patterns = ['a*a*a*a*b', '*a*a*a*a*a*a*a*a*a*a*b', `${'*a'.repeat(200)}*b`, `*${'a'.repeat(5000)}b*`];
    const started = performance.now();
    for (let n = 0; n < 20; n++) {
      for (const pattern of patterns) expect(globMatch(pattern, name)).toBe(false);
      expect(globMatch('a*a*a*a*a', name)).toBe(true);
    }
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('toolAllowed', () => {
  const policy = (allow: string[], deny: string[] = []): ToolPolicy => ({ allow, deny });

  it.each<[string, string, ToolPolicy[], boolean]>([
    ['no policies allow everything', 'x', [], true],
    ['an empty policy allows everything', 'x', [policy([])], true],
    ['a matching allow', 'get_user', [policy(['get_*'])], true],
    ['no matching allow', 'delete_user', [policy(['get_*'])], false],
    ['any of several allows', 'list', [policy(['get_*', 'list'])], true],
    ['deny alone', 'delete_user', [policy([], ['delete_*'])], false],
    ['deny alone, other tool', 'get_user', [policy([], ['delete_*'])], true],
    ['deny wins over allow', 'get_secret', [policy(['get_*'], ['*secret*'])], false],
    ['deny wins over allow *', 'x', [policy(['*'], ['x'])], false],
    ['every policy must allow', 'get_user', [policy(['get_*']), policy(['list_*'])], false],
    ['every policy allows', 'get_user', [policy(['get_*']), policy(['*_user'])], true],
    ['a deny in any policy refuses', 'get_user', [policy(['get_*']), policy([], ['get_user'])], false],
    ['an empty allow does not widen another policy', 'delete', [policy([]), policy(['get_*'])], false],
    ['the dot is literal', 'githubXissues', [policy(['github.*'])], false],
  ])('%s', (_case, name, policies, expected) => {
    expect(toolAllowed(name, policies)).toBe(expected);
  });
});

describe('featurePolicies for tools', () => {
  const mcpPolicy: ToolPolicy = { allow: [], deny: ['admin_*'] };
  const star: ToolPolicy = { allow: ['get_*'], deny: [] };
  const own: ToolPolicy = { allow: [], deny: ['get_secret'] };
  const other: ToolPolicy = { allow: ['nothing'], deny: [] };
  const mcp = { slug: 'github', toolPolicy: mcpPolicy };

  it('takes the MCP policy, the key policy for * and the key policy for the slug', () => {
    expect(featurePolicies(mcp, { scopes: { tools: { '*': star, github: own, jira: other } } }, 'tools')).toEqual([mcpPolicy, star, own]);
  });

  it('leaves out what the key does not have', () => {
    expect(featurePolicies(mcp, { scopes: { tools: {} } }, 'tools')).toEqual([mcpPolicy]);
    expect(featurePolicies(mcp, { scopes: { tools: { github: own } } }, 'tools')).toEqual([mcpPolicy, own]);
    expect(featurePolicies(mcp, { scopes: { tools: { '*': star, jira: other } } }, 'tools')).toEqual([mcpPolicy, star]);
  });

  it('never finds a policy on Object.prototype', () => {
    for (const slug of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(featurePolicies({ slug, toolPolicy: mcpPolicy }, { scopes: { tools: {} } }, 'tools')).toEqual([mcpPolicy]);
    }
  });

  it('all of them apply together', () => {
    const access = accessFor(mcp, { scopes: { tools: { '*': star, github: own } } });
    expect(access.tool('get_user')).toBe(true);
    expect(access.tool('get_secret')).toBe(false);
    expect(access.tool('list_repos')).toBe(false);
    expect(access.tool('admin_get')).toBe(false);
  });
});

describe('compileGlob', () => {
  it('compiles once and matches like globMatch', () => {
    const match = compileGlob('get_*_by*id');
    expect(['get_user_by_id', 'get__byid', 'get_x_by_idx', 'get_byid'].map(match)).toEqual([true, true, false, false]);
    expect(compileGlob('')('')).toBe(true);
    expect(compileGlob('exact')('exact')).toBe(true);
    expect(compileGlob('exact')('exactly')).toBe(false);
  });
});

const none: ToolPolicy = { allow: [], deny: [] };
const pol = (allow: string[], deny: string[] = []): ToolPolicy => ({ allow, deny });
const mcpWith = (extra: Partial<PolicyMcp> = {}): PolicyMcp => ({ slug: 'files', toolPolicy: none, ...extra });
const keyWith = (scopes: Partial<PolicyKey['scopes']> = {}): PolicyKey => ({ scopes: { tools: {}, ...scopes } });

describe('featurePolicies', () => {
  const mcp = mcpWith({ toolPolicy: pol(['t']), resourcePolicy: pol(['r']), promptPolicy: pol(['p']) });
  const key = keyWith({
    tools: { '*': pol(['t*']), files: pol(['tf']) },
    resources: { '*': pol(['r*']), files: pol(['rf']), other: pol(['ro']) },
    prompts: { files: pol(['pf']) },
  });

  it('takes, per feature, the MCP policy, the key policy for * and the key policy for the slug', () => {
    expect(featurePolicies(mcp, key, 'tools')).toEqual([pol(['t']), pol(['t*']), pol(['tf'])]);
    expect(featurePolicies(mcp, key, 'resources')).toEqual([pol(['r']), pol(['r*']), pol(['rf'])]);
    expect(featurePolicies(mcp, key, 'prompts')).toEqual([pol(['p']), pol(['pf'])]);
  });

  it('treats absent resource and prompt policies as none', () => {
    expect(featurePolicies(mcpWith(), keyWith(), 'resources')).toEqual([]);
    expect(featurePolicies(mcpWith(), keyWith(), 'prompts')).toEqual([]);
    expect(featurePolicies(mcpWith(), keyWith(), 'tools')).toEqual([none]);
  });

  it('never finds a policy on Object.prototype', () => {
    for (const slug of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      expect(featurePolicies(mcpWith({ slug }), keyWith({ resources: {}, prompts: {} }), 'resources')).toEqual([]);
      expect(featurePolicies(mcpWith({ slug }), keyWith({ resources: {}, prompts: {} }), 'prompts')).toEqual([]);
    }
  });

  it('does not apply a key entry for the slug "*" twice when the MCP is named "*"', () => {
    expect(featurePolicies(mcpWith({ slug: '*' }), keyWith({ prompts: { '*': pol(['x']) } }), 'prompts')).toEqual([pol(['x'])]);
  });
});

describe('accessFor', () => {
  it('restricts nothing when no policy has a pattern', () => {
    const access = accessFor(mcpWith({ resourcePolicy: none, promptPolicy: none }), keyWith({ tools: { '*': none }, resources: { files: none } }));
    expect(access.restricts).toEqual({ tools: false, resources: false, prompts: false });
    expect(UNRESTRICTED.restricts).toEqual({ tools: false, resources: false, prompts: false });
    // Without a resource policy nothing about the URI is refused, not even what a policy would refuse.
    for (const a of [access, UNRESTRICTED]) {
      expect(a.tool('anything')).toBe(true);
      expect(a.prompt('')).toBe(true);
      expect(a.resource('file:///a/../b')).toBe(true);
      expect(a.resource('x'.repeat(MAX_RESOURCE_URI_LENGTH + 1))).toBe(true);
      expect(a.resource('file:///a\u0000b')).toBe(true);
    }
  });

  it('restricts each feature on its own', () => {
    const tools = accessFor(mcpWith({ toolPolicy: pol([], ['admin_*']) }), keyWith());
    expect(tools.restricts).toEqual({ tools: true, resources: false, prompts: false });
    expect([tools.tool('admin_x'), tools.tool('get'), tools.resource('admin_x'), tools.prompt('admin_x')]).toEqual([false, true, true, true]);
    const resources = accessFor(mcpWith(), keyWith({ resources: { files: pol([], ['file:///secret/*']) } }));
    expect(resources.restricts).toEqual({ tools: false, resources: true, prompts: false });
    const prompts = accessFor(mcpWith(), keyWith({ prompts: { '*': pol([], ['secret']) } }));
    expect(prompts.restricts).toEqual({ tools: false, resources: false, prompts: true });
    expect([prompts.prompt('secret'), prompts.prompt('Secret'), prompts.prompt('greet')]).toEqual([false, true, true]);
  });

  it('an allow-list key gets nothing of a feature it names nothing for; deny-only scopes close nothing else', () => {
    const onlyCount = accessFor(mcpWith(), keyWith({ tools: { files: pol(['count']) } }));
    expect(onlyCount.restricts).toEqual({ tools: true, resources: true, prompts: true });
    expect([onlyCount.tool('count'), onlyCount.tool('other'), onlyCount.resource('file:///a'), onlyCount.prompt('p')]).toEqual([true, false, false, false]);
    const viaStar = accessFor(mcpWith(), keyWith({ resources: { '*': pol(['file:///public/*']) } }));
    expect([viaStar.resource('file:///public/a'), viaStar.tool('count'), viaStar.prompt('p')]).toEqual([true, false, false]);
    const reopened = accessFor(mcpWith(), keyWith({ tools: { files: pol(['count']) }, resources: { '*': pol(['*']) } }));
    expect([reopened.resource('file:///a'), reopened.prompt('p')]).toEqual([true, false]);
    const otherMcp = accessFor(mcpWith(), keyWith({ tools: { elsewhere: pol(['count']) } }));
    expect([otherMcp.tool('x'), otherMcp.resource('file:///a'), otherMcp.prompt('p')]).toEqual([true, true, true]);
    const denyOnly = accessFor(mcpWith(), keyWith({ tools: { files: pol([], ['delete_*']) } }));
    expect([denyOnly.tool('delete_x'), denyOnly.tool('get'), denyOnly.resource('file:///a'), denyOnly.prompt('p')]).toEqual([false, true, true, true]);
  });

  it('requires every applicable policy to allow, for every feature', () => {
    const access = accessFor(
      mcpWith({ toolPolicy: pol(['get_*']), resourcePolicy: pol([], ['file:///etc/*']), promptPolicy: pol(['p*']) }),
      keyWith({
        tools: { '*': pol(['*_user']) },
        resources: { '*': pol(['file:///*']), files: pol([], ['file:///home/*']) },
        prompts: { files: pol([], ['pz']), other: pol(['nothing']) },
      }),
    );
    expect([access.tool('get_user'), access.tool('get_repo'), access.tool('set_user')]).toEqual([true, false, false]);
    expect(['file:///srv/a', 'file:///etc/passwd', 'file:///home/me', 'https://x/'].map((u) => access.resource(u))).toEqual([true, false, false, false]);
    expect([access.prompt('pa'), access.prompt('pz'), access.prompt('nothing')]).toEqual([true, false, false]);
  });

  it('tolerates stored policies without allow or deny lists', () => {
    const loose = { allow: undefined, deny: ['x'] } as unknown as ToolPolicy;
    const access = accessFor(mcpWith({ toolPolicy: loose, resourcePolicy: loose, promptPolicy: { allow: ['y'] } as unknown as ToolPolicy }), keyWith());
    expect([access.tool('x'), access.tool('z'), access.resource('x'), access.resource('z'), access.prompt('y'), access.prompt('x')]).toEqual([
      false,
      true,
      false,
      true,
      true,
      false,
    ]);
  });

  describe('resources', () => {
    const allowPublic = accessFor(mcpWith({ resourcePolicy: pol(['file:///public/*', 'db://Orders/*']) }), keyWith());
    const denySecret = accessFor(mcpWith({ resourcePolicy: pol([], ['file:///secret*', 'https://Internal.example/*']) }), keyWith());

    it('matches allow patterns against the literal URI only', () => {
      expect(allowPublic.resource('file:///public/a.txt')).toBe(true);
      expect(allowPublic.resource('db://Orders/1')).toBe(true);
      // Other spellings of an allowed URI are not allowed: the upstream receives what was matched.
      expect(allowPublic.resource('FILE:///public/a.txt')).toBe(false);
      expect(allowPublic.resource('file:///%70ublic/a.txt')).toBe(false);
      expect(allowPublic.resource('db://orders/1')).toBe(false);
      expect(allowPublic.resource('file:///public')).toBe(false);
    });

    it('matches deny patterns against other spellings too', () => {
      for (const uri of [
        'file:///secret',
        'file:///secret/x',
        'FILE:///SECRET',
        'File:///Secret.txt',
        'file:///%73ecret',
        'file:///%53ECRET',
        'file:///secre%74/x',
        'file:\\\\\\secret',
        'HTTPS://INTERNAL.EXAMPLE/a',
        'https://internal.example/a',
        'https://internal%2Eexample/a',
      ]) {
        expect([uri, denySecret.resource(uri)]).toEqual([uri, false]);
      }
      for (const uri of ['file:///public', 'file:///secre', 'file:///%2573ecret', 'https://internal.example.org/a', 'file:///s3cret']) {
        expect([uri, denySecret.resource(uri)]).toEqual([uri, true]);
      }
    });

    it('refuses dot segments, however they are spelled, while a policy applies', () => {
      const refused = [
        'file:///public/../secret',
        'file:///public/..',
        'file:///public/./a',
        'file:///public/%2e%2e/secret',
        'file:///public/%2E%2E/secret',
        'file:///public/.%2e/secret',
        'file:///public/..%2fsecret',
        'file:///public/..%2Fsecret',
        'file:///public/..%5csecret',
        'file:///public\\..\\secret',
        'file:///public/..;x/secret',
        'file:///public/%2e',
        '..',
      ];
      for (const uri of refused) {
        expect([uri, hasDotSegment(uri)]).toEqual([uri, true]);
        expect([uri, allowPublic.resource(uri)]).toEqual([uri, false]);
        expect([uri, denySecret.resource(uri)]).toEqual([uri, false]);
      }
      const fine = [
        'file:///public/...',
        'file:///public/..a',
        'file:///public/a..',
        'file:///public/.hidden',
        'file:///public/a?path=../x',
        'file:///public/a#../x',
        'file:///public/a#/../x',
        'file:///public/a?/../x',
        'file:///public/a.b',
        'file:///public/%2e%2e%2e',
      ];
      for (const uri of fine) {
        expect([uri, hasDotSegment(uri)]).toEqual([uri, false]);
        expect([uri, allowPublic.resource(uri)]).toEqual([uri, true]);
      }
    });

    it('refuses control characters while a policy applies', () => {
      for (const c of ['\u0000', '\n', '\r', '\t', '\u001f', '\u007f']) {
        expect(allowPublic.resource(`file:///public/a${c}b`)).toBe(false);
        expect(denySecret.resource(`file:///ok${c}`)).toBe(false);
      }
      expect(allowPublic.resource('file:///public/ünïcode 🙂')).toBe(true);
    });

    it('refuses URIs over the length bound while a policy applies', () => {
      const at = 'file:///public/' + 'a'.repeat(MAX_RESOURCE_URI_LENGTH - 'file:///public/'.length);
      expect(at.length).toBe(MAX_RESOURCE_URI_LENGTH);
      expect(allowPublic.resource(at)).toBe(true);
      expect(allowPublic.resource(at + 'a')).toBe(false);
      expect(denySecret.resource('file:///ok/' + 'a'.repeat(MAX_RESOURCE_URI_LENGTH))).toBe(false);
    });

    it('takes time linear in the URI', () => {
      const access = accessFor(
        mcpWith({ resourcePolicy: pol([`${'*a'.repeat(50)}*b`, 'file:///*'], [`*${'%61'.repeat(100)}*c`, '*a*a*a*a*a*a*a*c']) }),
        keyWith({ resources: { '*': pol([], ['*%41*%41*%41*z']) } }),
      );
      const uri = 'file:///' + '%61a'.repeat((MAX_RESOURCE_URI_LENGTH - 8) / 4);
      expect(uri.length).toBe(MAX_RESOURCE_URI_LENGTH);
      const started = performance.now();
      for (let n = 0; n < 200; n++) expect(access.resource(uri)).toBe(true);
      expect(performance.now() - started).toBeLessThan(2000);
    });
  });

  it('spells URIs loosely for deny patterns as documented', () => {
    // %5C decodes to a backslash, which then counts as a slash; space, DEL and non-ASCII stay encoded;
    // one level only (%25 gives a % that is not decoded again).
    expect(looseSpelling('HTTPS://Example.COM/%41%2f%5C%7e%25%20%7f%e9\\x%2541')).toBe('https://example.com/a//~%%20%7f%e9/x%41');
  });
});

describe('authorizeMessage', () => {
  const access = accessFor(
    mcpWith({ toolPolicy: pol([], ['admin_*']) }),
    keyWith({ tools: { files: pol(['*']) }, resources: { files: pol(['file:///public/*', 'file:///{path}']) }, prompts: { '*': pol(['greet*']) } }),
  );
  const one = (body: unknown): InspectedMessage => {
    const inspected = inspectBody(JSON.stringify(body));
    if (!inspected.ok) throw new Error(inspected.message);
    return inspected.messages[0];
  };
  const call = (method: string, params?: unknown, id: number | undefined = 1) =>
    one({ jsonrpc: '2.0', ...(id === undefined ? {} : { id }), method, ...(params === undefined ? {} : { params }) });

  it.each<[string, InspectedMessage, string | undefined]>([
    ['an allowed tool', call('tools/call', { name: 'get' }), undefined],
    ['a denied tool', call('tools/call', { name: 'admin_wipe' }), 'forbidden_tool'],
    ['a tool without a name', call('tools/call', {}), 'forbidden_tool'],
    ['a tool with a numeric name', call('tools/call', { name: 1 }), 'forbidden_tool'],
    ['a tool by position', call('tools/call', ['get']), 'forbidden_tool'],
    ['a denied tool as a notification', call('tools/call', { name: 'admin_wipe' }, undefined), 'forbidden_tool'],
    ['an allowed read', call('resources/read', { uri: 'file:///public/a' }), undefined],
    ['a denied read', call('resources/read', { uri: 'file:///secret' }), 'forbidden_resource'],
    ['a read escaping with ..', call('resources/read', { uri: 'file:///public/../secret' }), 'forbidden_resource'],
    ['a read without a uri', call('resources/read', { name: 'file:///public/a' }), 'forbidden_resource'],
    ['an allowed subscribe', call('resources/subscribe', { uri: 'file:///public/a' }), undefined],
    ['a denied subscribe', call('resources/subscribe', { uri: 'file:///secret' }), 'forbidden_resource'],
    ['a subscribe without a uri', call('resources/subscribe'), 'forbidden_resource'],
    ['any unsubscribe', call('resources/unsubscribe', { uri: 'file:///secret' }), undefined],
    ['an allowed prompt', call('prompts/get', { name: 'greeting' }), undefined],
    ['a denied prompt', call('prompts/get', { name: 'leak' }), 'forbidden_prompt'],
    ['a prompt without a name', call('prompts/get', { arguments: {} }), 'forbidden_prompt'],
    ['completing an allowed prompt', call('completion/complete', { ref: { type: 'ref/prompt', name: 'greet' } }), undefined],
    ['completing a denied prompt', call('completion/complete', { ref: { type: 'ref/prompt', name: 'leak' } }), 'forbidden_prompt'],
    ['completing an allowed template', call('completion/complete', { ref: { type: 'ref/resource', uri: 'file:///{path}' } }), undefined],
    ['completing a denied template', call('completion/complete', { ref: { type: 'ref/resource', uri: 'db://{table}' } }), 'forbidden_resource'],
    ['completing a resource ref without a uri', call('completion/complete', { ref: { type: 'ref/resource', name: 'greet' } }), 'forbidden_resource'],
    ['completing a prompt ref without a name', call('completion/complete', { ref: { type: 'ref/prompt', uri: 'file:///{path}' } }), 'forbidden_prompt'],
    ['completing an unknown ref', call('completion/complete', { ref: { type: 'ref/tool', name: 'get' } }), 'forbidden_prompt'],
    ['completing without a ref', call('completion/complete', {}), 'forbidden_prompt'],
    ['listening to allowed resources', call('subscriptions/listen', { notifications: { resourceSubscriptions: ['file:///public/a', 'file:///public/b'] } }), undefined],
    ['listening to one denied resource among allowed ones', call('subscriptions/listen', { notifications: { resourceSubscriptions: ['file:///public/a', 'file:///x'] } }), 'forbidden_resource'],
    ['listening with malformed subscriptions', call('subscriptions/listen', { notifications: { resourceSubscriptions: [1] } }), 'forbidden_resource'],
    ['listening to list changes only', call('subscriptions/listen', { notifications: { toolsListChanged: true } }), undefined],
    ['listening to no resources', call('subscriptions/listen', { notifications: { resourceSubscriptions: [] } }), undefined],
    ['a list request', call('resources/list'), undefined],
    ['another method that carries a name', call('logging/setLevel', { name: 'admin_x', uri: 'file:///secret' }), undefined],
    ['a response', one({ jsonrpc: '2.0', id: 1, result: { name: 'admin_x' } }), undefined],
  ])('%s', (_case, message, expected) => {
    expect(authorizeMessage(message, access)).toBe(expected);
  });

  it('fails closed on missing names even when nothing is restricted', () => {
    expect(authorizeMessage(call('tools/call', {}), UNRESTRICTED)).toBe('forbidden_tool');
    expect(authorizeMessage(call('resources/read', {}), UNRESTRICTED)).toBe('forbidden_resource');
    expect(authorizeMessage(call('prompts/get', {}), UNRESTRICTED)).toBe('forbidden_prompt');
    expect(authorizeMessage(call('completion/complete', {}), UNRESTRICTED)).toBe('forbidden_prompt');
    expect(authorizeMessage(call('subscriptions/listen', { notifications: 'all' }), UNRESTRICTED)).toBe('forbidden_resource');
    expect(authorizeMessage(call('tools/call', { name: 'admin_x' }), UNRESTRICTED)).toBeUndefined();
    expect(authorizeMessage(call('resources/read', { uri: 'file:///a/../b' }), UNRESTRICTED)).toBeUndefined();
  });

  it('asks the access about exactly the decoded name', () => {
    const asked: string[] = [];
    const spy: Access = {
      tool: (n) => (asked.push(`tool:${n}`), true),
      resource: (u) => (asked.push(`resource:${u}`), true),
      prompt: (n) => (asked.push(`prompt:${n}`), true),
      restricts: { tools: true, resources: true, prompts: true },
    };
    const inspected = inspectBody(
      '[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\\u0061dmin"}},' +
        '{"jsonrpc":"2.0","id":2,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"a\\/b"}}},' +
        '{"jsonrpc":"2.0","id":3,"method":"subscriptions/listen","params":{"notifications":{"resourceSubscriptions":["x","y"]}}}]',
    );
    if (!inspected.ok) throw new Error(inspected.message);
    expect(authorizeMessages(inspected.messages, spy)).toBeUndefined();
    expect(asked).toEqual(['tool:admin', 'resource:a/b', 'resource:x', 'resource:y']);
  });

  it('gives the first refusal of a batch', () => {
    const inspected = inspectBody(
      JSON.stringify([
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get' } },
        { jsonrpc: '2.0', id: 2, method: 'prompts/get', params: { name: 'leak' } },
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'admin_x' } },
      ]),
    );
    if (!inspected.ok) throw new Error(inspected.message);
    expect(authorizeMessages(inspected.messages, access)).toBe('forbidden_prompt');
    expect(authorizeMessages(inspected.messages.slice(0, 1), access)).toBeUndefined();
    expect(authorizeMessages([], access)).toBeUndefined();
  });

  it('checks a huge subscription list in linear time', () => {
    const uris = Array.from({ length: 50_000 }, (_, k) => `file:///public/${k}`);
    const started = performance.now();
    expect(authorizeMessage(call('subscriptions/listen', { notifications: { resourceSubscriptions: uris } }), access)).toBeUndefined();
    expect(authorizeMessage(call('subscriptions/listen', { notifications: { resourceSubscriptions: [...uris, 'file:///no'] } }), access)).toBe('forbidden_resource');
    expect(performance.now() - started).toBeLessThan(3000);
  });
});
