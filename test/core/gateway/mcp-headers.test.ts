import { inspectBody, INVALID_REQUEST } from '../../../lambda/core/gateway/jsonrpc';
import {
  decodeHeaderValue,
  encodeHeaderValue,
  HEADER_MISMATCH,
  MAX_HEADER_VALUE_LENGTH,
  MAX_PARAM_HEADERS,
  paramHeadersFromSchema,
  requiresRequestHeaders,
  validateMcpHeaders,
  type McpHeaderCheck,
  type McpHeaderOptions,
  type ParamHeader,
} from '../../../lambda/core/gateway/mcp-headers';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'test', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

const request = (method: string, params: Record<string, unknown> = {}, id: unknown = 1) =>
  ({ jsonrpc: '2.0', id, method, params: { ...params, _meta: META } }) as const;

/** Validates `message` (serialized) under `headers`, with the 2026-07-28 version header unless overridden. */
function check(message: unknown, headers: Record<string, string>, options?: McpHeaderOptions, version: string | null = '2026-07-28'): McpHeaderCheck {
  const text = typeof message === 'string' ? message : JSON.stringify(message);
  const inspected = inspectBody(text);
  if (!inspected.ok) throw new Error(`test body refused: ${inspected.message}`);
  const h = new Headers(headers);
  if (version !== null && !h.has('mcp-protocol-version')) h.set('mcp-protocol-version', version);
  return validateMcpHeaders(h, inspected.messages, text, options);
}

const b64 = (s: string) => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;

function expectMismatch(result: McpHeaderCheck, reason: RegExp) {
  expect(result).toMatchObject({ ok: false, code: 'header_mismatch', jsonRpcCode: HEADER_MISMATCH });
  if (!result.ok) expect(result.reason).toMatch(reason);
}

describe('constants and version rule', () => {
  test('HeaderMismatch is -32020 (schema 2026-07-28)', () => {
    expect(HEADER_MISMATCH).toBe(-32020);
  });

  test.each([
    ['2026-07-28', true],
    ['2027-01-15', true],
    ['2025-11-25', false],
    ['2025-06-18', false],
    ['2024-11-05', false],
    ['DRAFT-2026-v1', false],
    ['2026-07-28 ', false],
    ['', false],
  ])('requiresRequestHeaders(%j) is %s', (version, expected) => {
    expect(requiresRequestHeaders(version)).toBe(expected);
  });

  test('no version header: no requirement', () => {
    expect(requiresRequestHeaders(null)).toBe(false);
    expect(requiresRequestHeaders(undefined)).toBe(false);
  });
});

describe('decodeHeaderValue / encodeHeaderValue (Value Encoding)', () => {
  // The spec's own encoding examples.
  test.each([
    ['us-west1', 'us-west1'],
    ['Hello, 世界', '=?base64?SGVsbG8sIOS4lueVjA==?='],
    [' padded ', '=?base64?IHBhZGRlZCA=?='],
    ['line1\nline2', '=?base64?bGluZTEKbGluZTI=?='],
    ['=?base64?literal?=', '=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?='],
  ])('%j <-> %s', (value, encoded) => {
    expect(encodeHeaderValue(value)).toBe(encoded);
    expect(decodeHeaderValue(encoded)).toBe(value);
  });

  test('plain ASCII with inner spaces stays plain', () => {
    expect(encodeHeaderValue('a b')).toBe('a b');
    expect(decodeHeaderValue('a b')).toBe('a b');
  });

  test('the empty string is encoded, and the encoded empty string decodes', () => {
    expect(encodeHeaderValue('')).toBe('=?base64??=');
    expect(decodeHeaderValue('=?base64??=')).toBe('');
  });

  test.each([
    ['non-ASCII characters in a plain value', 'caf\u00e9'],
    ['a control character', 'a\u0001b'],
    ['a DEL character', 'a\u007fb'],
    ['Base64 with a character outside the alphabet', '=?base64?ab*d?='],
    ['Base64 of the wrong length', '=?base64?abc?='],
    ['Base64 with missing padding', '=?base64?SGk?='],
    ['Base64 with non-zero padding bits', '=?base64?QR==?='],
    ['the URL-safe alphabet', '=?base64?-_-_?='],
    ['Base64 of invalid UTF-8', `=?base64?${Buffer.from([0xff, 0xfe]).toString('base64')}?=`],
    ['a truncated sentinel', '=?base64?='],
  ])('malformed: %s', (_label, value) => {
    expect(decodeHeaderValue(value)).toBeUndefined();
  });

  test('the markers are case-sensitive: an upper-case prefix is a plain value', () => {
    expect(decodeHeaderValue('=?BASE64?SGk=?=')).toBe('=?BASE64?SGk=?=');
  });

  test('a value that starts like the sentinel but does not end like it is plain', () => {
    expect(decodeHeaderValue('=?base64?abc')).toBe('=?base64?abc');
  });
});

