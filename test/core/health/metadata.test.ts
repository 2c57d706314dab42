import {
  boundMetadataForStorage,
  buildMetadata,
  canonicalJson,
  diffTools,
  hashMetadata,
  STORED_DESCRIPTION_MAX_CHARS,
} from '../../../lambda/core/health/metadata';
import type { NamedItem, ToolInfo } from '../../../lambda/core/health/model';

const echo: ToolInfo = {
  name: 'echo',
  title: 'Echo',
  description: 'Echoes its input',
  inputSchema: { type: 'object', properties: { text: { type: 'string' }, times: { type: 'number' } }, required: ['text'] },
};
const add: ToolInfo = {
  name: 'add',
  description: 'Adds two numbers',
  inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } },
};
const resources: NamedItem[] = [
  { name: 'readme', uri: 'file:///readme.md', description: 'The readme' },
  { name: 'license', uri: 'file:///LICENSE' },
];
const prompts: NamedItem[] = [{ name: 'greet', description: 'Says hello' }, { name: 'summarize' }];

describe('hashMetadata', () => {
  const base = hashMetadata([echo, add], resources, prompts);

  it('is a SHA-256 hex digest', () => {
    expect(base).toMatch(/^[0-9a-f]{64}$/);
  });

  it('does not depend on the order of lists or of object keys', () => {
    const reorderedEcho: ToolInfo = {
      inputSchema: { required: ['text'], properties: { times: { type: 'number' }, text: { type: 'string' } }, type: 'object' },
      description: 'Echoes its input',
      title: 'Echo',
      name: 'echo',
    };
    expect(hashMetadata([add, reorderedEcho], [...resources].reverse(), [...prompts].reverse())).toBe(base);
  });

  it('ignores fields outside the contract and undefined fields', () => {
    const withExtras = { ...echo, annotations: { readOnlyHint: true }, outputSchema: { type: 'object' }, unrelated: undefined } as ToolInfo;
    expect(hashMetadata([withExtras, add], resources, prompts)).toBe(base);
    expect(hashMetadata([{ ...add, title: undefined }, echo], resources, prompts)).toBe(base);
  });

  it.each<[string, ToolInfo]>([
    ['name', { ...echo, name: 'echo2' }],
    ['title', { ...echo, title: 'Echo!' }],
    ['description', { ...echo, description: 'Echoes its input twice' }],
    ['inputSchema property', { ...echo, inputSchema: { type: 'object', properties: { text: { type: 'integer' } } } }],
    ['required fields', { ...echo, inputSchema: { ...(echo.inputSchema as object), required: [] } }],
    ['no inputSchema', { name: 'echo', title: 'Echo', description: 'Echoes its input' }],
  ])('changes when a tool %s changes', (_what, changed) => {
    expect(hashMetadata([changed, add], resources, prompts)).not.toBe(base);
  });

  it('changes when a resource or prompt changes, is added or goes', () => {
    expect(hashMetadata([echo, add], [resources[0]!], prompts)).not.toBe(base);
    expect(hashMetadata([echo, add], [{ ...resources[0]!, uri: 'file:///README.md' }, resources[1]!], prompts)).not.toBe(base);
    expect(hashMetadata([echo, add], resources, [...prompts, { name: 'new' }])).not.toBe(base);
    expect(hashMetadata([echo, add], resources, [{ ...prompts[0]!, description: 'Says hi' }, prompts[1]!])).not.toBe(base);
  });

  it('tells tools from prompts of the same name', () => {
    expect(hashMetadata([{ name: 'x' }], [], [])).not.toBe(hashMetadata([], [], [{ name: 'x' }]));
  });

  it('keeps a __proto__ key of a schema as a key', () => {
    const schema = JSON.parse('{"type":"object","properties":{"__proto__":{"type":"string"}}}');
    const other = JSON.parse('{"type":"object","properties":{}}');
    expect(canonicalJson(schema)).toContain('__proto__');
    expect(hashMetadata([{ name: 't', inputSchema: schema }], [], [])).not.toBe(hashMetadata([{ name: 't', inputSchema: other }], [], []));
  });
});

describe('buildMetadata', () => {
  it('lists in canonical order, reduced to the contract fields, with the hash', () => {
    const m = buildMetadata([echo, { ...add, extra: 1 } as ToolInfo], resources, prompts);
    expect(m.tools.map((t) => t.name)).toEqual(['add', 'echo']);
    expect(m.tools[0]).toEqual(add);
    expect(m.resources.map((r) => r.uri)).toEqual(['file:///LICENSE', 'file:///readme.md']);
    expect(m.prompts.map((p) => p.name)).toEqual(['greet', 'summarize']);
    expect(m.hash).toBe(hashMetadata([echo, add], resources, prompts));
    expect(buildMetadata([add, echo], [...resources].reverse(), prompts)).toEqual(m);
  });
});

