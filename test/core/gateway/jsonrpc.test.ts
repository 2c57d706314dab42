import {
  endOfJsonValue,
  findDuplicateKey,
  GATEWAY_BAD_UPSTREAM,
  GATEWAY_FORBIDDEN,
  GATEWAY_NOT_FOUND,
  GATEWAY_PAYLOAD_TOO_LARGE,
  GATEWAY_RATE_LIMITED,
  GATEWAY_UNAUTHORIZED,
  GATEWAY_UPSTREAM_TIMEOUT,
  idKey,
  inspectBody,
  INTERNAL_ERROR,
  INVALID_PARAMS,
  INVALID_REQUEST,
  jsonArrayElements,
  jsonObjectMembers,
  jsonRpcCodeForStatus,
  jsonRpcErrorBody,
  METHOD_NOT_FOUND,
  PARSE_ERROR,
  type InspectedMessage,
} from '../../../lambda/core/gateway/jsonrpc';

const req = (id: unknown, method: string, params?: unknown) =>
  JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });

describe('inspectBody: valid bodies', () => {
  const cases: [string, string, boolean, InspectedMessage[]][] = [
    ['a request', req(1, 'tools/list'), false, [{ kind: 'request', id: 1, method: 'tools/list' }]],
    ['a request with a string id', req('a-1', 'ping'), false, [{ kind: 'request', id: 'a-1', method: 'ping' }]],
    ['id 0', req(0, 'ping'), false, [{ kind: 'request', id: 0, method: 'ping' }]],
    ['an empty string id', req('', 'ping'), false, [{ kind: 'request', id: '', method: 'ping' }]],
    ['a negative id', req(-7, 'ping'), false, [{ kind: 'request', id: -7, method: 'ping' }]],
    ['a fractional id (JSON-RPC: SHOULD NOT, not MUST NOT)', req(1.5, 'ping'), false, [{ kind: 'request', id: 1.5, method: 'ping' }]],
    ['the largest safe integer id', req(Number.MAX_SAFE_INTEGER, 'ping'), false, [{ kind: 'request', id: Number.MAX_SAFE_INTEGER, method: 'ping' }]],
    [
      'tools/call names its tool',
      req(2, 'tools/call', { name: 'search', arguments: { q: 'x' } }),
      false,
      [{ kind: 'request', id: 2, method: 'tools/call', toolName: 'search' }],
    ],
    ['tools/call without a name', req(2, 'tools/call', { arguments: {} }), false, [{ kind: 'request', id: 2, method: 'tools/call' }]],
    ['tools/call with a numeric name', req(2, 'tools/call', { name: 5 }), false, [{ kind: 'request', id: 2, method: 'tools/call' }]],
    ['tools/call with array params', req(2, 'tools/call', ['search']), false, [{ kind: 'request', id: 2, method: 'tools/call' }]],
    [
      'resources/read names its URI',
      req(3, 'resources/read', { uri: 'file:///a.txt' }),
      false,
      [{ kind: 'request', id: 3, method: 'resources/read', resourceUri: 'file:///a.txt' }],
    ],
    [
      'prompts/get names its prompt',
      req(4, 'prompts/get', { name: 'greet' }),
      false,
      [{ kind: 'request', id: 4, method: 'prompts/get', promptName: 'greet' }],
    ],
    ['name only counts for its method', req(5, 'prompts/list', { name: 'x', uri: 'y' }), false, [{ kind: 'request', id: 5, method: 'prompts/list' }]],
    [
      'an escaped method name is decoded',
      '{"jsonrpc":"2.0","id":1,"method":"tools\\/call","params":{"name":"\\u0073earch"}}',
      false,
      [{ kind: 'request', id: 1, method: 'tools/call', toolName: 'search' }],
    ],
    [
      'a notification',
      '{"jsonrpc":"2.0","method":"notifications/initialized"}',
      false,
      [{ kind: 'notification', method: 'notifications/initialized' }],
    ],
    [
      'a result response',
      '{"jsonrpc":"2.0","id":"srv-1","result":{"action":"accept"}}',
      false,
      [{ kind: 'response', id: 'srv-1' }],
    ],
    ['a null result', '{"jsonrpc":"2.0","id":9,"result":null}', false, [{ kind: 'response', id: 9 }]],
    [
      'an error response',
      '{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"User rejected"}}',
      false,
      [{ kind: 'response', id: 3 }],
    ],
    [
      'an error response with a null id',
      '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error","data":{}}}',
      false,
      [{ kind: 'response', id: null }],
    ],
    ['extra members are tolerated', '{"jsonrpc":"2.0","id":1,"method":"ping","_meta":{"x":1}}', false, [{ kind: 'request', id: 1, method: 'ping' }]],
    [
      'a __proto__ key is just a key',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"__proto__":{"name":"evil"},"name":"ok"}}',
      false,
      [{ kind: 'request', id: 1, method: 'tools/call', toolName: 'ok' }],
    ],
    ['whitespace around the body', ' \n\t' + req(1, 'ping') + '\r\n ', false, [{ kind: 'request', id: 1, method: 'ping' }]],
    [
      'a batch of all kinds',
      `[${req(1, 'tools/call', { name: 'a' })},{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":0}},{"jsonrpc":"2.0","id":7,"result":{}}]`,
      true,
      [
        { kind: 'request', id: 1, method: 'tools/call', toolName: 'a' },
        { kind: 'notification', method: 'notifications/cancelled' },
        { kind: 'response', id: 7 },
      ],
    ],
    ['a batch of one', `[${req(1, 'ping')}]`, true, [{ kind: 'request', id: 1, method: 'ping' }]],
    [
      'resources/subscribe names its URI',
      req(6, 'resources/subscribe', { uri: 'file:///a' }),
      false,
      [{ kind: 'request', id: 6, method: 'resources/subscribe', resourceUri: 'file:///a' }],
    ],
    ['resources/unsubscribe does not', req(6, 'resources/unsubscribe', { uri: 'file:///a' }), false, [{ kind: 'request', id: 6, method: 'resources/unsubscribe' }]],
    ['resources/read with a numeric uri', req(6, 'resources/read', { uri: 7 }), false, [{ kind: 'request', id: 6, method: 'resources/read' }]],
    [
      'a notification names what it names too (a policy sees it)',
      '{"jsonrpc":"2.0","method":"prompts/get","params":{"name":"p"}}',
      false,
      [{ kind: 'notification', method: 'prompts/get', promptName: 'p' }],
    ],
    [
      'completion/complete for a prompt',
      req(7, 'completion/complete', { ref: { type: 'ref/prompt', name: 'greet' }, argument: { name: 'a', value: 'b' } }),
      false,
      [{ kind: 'request', id: 7, method: 'completion/complete', completionRef: { kind: 'prompt', name: 'greet' } }],
    ],
    [
      'completion/complete for a resource template',
      req(7, 'completion/complete', { ref: { type: 'ref/resource', uri: 'file:///{path}' } }),
      false,
      [{ kind: 'request', id: 7, method: 'completion/complete', completionRef: { kind: 'resource', uri: 'file:///{path}' } }],
    ],
    [
      'completion/complete for a prompt without a string name',
      req(7, 'completion/complete', { ref: { type: 'ref/prompt', name: ['greet'], uri: 'x' } }),
      false,
      [{ kind: 'request', id: 7, method: 'completion/complete', completionRef: { kind: 'prompt' } }],
    ],
    [
      'completion/complete for a resource without a string uri (a name does not count)',
      req(7, 'completion/complete', { ref: { type: 'ref/resource', name: 'x' } }),
      false,
      [{ kind: 'request', id: 7, method: 'completion/complete', completionRef: { kind: 'resource' } }],
    ],
    ...(
      [
        ['without a ref', {}],
        ['with a ref of another type', { ref: { type: 'ref/tool', name: 'x' } }],
        ['with a ref that is not an object', { ref: 'ref/prompt' }],
        ['with a null ref', { ref: null }],
        ['with a ref type that is not a string', { ref: { type: 1, name: 'x' } }],
      ] as const
    ).map(([what, params]): [string, string, boolean, InspectedMessage[]] => [
      `completion/complete ${what}`,
      req(7, 'completion/complete', params),
      false,
      [{ kind: 'request', id: 7, method: 'completion/complete', completionRef: { kind: 'other' } }],
    ]),
    [
      'completion/complete with array params',
      req(7, 'completion/complete', [{ type: 'ref/prompt', name: 'x' }]),
      false,
      [{ kind: 'request', id: 7, method: 'completion/complete', completionRef: { kind: 'other' } }],
    ],
    [
      'subscriptions/listen with resource subscriptions',
      req(8, 'subscriptions/listen', { notifications: { toolsListChanged: true, resourceSubscriptions: ['file:///a', 'file:///b'] } }),
      false,
      [{ kind: 'request', id: 8, method: 'subscriptions/listen', subscriptionUris: ['file:///a', 'file:///b'] }],
    ],
    [
      'subscriptions/listen with none',
      req(8, 'subscriptions/listen', { notifications: { toolsListChanged: true } }),
      false,
      [{ kind: 'request', id: 8, method: 'subscriptions/listen' }],
    ],
    ['subscriptions/listen without notifications', req(8, 'subscriptions/listen', {}), false, [{ kind: 'request', id: 8, method: 'subscriptions/listen' }]],
    ...(
      [
        ['a string', { notifications: { resourceSubscriptions: 'file:///a' } }],
        ['a non-string entry', { notifications: { resourceSubscriptions: ['file:///a', 1] } }],
        ['null', { notifications: { resourceSubscriptions: null } }],
        ['notifications that are not an object', { notifications: ['file:///a'] }],
        ['null notifications', { notifications: null }],
      ] as const
    ).map(([what, params]): [string, string, boolean, InspectedMessage[]] => [
      `subscriptions/listen with ${what}`,
      req(8, 'subscriptions/listen', params),
      false,
      [{ kind: 'request', id: 8, method: 'subscriptions/listen', subscriptionUris: 'invalid' }],
    ]),
  ];

  it.each(cases)('%s', (_name, body, batch, messages) => {
    expect(inspectBody(body)).toEqual({ ok: true, batch, messages });
  });
});

