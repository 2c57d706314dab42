import { globMatch, policiesFor, toolAllowed } from '../../../lambda/core/gateway/tool-policy';
import type { ToolPolicy } from '../../../lambda/core/model';

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

describe('policiesFor', () => {
  const mcpPolicy: ToolPolicy = { allow: [], deny: ['admin_*'] };
  const star: ToolPolicy = { allow: ['get_*'], deny: [] };
  const own: ToolPolicy = { allow: [], deny: ['get_secret'] };
  const other: ToolPolicy = { allow: ['nothing'], deny: [] };
  const mcp = { slug: 'github', toolPolicy: mcpPolicy };

  it('takes the MCP policy, the key policy for * and the key policy for the slug', () => {
    expect(policiesFor(mcp, { scopes: { tools: { '*': star, github: own, jira: other } } })).toEqual([mcpPolicy, star, own]);
  });

  it('leaves out what the key does not have', () => {
    expect(policiesFor(mcp, { scopes: { tools: {} } })).toEqual([mcpPolicy]);
    expect(policiesFor(mcp, { scopes: { tools: { github: own } } })).toEqual([mcpPolicy, own]);
    expect(policiesFor(mcp, { scopes: { tools: { '*': star, jira: other } } })).toEqual([mcpPolicy, star]);
  });

  it('never finds a policy on Object.prototype', () => {
    for (const slug of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(policiesFor({ slug, toolPolicy: mcpPolicy }, { scopes: { tools: {} } })).toEqual([mcpPolicy]);
    }
  });

  it('combines with toolAllowed', () => {
    const policies = policiesFor(mcp, { scopes: { tools: { '*': star, github: own } } });
    expect(toolAllowed('get_user', policies)).toBe(true);
    expect(toolAllowed('get_secret', policies)).toBe(false);
    expect(toolAllowed('list_repos', policies)).toBe(false);
    expect(toolAllowed('admin_get', policies)).toBe(false);
  });
});