describe('diffTools', () => {
  it('reports added, removed and changed tools by name, sorted', () => {
    const previous = [echo, add, { name: 'gone' }];
    const next = [{ ...echo, description: 'new words' }, add, { name: 'zeta' }, { name: 'alpha' }];
    expect(diffTools(previous, next)).toEqual({ added: ['alpha', 'zeta'], removed: ['gone'], changed: ['echo'] });
  });

  it('finds no change in a reordered list with reordered keys', () => {
    const reordered: ToolInfo = { inputSchema: echo.inputSchema, name: 'echo', description: echo.description, title: echo.title };
    expect(diffTools([echo, add], [add, reordered])).toEqual({ added: [], removed: [], changed: [] });
  });

  it('sees a schema change as changed', () => {
    expect(diffTools([add], [{ ...add, inputSchema: { type: 'object' } }]).changed).toEqual(['add']);
  });

  it('treats every tool as added on first discovery', () => {
    expect(diffTools(undefined, [echo, add])).toEqual({ added: ['add', 'echo'], removed: [], changed: [] });
  });
});

describe('boundMetadataForStorage', () => {
  const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

  it('returns small metadata as it is', () => {
    const m = buildMetadata([echo, add], resources, prompts);
    expect(boundMetadataForStorage(m)).toBe(m);
  });

  it('first cuts descriptions to 1,000 characters, keeping the hash', () => {
    const long = 'é'.repeat(5_000);
    const tools = Array.from({ length: 60 }, (_, i) => ({ name: `tool-${i}`, description: long, inputSchema: { type: 'object' } }));
    const m = buildMetadata(tools, [], []);
    expect(bytes(m)).toBeGreaterThan(300_000);
    const bounded = boundMetadataForStorage(m);
    expect(bytes(bounded)).toBeLessThanOrEqual(300_000);
    expect(bounded.hash).toBe(m.hash);
    expect(bounded.tools).toHaveLength(60);
    expect(bounded.tools.every((t) => t.description!.length === STORED_DESCRIPTION_MAX_CHARS && t.inputSchema !== undefined)).toBe(true);
  });

  it('does not cut a surrogate pair in half', () => {
    const m = buildMetadata([{ name: 't', description: 'a' + '😀'.repeat(2_000) }], [], []);
    const bounded = boundMetadataForStorage(m, 3_000);
    const description = bounded.tools[0]!.description!;
    expect(description.length).toBe(STORED_DESCRIPTION_MAX_CHARS - 1);
    expect(description.endsWith('😀')).toBe(true);
  });

  it('then drops input schemas', () => {
    const schema = { type: 'object', properties: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`field_${i}`, { type: 'string', description: 'x'.repeat(40) }])) };
    const tools = Array.from({ length: 40 }, (_, i) => ({ name: `tool-${i}`, description: 'short', inputSchema: schema }));
    const m = buildMetadata(tools, resources, prompts);
    const bounded = boundMetadataForStorage(m);
    expect(bytes(bounded)).toBeLessThanOrEqual(300_000);
    expect(bounded.hash).toBe(m.hash);
    expect(bounded.tools).toHaveLength(40);
    expect(bounded.tools.every((t) => t.inputSchema === undefined && t.description === 'short')).toBe(true);
    expect(bounded.resources).toEqual(m.resources);
    expect(bounded.prompts).toEqual(m.prompts);
  });

  it('then drops trailing items, prompts and resources before tools, and fits exactly', () => {
    const tools = Array.from({ length: 5_000 }, (_, i) => ({ name: `tool-${String(i).padStart(5, '0')}-${'n'.repeat(60)}`, description: 'd'.repeat(10) }));
    const many = Array.from({ length: 1_000 }, (_, i) => ({ name: `item-${i}`, uri: `file:///${i}`, description: 'r'.repeat(50) }));
    const m = buildMetadata(tools, many, many);
    for (const limit of [300_000, 100_000, 12_345]) {
      const bounded = boundMetadataForStorage(m, limit);
      expect(bytes(bounded)).toBeLessThanOrEqual(limit);
      expect(bounded.hash).toBe(m.hash);
      expect(bounded.prompts).toEqual([]);
      expect(bounded.resources).toEqual([]);
      expect(bounded.tools.length).toBeGreaterThan(0);
      // The kept tools are the first ones, and one more would not have fitted.
      expect(bounded.tools).toEqual(m.tools.slice(0, bounded.tools.length));
      expect(bytes({ ...bounded, tools: m.tools.slice(0, bounded.tools.length + 1) })).toBeGreaterThan(limit);
    }
  });

  it('drops prompts before resources', () => {
    const prompts = Array.from({ length: 100 }, (_, i) => ({ name: `p${i}`, description: 'x'.repeat(100) }));
    const m = buildMetadata([{ name: 't' }], resources, prompts);
    const bounded = boundMetadataForStorage(m, bytes(m) - 500);
    expect(bounded.resources).toEqual(m.resources);
    expect(bounded.prompts.length).toBeGreaterThan(0);
    expect(bounded.prompts.length).toBeLessThan(100);
  });

  it('returns empty lists when nothing else fits', () => {
    const m = buildMetadata([echo, add], resources, prompts);
    const bounded = boundMetadataForStorage(m, 10);
    expect(bounded).toEqual({ tools: [], resources: [], prompts: [], hash: m.hash });
  });
});