describe('inspectBody: invalid bodies', () => {
  const cases: [string, string, 'parse_error' | 'invalid_request'][] = [
    ['empty', '', 'parse_error'],
    ['truncated', '{"jsonrpc":"2.0","id":1,"method":"ping"', 'parse_error'],
    ['not JSON', 'jsonrpc=2.0', 'parse_error'],
    ['a trailing comma', '{"jsonrpc":"2.0","id":1,"method":"ping",}', 'parse_error'],
    ['single quotes', "{'jsonrpc':'2.0'}", 'parse_error'],
    ['NaN', 'NaN', 'parse_error'],
    ['a byte-order mark', '\uFEFF' + req(1, 'ping'), 'parse_error'],
    ['two documents', req(1, 'ping') + req(2, 'ping'), 'parse_error'],
    ['an empty batch', '[]', 'invalid_request'],
    ['null', 'null', 'invalid_request'],
    ['a number', '42', 'invalid_request'],
    ['a string', '"tools/list"', 'invalid_request'],
    ['true', 'true', 'invalid_request'],
    ['an empty object', '{}', 'invalid_request'],
    ['jsonrpc missing', '{"id":1,"method":"ping"}', 'invalid_request'],
    ['jsonrpc 1.0', '{"jsonrpc":"1.0","id":1,"method":"ping"}', 'invalid_request'],
    ['jsonrpc as a number', '{"jsonrpc":2.0,"id":1,"method":"ping"}', 'invalid_request'],
    ['a numeric method', '{"jsonrpc":"2.0","id":1,"method":5}', 'invalid_request'],
    ['an empty method', '{"jsonrpc":"2.0","id":1,"method":""}', 'invalid_request'],
    ['a null method', '{"jsonrpc":"2.0","id":1,"method":null}', 'invalid_request'],
    ['a request with a null id', '{"jsonrpc":"2.0","id":null,"method":"ping"}', 'invalid_request'],
    ['an object id', '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}', 'invalid_request'],
    ['an array id', '{"jsonrpc":"2.0","id":[1],"method":"ping"}', 'invalid_request'],
    ['a boolean id', '{"jsonrpc":"2.0","id":true,"method":"ping"}', 'invalid_request'],
    ['an id that overflows to Infinity', '{"jsonrpc":"2.0","id":1e400,"method":"ping"}', 'invalid_request'],
    ['an id beyond the safe integers', '{"jsonrpc":"2.0","id":12345678901234567890,"method":"ping"}', 'invalid_request'],
    ['string params', '{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}', 'invalid_request'],
    ['null params', '{"jsonrpc":"2.0","id":1,"method":"ping","params":null}', 'invalid_request'],
    ['a request with a result', '{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}', 'invalid_request'],
    ['a response with neither result nor error', '{"jsonrpc":"2.0","id":1}', 'invalid_request'],
    ['a response with both', '{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}', 'invalid_request'],
    ['a result without an id', '{"jsonrpc":"2.0","result":{}}', 'invalid_request'],
    ['a result with a null id', '{"jsonrpc":"2.0","id":null,"result":{}}', 'invalid_request'],
    ['an error that is a string', '{"jsonrpc":"2.0","id":1,"error":"boom"}', 'invalid_request'],
    ['an error without a code', '{"jsonrpc":"2.0","id":1,"error":{"message":"x"}}', 'invalid_request'],
    ['an error with a fractional code', '{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"x"}}', 'invalid_request'],
    ['an error without a message', '{"jsonrpc":"2.0","id":1,"error":{"code":1}}', 'invalid_request'],
    ['a batch with a number', `[${req(1, 'ping')},1]`, 'invalid_request'],
    ['a batch with null', `[null]`, 'invalid_request'],
    ['a nested batch', `[[${req(1, 'ping')}]]`, 'invalid_request'],
    ['a batch with one bad message', `[${req(1, 'ping')},{"jsonrpc":"2.0","id":null,"method":"ping"}]`, 'invalid_request'],
    ['a duplicated top-level key', '{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/list"}', 'invalid_request'],
    [
      'a duplicated tool name (first would be allowed, last denied, or the reverse)',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"denied","name":"allowed"}}',
      'invalid_request',
    ],
    [
      'a duplicated key spelled with an escape',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"denied","na\\u006de":"allowed"}}',
      'invalid_request',
    ],
    ['a duplicated __proto__ key', '{"jsonrpc":"2.0","id":1,"method":"x","params":{"__proto__":1,"__proto__":2}}', 'invalid_request'],
  ];

  it.each(cases)('%s', (_name, body, error) => {
    const result = inspectBody(body);
    expect(result).toMatchObject({ ok: false, error });
    if (!result.ok) expect(result.message.length).toBeGreaterThan(0);
  });

  it('says which batch element is wrong', () => {
    const result = inspectBody(`[${req(1, 'ping')},${req(2, 'ping')},{"jsonrpc":"2.0"}]`);
    expect(result).toMatchObject({ ok: false, error: 'invalid_request', message: expect.stringContaining('Batch element 2') });
  });

  it('refuses a non-string body without throwing', () => {
    expect(inspectBody(undefined as unknown as string)).toMatchObject({ ok: false, error: 'parse_error' });
    expect(inspectBody({} as unknown as string)).toMatchObject({ ok: false, error: 'parse_error' });
  });
});