describe('paramHeadersFromSchema (Schema Extension)', () => {
  const spanner = {
    type: 'object',
    properties: {
      region: { type: 'string', description: 'The region', 'x-mcp-header': 'Region' },
      query: { type: 'string' },
    },
    required: ['region', 'query'],
  };

  test("the spec's execute_sql example", () => {
    expect(paramHeadersFromSchema(spanner)).toEqual({ ok: true, params: [{ header: 'Region', path: ['region'], type: 'string' }] });
  });

  test('nested properties reached through "properties" alone are allowed', () => {
    const schema = {
      type: 'object',
      properties: {
        target: { type: 'object', properties: { shard: { type: 'integer', 'x-mcp-header': 'Shard' }, dry: { type: 'boolean', 'x-mcp-header': 'Dry-Run' } } },
      },
    };
    expect(paramHeadersFromSchema(schema)).toEqual({
      ok: true,
      params: [
        { header: 'Shard', path: ['target', 'shard'], type: 'integer' },
        { header: 'Dry-Run', path: ['target', 'dry'], type: 'boolean' },
      ],
    });
  });

  test('no annotations: an empty list', () => {
    expect(paramHeadersFromSchema({ type: 'object', properties: { q: { type: 'string' } } })).toEqual({ ok: true, params: [] });
  });

  test('a property named "x-mcp-header", or the key inside data keywords, is no annotation', () => {
    const schema = {
      type: 'object',
      properties: { 'x-mcp-header': { type: 'string' }, q: { type: 'string', default: { 'x-mcp-header': 'Nope' }, enum: [{ 'x-mcp-header': 'Nope' }] } },
    };
    expect(paramHeadersFromSchema(schema)).toEqual({ ok: true, params: [] });
  });

  test.each([
    ['type number', { type: 'object', properties: { n: { type: 'number', 'x-mcp-header': 'N' } } }, /not a string, integer or boolean/],
    ['an object property', { type: 'object', properties: { o: { type: 'object', 'x-mcp-header': 'O' } } }, /not a string, integer or boolean/],
    ['no type', { type: 'object', properties: { o: { 'x-mcp-header': 'O' } } }, /not a string, integer or boolean/],
    ['a type array', { type: 'object', properties: { o: { type: ['string', 'null'], 'x-mcp-header': 'O' } } }, /not a string, integer or boolean/],
    ['an empty name', { type: 'object', properties: { s: { type: 'string', 'x-mcp-header': '' } } }, /not an HTTP token/],
    ['a name with a space', { type: 'object', properties: { s: { type: 'string', 'x-mcp-header': 'A B' } } }, /not an HTTP token/],
    ['a name with CR LF', { type: 'object', properties: { s: { type: 'string', 'x-mcp-header': 'A\r\nB' } } }, /not an HTTP token/],
    ['a non-string name', { type: 'object', properties: { s: { type: 'string', 'x-mcp-header': 7 } } }, /not an HTTP token/],
    [
      'names equal but for case',
      { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'Region' }, b: { type: 'string', 'x-mcp-header': 'REGION' } } },
      /declared twice/,
    ],
    ['inside items', { type: 'object', properties: { l: { type: 'array', items: { type: 'string', 'x-mcp-header': 'L' } } } }, /reachable/],
    ['inside oneOf', { type: 'object', oneOf: [{ properties: { s: { type: 'string', 'x-mcp-header': 'S' } } }] }, /reachable/],
    ['inside then', { type: 'object', if: {}, then: { properties: { s: { type: 'string', 'x-mcp-header': 'S' } } } }, /reachable/],
    ['inside $defs', { type: 'object', $defs: { d: { type: 'string', 'x-mcp-header': 'D' } }, properties: { s: { $ref: '#/$defs/d' } } }, /reachable/],
    ['on the root', { type: 'string', 'x-mcp-header': 'Root' }, /reachable/],
  ])('invalid: %s', (_label, schema, reason) => {
    const result = paramHeadersFromSchema(schema);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  test('not an object', () => {
    expect(paramHeadersFromSchema(null).ok).toBe(false);
    expect(paramHeadersFromSchema([]).ok).toBe(false);
  });

  test(`more than ${MAX_PARAM_HEADERS} declarations are refused`, () => {
    const properties = Object.fromEntries(Array.from({ length: MAX_PARAM_HEADERS + 1 }, (_, i) => [`p${i}`, { type: 'string', 'x-mcp-header': `P${i}` }]));
    expect(paramHeadersFromSchema({ type: 'object', properties }).ok).toBe(false);
  });

  test('a very deep schema is refused, not walked without bound', () => {
    let schema: Record<string, unknown> = { type: 'string', 'x-mcp-header': 'Deep' };
    for (let i = 0; i < 200; i++) schema = { type: 'object', properties: { n: schema } };
    const result = paramHeadersFromSchema(schema);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/too large or too deep/);
  });
});

