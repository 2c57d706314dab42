import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// An independent JSON Schema implementation (draft 2020-12), so the generated schemas are checked
// by something other than the zod that generated them (ajv comes with the MCP SDK).
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { eventSourceOf, EVENT_SOURCES } from '../../../lambda/adapters/eventbridge-publisher';
import { digestCreatedEvent } from '../../../lambda/core/audit/digest-producer';
import { EVENT_TYPES, eventSchemas, InvalidEventError, isEventType, parseEvent } from '../../../lambda/core/events/catalog';
import { ENDPOINT_DISABLED_EVENT_TYPE, TEST_EVENT_TYPE } from '../../../lambda/core/webhooks/endpoints';

const DOCS = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'events.md'), 'utf8');

/** `### \`type\`` headings of the docs, each with the first JSON block under it. */
function documentedTypes(): { type: string; example: unknown }[] {
  const section = DOCS.slice(DOCS.indexOf('## The types'));
  return section
    .split(/^### /m)
    .slice(1)
    .map((part) => {
      const type = /^`([^`]+)`/.exec(part)?.[1] ?? '';
      const json = /```json\n([\s\S]*?)```/.exec(part)?.[1];
      return { type, example: json === undefined ? undefined : JSON.parse(json) };
    });
}

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);

describe('the catalog', () => {
  test('has every type of issues 10 and 13, each once', () => {
    expect([...EVENT_TYPES].sort()).toEqual(
      [
        'mcp.endpoint.status.changed',
        'mcp.tools.changed',
        'mcp.created',
        'mcp.updated',
        'mcp.deleted',
        'key.created',
        'key.revoked',
        'key.expiring',
        'grant.created',
        'grant.revoked',
        'org.quota.threshold',
        'audit.digest.created',
        'webhook.endpoint.disabled',
        'webhook.test',
      ].sort(),
    );
    expect(new Set(EVENT_TYPES).size).toBe(EVENT_TYPES.length);
    expect(isEventType('key.revoked')).toBe(true);
    expect(isEventType('key.rotated')).toBe(false);
    expect(isEventType('constructor')).toBe(false);
  });

  test('eventSchemas(): one draft 2020-12 JSON Schema per type, exact, with its $id, that ajv compiles', () => {
    const schemas = eventSchemas();
    expect(Object.keys(schemas).sort()).toEqual([...EVENT_TYPES].sort());
    for (const type of EVENT_TYPES) {
      const schema = schemas[type];
      expect(schema).toMatchObject({
        $id: `urn:plexmcp:events:v1:${type}`,
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        additionalProperties: false,
        properties: { type: { const: type } },
      });
      expect(schema.required).toEqual(expect.arrayContaining(['type', 'orgId', 'at']));
      expect(() => ajv.compile(schema)).not.toThrow();
    }
    expect(eventSchemas()).toBe(schemas); // generated once
  });

  test('parseEvent refuses what is not an event of the catalog, with code invalid_event and no values', () => {
    const good = { type: 'org.quota.threshold', orgId: 'org_a', at: '2026-11-25T10:00:00.000Z', threshold: 80, monthlyRequests: 10, used: 8, month: '2026-11' };
    expect(parseEvent(good)).toEqual(good);
    const refused = (value: unknown) => {
      try {
        parseEvent(value);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidEventError);
        expect((error as InvalidEventError).code).toBe('invalid_event');
        return (error as InvalidEventError).problems.map((p) => p.path);
      }
      throw new Error('accepted');
    };
    expect(refused({ ...good, threshold: 90 })).toEqual(['threshold']);
    expect(refused({ ...good, month: '2026-13' })).toEqual(['month']);
    expect(refused({ ...good, at: 'yesterday' })).toEqual(['at']);
    expect(refused({ ...good, secret: 'sk_live_x' })).toEqual(['']); // unknown field: refused
    expect(refused({ ...good, type: 'org.quota.exceeded' })).toEqual(['type']);
    expect(refused({ type: 'key.revoked', orgId: 'org_a', at: good.at, keyId: 'k', name: 'n', role: 'owner' })).toEqual(['role']);
    expect(refused('key.revoked')).toEqual(['']);
    // A value never appears in the message.
    expect(() => parseEvent({ ...good, secret: 'sk_live_x' })).toThrow(expect.objectContaining({ message: expect.not.stringContaining('sk_live_x') }));
  });

  test("other producers' events pass: audit digests, webhook endpoint events", () => {
    const hash = 'a'.repeat(64);
    const digest = digestCreatedEvent(
      { digest: { scope: 'org_a', fromSeq: 1, toSeq: 3, lastHash: hash, previousDigestHash: '0'.repeat(64), createdAt: '2026-11-26T00:00:00.000Z' }, digestHash: 'b'.repeat(64) } as Parameters<typeof digestCreatedEvent>[0],
      '2026-11-26T00:00:01.000Z',
    );
    expect(parseEvent(digest)).toEqual(digest);
    expect(parseEvent({ ...digest, orgId: '*', scope: '*' }).orgId).toBe('*');
    expect(isEventType(TEST_EVENT_TYPE) && isEventType(ENDPOINT_DISABLED_EVENT_TYPE)).toBe(true);
  });
});

describe('docs/events.md', () => {
  test('documents exactly the catalog types, in catalog order', () => {
    expect(documentedTypes().map((d) => d.type)).toEqual([...EVENT_TYPES]);
  });

  test.each(documentedTypes().map((d) => [d.type, d.example] as const))('the example of %s passes parseEvent and its JSON Schema', (type, example) => {
    expect(example).toBeDefined();
    expect(parseEvent(example)).toEqual(example);
    expect((example as { type: string }).type).toBe(type);
    const validate = ajv.getSchema(`urn:plexmcp:events:v1:${type}`) ?? ajv.compile(eventSchemas()[type as (typeof EVENT_TYPES)[number]]);
    expect(validate(example)).toBe(true);
    // ...and ajv refuses what the catalog refuses.
    expect(validate({ ...(example as object), unknownField: 1 })).toBe(false);
  });

  test("the sources table says what the publisher's EVENT_SOURCES does, for every type", () => {
    const table = DOCS.slice(DOCS.indexOf('| type | source |'));
    const rows = table
      .split('\n')
      .slice(2)
      .filter((line) => line.startsWith('|'))
      .map((line) => line.split('|').map((cell) => cell.trim()));
    const documented = new Map<string, string>();
    for (const [, types, source] of rows) {
      for (const pattern of [...types!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)) documented.set(pattern, source!.replaceAll('`', ''));
    }
    for (const type of EVENT_TYPES) {
      const exact = documented.get(type);
      const family = [...documented.keys()].filter((p) => p.endsWith('.*') && type.startsWith(p.slice(0, -1))).sort((a, b) => b.length - a.length)[0];
      expect([type, exact ?? documented.get(family!)]).toEqual([type, eventSourceOf(type)]);
    }
    expect(new Set(Object.values(EVENT_SOURCES))).toEqual(new Set(documented.values()));
  });
});