describe('inspectBody never throws', () => {
  /** A deterministic generator, so a failure can be reproduced. */
  function rng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
  }
  const fragments = [
    '{', '}', '[', ']', ',', ':', '"jsonrpc"', '"2.0"', '"id"', '"method"', '"params"', '"result"', '"error"',
    '"name"', '"tools/call"', '"__proto__"', '"constructor"', '"prototype"', 'null', 'true', 'false', '0', '-1',
    '1e400', '-1e400', '123456789012345678901234567890', '1.5', '"\\u0000"', '"\\ud800"', '"\\\\"', '"\\""',
    ' ', '\n', '"', '\\', '\u2028', 'x',
  ];

  it('on random token soup', () => {
    const random = rng(42);
    for (let n = 0; n < 20_000; n++) {
      let text = '';
      const length = Math.floor(random() * 30);
      for (let k = 0; k < length; k++) text += fragments[Math.floor(random() * fragments.length)];
      const result = inspectBody(text);
      expect(typeof result.ok).toBe('boolean');
    }
  });

  it('on random mutations of valid bodies', () => {
    const random = rng(7);
    const seeds = [
      req(1, 'tools/call', { name: 'a', arguments: { x: [1, { y: null }] } }),
      `[${req(1, 'ping')},{"jsonrpc":"2.0","id":"s","result":{"a":"}"}}]`,
      '{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"m","data":{"k":"\\"{["}}}',
    ];
    let valid = 0;
    for (let n = 0; n < 20_000; n++) {
      const chars = [...seeds[n % seeds.length]];
      const edits = 1 + Math.floor(random() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * chars.length);
        const op = random();
        if (op < 0.33) chars.splice(at, 1);
        else if (op < 0.66) chars.splice(at, 0, fragments[Math.floor(random() * fragments.length)]);
        else chars[at] = fragments[Math.floor(random() * fragments.length)];
      }
      const result = inspectBody(chars.join(''));
      if (result.ok) {
        valid++;
        for (const m of result.messages) expect(['request', 'notification', 'response']).toContain(m.kind);
      }
    }
    expect(valid).toBeGreaterThan(0);
  });

  it('on deep nesting', () => {
    const depth = 200_000;
    expect(inspectBody('['.repeat(depth) + ']'.repeat(depth))).toMatchObject({ ok: false, error: 'invalid_request' });
    const nestedParams = `{"jsonrpc":"2.0","id":1,"method":"x","params":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    expect(inspectBody(nestedParams)).toMatchObject({ ok: true, messages: [{ kind: 'request', id: 1, method: 'x' }] });
    expect(inspectBody('['.repeat(depth))).toMatchObject({ ok: false, error: 'parse_error' });
  });

  it('on huge numbers and long strings', () => {
    expect(inspectBody(`{"jsonrpc":"2.0","id":${'9'.repeat(10_000)},"method":"ping"}`)).toMatchObject({ ok: false });
    const long = 'x'.repeat(1_000_000);
    expect(inspectBody(req(long, 'ping'))).toMatchObject({ ok: true, messages: [{ id: long }] });
  });

  it('without touching Object.prototype', () => {
    inspectBody('{"jsonrpc":"2.0","id":1,"method":"x","params":{"__proto__":{"polluted":true}}}');
    inspectBody('{"__proto__":{"jsonrpc":"2.0","method":"x"}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // A message whose fields exist only through __proto__ is not a message.
    expect(inspectBody('{"__proto__":{"jsonrpc":"2.0","id":1,"method":"x"}}')).toMatchObject({ ok: false });
  });
});

describe('jsonRpcErrorBody', () => {
  it('builds the error with the id', () => {
    expect(jsonRpcErrorBody(7, GATEWAY_FORBIDDEN, 'no', { code: 'forbidden_tool', requestId: 'r1' })).toBe(
      '{"jsonrpc":"2.0","id":7,"error":{"code":-32003,"message":"no","data":{"code":"forbidden_tool","requestId":"r1"}}}',
    );
    expect(JSON.parse(jsonRpcErrorBody('abc', PARSE_ERROR, 'bad', {}))).toEqual({
      jsonrpc: '2.0',
      id: 'abc',
      error: { code: -32700, message: 'bad', data: {} },
    });
  });

  it('uses null when there is no id', () => {
    expect(JSON.parse(jsonRpcErrorBody(undefined, INVALID_REQUEST, 'x', {})).id).toBeNull();
    expect(JSON.parse(jsonRpcErrorBody(null, INVALID_REQUEST, 'x', {})).id).toBeNull();
    expect(JSON.parse(jsonRpcErrorBody(Infinity, INVALID_REQUEST, 'x', {})).id).toBeNull();
  });

  it('escapes what it is given and never throws', () => {
    const body = jsonRpcErrorBody('"}', INTERNAL_ERROR, 'a "quote"\n', { big: 1n });
    expect(JSON.parse(body)).toEqual({ jsonrpc: '2.0', id: '"}', error: { code: INTERNAL_ERROR, message: 'a "quote"\n' } });
  });
});

describe('error codes', () => {
  it('has the standard JSON-RPC codes', () => {
    expect([PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR]).toEqual([
      -32700, -32600, -32601, -32602, -32603,
    ]);
  });

  it.each([
    [400, INVALID_REQUEST],
    [401, GATEWAY_UNAUTHORIZED],
    [403, GATEWAY_FORBIDDEN],
    [404, GATEWAY_NOT_FOUND],
    [405, -32005],
    [413, GATEWAY_PAYLOAD_TOO_LARGE],
    [415, -32015],
    [429, GATEWAY_RATE_LIMITED],
    [500, INTERNAL_ERROR],
    [502, GATEWAY_BAD_UPSTREAM],
    [503, -32053],
    [504, GATEWAY_UPSTREAM_TIMEOUT],
    [200, INTERNAL_ERROR],
    [302, INTERNAL_ERROR],
    [599, INTERNAL_ERROR],
    [401.5, INTERNAL_ERROR],
  ])('HTTP %p -> %p', (status, code) => {
    expect(jsonRpcCodeForStatus(status)).toBe(code);
  });

  it('keeps gateway codes in the implementation range and off the codes MCP defines', () => {
    for (let status = 401; status < 500; status++) {
      const code = jsonRpcCodeForStatus(status);
      expect(code).toBeLessThanOrEqual(-32000);
      expect(code).toBeGreaterThanOrEqual(-32099);
    }
    for (const status of [401, 403, 404, 405, 413, 415, 429, 502, 503, 504]) {
      expect([-32002, -32042]).not.toContain(jsonRpcCodeForStatus(status));
    }
  });

  it('keys ids by their JSON text', () => {
    expect(idKey(1)).toBe('1');
    expect(idKey('1')).toBe('"1"');
    expect(idKey(null)).toBe('null');
  });
});

describe('JSON source spans', () => {
  const text = ' { "a" : [1, "x,]}" , {"b":"\\"\\\\"}] , "c\\"d":-1.5e3,"e":{} ,"f":true} ';

  it('finds object members and their value spans', () => {
    const start = text.indexOf('{');
    const members = jsonObjectMembers(text, start);
    expect(members.map((m) => [m.key, text.slice(m.start, m.end)])).toEqual([
      ['a', '[1, "x,]}" , {"b":"\\"\\\\"}]'],
      ['c"d', '-1.5e3'],
      ['e', '{}'],
      ['f', 'true'],
    ]);
    expect(endOfJsonValue(text, start)).toBe(text.length - 1);
  });

  it('finds array elements', () => {
    const a = jsonObjectMembers(text, text.indexOf('{'))[0];
    expect(jsonArrayElements(text, a.start).map((e) => text.slice(e.start, e.end))).toEqual(['1', '"x,]}"', '{"b":"\\"\\\\"}']);
    expect(jsonArrayElements('[ ]', 0)).toEqual([]);
    expect(jsonObjectMembers('{ }', 0)).toEqual([]);
  });

  it.each([
    ['{"a":1,"b":2}', undefined],
    ['{"a":{"a":1},"b":[{"a":1},{"a":2}]}', undefined],
    ['[{"a":1},{"a":1}]', undefined],
    ['{"a":"\\"a\\"","b":1,"\\"a\\"":2}', undefined],
    ['{"a":1,"b":{"c":1,"c":2}}', 'c'],
    ['[{"x":[{"y":1,"y":1}]}]', 'y'],
    ['{"\\u0061":1,"a":2}', 'a'],
    ['{"a\\\\":1,"a\\\\":2}', 'a\\'],
    ['{"k":"{\\"k\\":1,\\"k\\":2}"}', undefined],
  ])('duplicate key in %s: %p', (json, duplicate) => {
    JSON.parse(json); // the inputs are valid JSON
    expect(findDuplicateKey(json)).toBe(duplicate);
  });
});