describe('validateMcpHeaders: Mcp-Method and Mcp-Name (Standard Request Headers, Server Validation)', () => {
  const call = request('tools/call', { name: 'get_weather', arguments: { location: 'Seattle, WA' } });

  test("the spec's tools/call example passes and both headers are forwarded as received", () => {
    expect(check(call, { 'mcp-method': 'tools/call', 'mcp-name': 'get_weather' })).toEqual({
      ok: true,
      forward: { 'mcp-method': 'tools/call', 'mcp-name': 'get_weather' },
      modern: true,
      unverifiedParams: 0,
    });
  });

  test("the spec's resources/read example: Mcp-Name is params.uri", () => {
    const read = request('resources/read', { uri: 'file:///projects/myapp/config.json' });
    expect(check(read, { 'mcp-method': 'resources/read', 'mcp-name': 'file:///projects/myapp/config.json' })).toMatchObject({ ok: true });
    expectMismatch(check(read, { 'mcp-method': 'resources/read', 'mcp-name': 'file:///etc/passwd' }), /Mcp-Name.*params\.uri/);
  });

  test('prompts/get: Mcp-Name is params.name', () => {
    const get = request('prompts/get', { name: 'review' });
    expect(check(get, { 'mcp-method': 'prompts/get', 'mcp-name': 'review' })).toMatchObject({ ok: true });
    expectMismatch(check(get, { 'mcp-method': 'prompts/get', 'mcp-name': 'other' }), /params\.name/);
  });

  test('a mismatched Mcp-Name is refused, and the reason does not echo either value', () => {
    const result = check(call, { 'mcp-method': 'tools/call', 'mcp-name': 'delete_everything' });
    expectMismatch(result, /Mcp-Name/);
    if (!result.ok) {
      expect(result.reason).not.toContain('delete_everything');
      expect(result.reason).not.toContain('get_weather');
    }
  });

  test('a mismatched Mcp-Method is refused', () => {
    expectMismatch(check(call, { 'mcp-method': 'tools/list', 'mcp-name': 'get_weather' }), /Mcp-Method/);
  });

  test('values are case-sensitive', () => {
    expectMismatch(check(call, { 'mcp-method': 'Tools/Call', 'mcp-name': 'get_weather' }), /Mcp-Method/);
    expectMismatch(check(call, { 'mcp-method': 'tools/call', 'mcp-name': 'Get_Weather' }), /Mcp-Name/);
  });

  test('header names are case-insensitive', () => {
    expect(check(call, { 'MCP-METHOD': 'tools/call', 'Mcp-NAME': 'get_weather' })).toMatchObject({ ok: true });
  });

  test('a Base64 Mcp-Name is decoded before comparing, and forwarded encoded', () => {
    const unicode = request('tools/call', { name: 'météo', arguments: {} });
    expect(check(unicode, { 'mcp-method': 'tools/call', 'mcp-name': b64('météo') })).toMatchObject({
      ok: true,
      forward: { 'mcp-name': b64('météo') },
    });
    expectMismatch(check(unicode, { 'mcp-method': 'tools/call', 'mcp-name': b64('meteo') }), /Mcp-Name/);
  });

  test('a malformed Base64 Mcp-Name is refused', () => {
    expectMismatch(check(call, { 'mcp-method': 'tools/call', 'mcp-name': '=?base64?!!!!?=' }), /malformed/);
  });

  test('a plain Mcp-Name equal to a sentinel-shaped body name does not match (it must be encoded)', () => {
    const odd = request('tools/call', { name: '=?base64?literal?=', arguments: {} });
    expectMismatch(check(odd, { 'mcp-method': 'tools/call', 'mcp-name': '=?base64?literal?=' }), /Mcp-Name/);
    expect(check(odd, { 'mcp-method': 'tools/call', 'mcp-name': b64('=?base64?literal?=') })).toMatchObject({ ok: true });
  });

  test(`an Mcp-Name longer than ${MAX_HEADER_VALUE_LENGTH} characters is refused`, () => {
    const long = 'n'.repeat(MAX_HEADER_VALUE_LENGTH + 1);
    expectMismatch(check(request('tools/call', { name: long }), { 'mcp-method': 'tools/call', 'mcp-name': long }), /too long/);
  });

  test('2026-07-28: Mcp-Method is required on every request', () => {
    expectMismatch(check(request('tools/list'), {}), /Mcp-Method header is required/);
    expectMismatch(check(request('server/discover'), {}), /Mcp-Method header is required/);
  });

  test.each([
    ['tools/call', { name: 'get_weather' }],
    ['prompts/get', { name: 'review' }],
    ['resources/read', { uri: 'file:///a' }],
  ])('2026-07-28: Mcp-Name is required on %s', (method, params) => {
    expectMismatch(check(request(method, params), { 'mcp-method': method }), /Mcp-Name header is required/);
  });

  test('2026-07-28: methods without a name need no Mcp-Name', () => {
    expect(check(request('tools/list'), { 'mcp-method': 'tools/list' })).toEqual({ ok: true, forward: { 'mcp-method': 'tools/list' }, modern: true, unverifiedParams: 0 });
    expect(check(request('subscriptions/listen', { notifications: { toolsListChanged: true } }), { 'mcp-method': 'subscriptions/listen' })).toMatchObject({ ok: true });
  });

  test('an Mcp-Name on another method must match its params.name or params.uri', () => {
    const complete = request('completion/complete', { ref: { type: 'ref/prompt', name: 'review' } });
    expectMismatch(check(complete, { 'mcp-method': 'completion/complete', 'mcp-name': 'review' }), /params\.name or params\.uri/);
    const listen = request('subscriptions/listen', { notifications: {} });
    expectMismatch(check(listen, { 'mcp-method': 'subscriptions/listen', 'mcp-name': 'x' }), /Mcp-Name/);
    const custom = request('vendor/thing', { uri: 'test://x' });
    expect(check(custom, { 'mcp-method': 'vendor/thing', 'mcp-name': 'test://x' })).toMatchObject({ ok: true, forward: { 'mcp-name': 'test://x' } });
  });

  test('a body without the name is left to the upstream (-32602) when the header is absent, and mismatches when present', () => {
    const nameless = request('tools/call', { arguments: {} });
    expect(check(nameless, { 'mcp-method': 'tools/call' })).toMatchObject({ ok: true });
    expectMismatch(check(nameless, { 'mcp-method': 'tools/call', 'mcp-name': 'x' }), /Mcp-Name/);
  });

  test('notifications: no header required, present ones must match', () => {
    const note = { jsonrpc: '2.0', method: 'notifications/something', params: { _meta: META } };
    expect(check(note, {})).toMatchObject({ ok: true, forward: {} });
    expect(check(note, { 'mcp-method': 'notifications/something' })).toMatchObject({ ok: true });
    expectMismatch(check(note, { 'mcp-method': 'tools/call' }), /Mcp-Method/);
  });

  test('an Mcp-Method with non-ASCII characters is refused', () => {
    expectMismatch(check(call, { 'mcp-method': 'tools/call\u00e9', 'mcp-name': 'get_weather' }), /invalid characters/);
  });
});

describe('validateMcpHeaders: MCP-Protocol-Version against _meta (Protocol Version Header)', () => {
  test('a header that differs from _meta is refused', () => {
    const body = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2027-01-01' } } };
    expectMismatch(check(body, { 'mcp-method': 'tools/list' }), /MCP-Protocol-Version/);
  });

  test('a _meta without the field is left to the upstream (-32602 Invalid params)', () => {
    const body = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
    expect(check(body, { 'mcp-method': 'tools/list' })).toMatchObject({ ok: true });
  });
});

describe('validateMcpHeaders: earlier revisions and body shapes', () => {
  const legacyCall = { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { message: 'hi' } } };

  test.each(['2025-11-25', '2025-06-18', '2025-03-26'])('%s without Mcp-* headers: nothing required, nothing forwarded', (version) => {
    expect(check(legacyCall, {}, undefined, version)).toEqual({ ok: true, forward: {}, modern: false, unverifiedParams: 0 });
  });

  test('no MCP-Protocol-Version header (2024-11-05, 2025-03-26 clients): nothing required', () => {
    expect(check(legacyCall, {}, undefined, null)).toEqual({ ok: true, forward: {}, modern: false, unverifiedParams: 0 });
  });

  test('an earlier revision that sends the headers gets them validated and forwarded', () => {
    expect(check(legacyCall, { 'mcp-method': 'tools/call', 'mcp-name': 'echo' }, undefined, '2025-11-25')).toEqual({
      ok: true,
      forward: { 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
      modern: false,
      unverifiedParams: 0,
    });
    expectMismatch(check(legacyCall, { 'mcp-method': 'tools/call', 'mcp-name': 'other' }, undefined, '2025-11-25'), /Mcp-Name/);
  });

  test('2026-07-28: a batch is an invalid request (Sending Messages: a single message)', () => {
    const batch = [request('tools/list', {}, 1), request('tools/list', {}, 2)];
    expect(check(batch, { 'mcp-method': 'tools/list' })).toMatchObject({ ok: false, code: 'invalid_request', jsonRpcCode: INVALID_REQUEST });
    expect(check([request('tools/list')], {})).toMatchObject({ ok: false, code: 'invalid_request' });
  });

  test('an earlier revision may batch, but not with Mcp-* headers', () => {
    const batch = [legacyCall, { ...legacyCall, id: 4 }];
    expect(check(batch, {}, undefined, '2025-03-26')).toEqual({ ok: true, forward: {}, modern: false, unverifiedParams: 0 });
    expectMismatch(check(batch, { 'mcp-method': 'tools/call' }, undefined, '2025-03-26'), /single message/);
  });

  test('2026-07-28: a client response is an invalid request', () => {
    expect(check({ jsonrpc: '2.0', id: 9, result: {} }, {})).toMatchObject({ ok: false, code: 'invalid_request' });
  });

  test('a request without a body (GET, DELETE): headers are not forwarded', () => {
    const h = new Headers({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list', 'mcp-param-x': 'y' });
    expect(validateMcpHeaders(h, [], '')).toEqual({ ok: true, forward: {}, modern: true, unverifiedParams: 0 });
  });

  test('an already parsed body gives the same answers as its text', () => {
    const body = request('tools/call', { name: 'route', arguments: { region: 'eu' } });
    const inspected = inspectBody(JSON.stringify(body));
    if (!inspected.ok) throw new Error('refused');
    const headers = new Headers({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'route', 'mcp-param-region': 'us' });
    const params: ParamHeader[] = [{ header: 'Region', path: ['region'], type: 'string' }];
    expectMismatch(validateMcpHeaders(headers, inspected.messages, body, { paramHeaders: params }), /mcp-param-region/);
    headers.set('mcp-param-region', 'eu');
    expect(validateMcpHeaders(headers, inspected.messages, body, { paramHeaders: params })).toMatchObject({ ok: true });
  });
});

describe('validateMcpHeaders: Mcp-Param-* (Custom Headers from Tool Parameters)', () => {
  const schema = {
    type: 'object',
    properties: {
      region: { type: 'string', 'x-mcp-header': 'Region' },
      shard: { type: 'integer', 'x-mcp-header': 'Shard' },
      dry: { type: 'boolean', 'x-mcp-header': 'Dry-Run' },
      target: { type: 'object', properties: { zone: { type: 'string', 'x-mcp-header': 'Zone' } } },
      query: { type: 'string' },
    },
  };
  const declared = paramHeadersFromSchema(schema);
  if (!declared.ok) throw new Error(declared.reason);
  const options = { paramHeaders: declared.params };
  const call = (args: Record<string, unknown>) => request('tools/call', { name: 'route', arguments: args });
  const base = { 'mcp-method': 'tools/call', 'mcp-name': 'route' };

  test('matching headers are validated and forwarded as received', () => {
    const result = check(
      call({ region: 'us-west1', shard: 42, dry: false, target: { zone: 'b' }, query: 'SELECT 1' }),
      { ...base, 'Mcp-Param-Region': 'us-west1', 'mcp-param-shard': '42', 'MCP-PARAM-DRY-RUN': 'false', 'mcp-param-zone': 'b' },
      options,
    );
    expect(result).toEqual({
      ok: true,
      forward: { ...base, 'mcp-param-region': 'us-west1', 'mcp-param-shard': '42', 'mcp-param-dry-run': 'false', 'mcp-param-zone': 'b' },
      modern: true,
      unverifiedParams: 0,
    });
  });

  test('a mismatched string value is refused', () => {
    expectMismatch(check(call({ region: 'us-west1' }), { ...base, 'mcp-param-region': 'us-east1' }, options), /mcp-param-region.*does not match/);
  });

  test('integers compare numerically (42.0 equals 42), nothing else does', () => {
    expect(check(call({ shard: 42 }), { ...base, 'mcp-param-shard': '42.0' }, options)).toMatchObject({ ok: true });
    expect(check(call({ shard: -7 }), { ...base, 'mcp-param-shard': '-7' }, options)).toMatchObject({ ok: true });
    expectMismatch(check(call({ shard: 42 }), { ...base, 'mcp-param-shard': '43' }, options), /does not match/);
    expectMismatch(check(call({ shard: 42 }), { ...base, 'mcp-param-shard': '0x2a' }, options), /does not match/);
    expectMismatch(check(call({ shard: 42 }), { ...base, 'mcp-param-shard': '42abc' }, options), /does not match/);
  });

  test('an integer outside the safe range never matches', () => {
    expectMismatch(check('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"route","arguments":{"shard":9007199254740993},"_meta":{}}}', { ...base, 'mcp-param-shard': '9007199254740993' }, options), /does not match/);
  });

  test('a non-integer number never matches (type number may not be mirrored)', () => {
    expectMismatch(check(call({ shard: 1.5 }), { ...base, 'mcp-param-shard': '1.5' }, options), /does not match/);
  });

  test('booleans are lower-case true/false', () => {
    expect(check(call({ dry: true }), { ...base, 'mcp-param-dry-run': 'true' }, options)).toMatchObject({ ok: true });
    expectMismatch(check(call({ dry: true }), { ...base, 'mcp-param-dry-run': 'True' }, options), /does not match/);
    expectMismatch(check(call({ dry: true }), { ...base, 'mcp-param-dry-run': '1' }, options), /does not match/);
  });

  test('a string argument is compared as a string even when the schema says integer', () => {
    expect(check(call({ shard: '42' }), { ...base, 'mcp-param-shard': '42' }, options)).toMatchObject({ ok: true });
    expectMismatch(check(call({ shard: '42' }), { ...base, 'mcp-param-shard': '42.0' }, options), /does not match/);
  });

  test('Base64 values are decoded before comparing', () => {
    expect(check(call({ region: 'Hello, 世界' }), { ...base, 'mcp-param-region': '=?base64?SGVsbG8sIOS4lueVjA==?=' }, options)).toMatchObject({ ok: true });
    expect(check(call({ region: ' padded ' }), { ...base, 'mcp-param-region': '=?base64?IHBhZGRlZCA=?=' }, options)).toMatchObject({ ok: true });
  });

  test('a value in the body needs its header (client omits header: server MUST reject)', () => {
    expectMismatch(check(call({ region: 'us-west1' }), base, options), /mcp-param-region header is required/);
    expectMismatch(check(call({ target: { zone: 'b' } }), base, options), /mcp-param-zone header is required/);
  });

  test('absent or null arguments need no header, and a header for one does not match', () => {
    expect(check(call({ query: 'x' }), base, options)).toMatchObject({ ok: true });
    expect(check(call({ region: null }), base, options)).toMatchObject({ ok: true });
    expect(check(request('tools/call', { name: 'route' }), base, options)).toMatchObject({ ok: true });
    expectMismatch(check(call({ query: 'x' }), { ...base, 'mcp-param-region': 'us' }, options), /no value in the body/);
    expectMismatch(check(call({ region: null }), { ...base, 'mcp-param-region': 'null' }, options), /no value in the body/);
  });

  test('an object where a primitive was declared never matches', () => {
    expectMismatch(check(call({ region: { a: 1 } }), { ...base, 'mcp-param-region': '[object Object]' }, options), /does not match/);
  });

  test('a header the schema does not declare is forwarded unverified (intermediaries forward what they do not recognize)', () => {
    expect(check(call({ region: 'eu' }), { ...base, 'mcp-param-region': 'eu', 'mcp-param-trace': 'abc' }, options)).toEqual({
      ok: true,
      forward: { ...base, 'mcp-param-region': 'eu', 'mcp-param-trace': 'abc' },
      modern: true,
      unverifiedParams: 1,
    });
  });

  test('without the tool schema, well-formed headers are forwarded unverified', () => {
    expect(check(call({ region: 'eu' }), { ...base, 'mcp-param-region': 'anything' })).toEqual({
      ok: true,
      forward: { ...base, 'mcp-param-region': 'anything' },
      modern: true,
      unverifiedParams: 1,
    });
  });

  test('malformed values are refused with or without the schema', () => {
    expectMismatch(check(call({ region: 'eu' }), { ...base, 'mcp-param-region': '=?base64?***?=' }), /malformed/);
    expectMismatch(check(call({ region: 'eu' }), { ...base, 'mcp-param-region': 'caf\u00e9' }, options), /invalid characters/);
  });

  test('a long header name is cut short in the reason', () => {
    const result = check(call({}), { ...base, [`mcp-param-${'x'.repeat(500)}`]: '=?base64?***?=' });
    expectMismatch(result, /malformed/);
    if (!result.ok) expect(result.reason.length).toBeLessThan(200);
  });

  test('an Mcp-Param- header without a name is refused', () => {
    expectMismatch(check(call({}), { ...base, 'mcp-param-': 'x' }), /no name/);
  });

  test(`more than ${MAX_PARAM_HEADERS} Mcp-Param-* headers, or an over-long value, are refused`, () => {
    const many = Object.fromEntries(Array.from({ length: MAX_PARAM_HEADERS + 1 }, (_, i) => [`mcp-param-p${i}`, 'v']));
    expectMismatch(check(call({}), { ...base, ...many }), /More than/);
    expectMismatch(check(call({}), { ...base, 'mcp-param-big': 'v'.repeat(MAX_HEADER_VALUE_LENGTH + 1) }), /too long/);
  });

  test('declarations apply to tools/call only', () => {
    const list = request('tools/list');
    expect(check(list, { 'mcp-method': 'tools/list', 'mcp-param-region': 'us' }, options)).toMatchObject({ ok: true, unverifiedParams: 1 });
  });
});
