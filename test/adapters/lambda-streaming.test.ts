import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { Writable } from 'node:stream';
import { eventToGatewayRequest, writeStreamingAnswer } from '../../lambda/adapters/lambda-streaming';
import { installStreamifyHarness, invokeStreaming } from '../support/streamify-harness';

installStreamifyHarness();

function event(overrides: Partial<APIGatewayProxyEvent>): APIGatewayProxyEvent {
  return {
    httpMethod: 'POST',
    path: '/mcp/echo',
    headers: {},
    multiValueHeaders: {},
    body: null,
    isBase64Encoded: false,
    ...overrides,
  } as APIGatewayProxyEvent;
}

describe('eventToGatewayRequest', () => {
  test('headers by lower-case name, repeated values joined as web Headers join them; single-value headers fill in the rest', () => {
    const request = eventToGatewayRequest(
      event({
        multiValueHeaders: { Accept: ['application/json', 'text/event-stream'], 'X-Forwarded-For': ['203.0.113.1'], Empty: [] },
        headers: { Accept: 'text/event-stream', Authorization: 'Bearer pmcp_x' },
      }),
      new AbortController().signal,
    );
    expect(request.headers.get('accept')).toBe('application/json, text/event-stream');
    expect(request.headers.get('authorization')).toBe('Bearer pmcp_x');
    expect(request.headers.get('empty')).toBeNull();
    expect(request.headers.get('missing')).toBeNull();
    const seen: [string, string][] = [];
    request.headers.forEach((value, name) => seen.push([name, value]));
    expect(seen).toEqual([
      ['accept', 'application/json, text/event-stream'],
      ['x-forwarded-for', '203.0.113.1'],
      ['authorization', 'Bearer pmcp_x'],
    ]);
  });

  test('the body: text, base64, bounded; none for GET', async () => {
    const signal = new AbortController().signal;
    const text = await eventToGatewayRequest(event({ body: '{"a":"é"}' }), signal).readBody(100);
    expect(Buffer.from(text).toString('utf8')).toBe('{"a":"é"}');
    const b64 = await eventToGatewayRequest(event({ body: Buffer.from('{"b":1}').toString('base64'), isBase64Encoded: true }), signal).readBody(100);
    expect(Buffer.from(b64).toString('utf8')).toBe('{"b":1}');
    // 10 characters, 11 bytes in UTF-8: the limit is on bytes.
    await expect(eventToGatewayRequest(event({ body: 'é123456789' }), signal).readBody(10)).rejects.toMatchObject({ code: 'body_too_large' });
    expect((await eventToGatewayRequest(event({ httpMethod: 'GET', body: 'ignored' }), signal).readBody(100)).length).toBe(0);
    expect((await eventToGatewayRequest(event({ body: null }), signal).readBody(100)).length).toBe(0);
  });
});

describe('writeStreamingAnswer', () => {
  const run = (answer: Parameters<typeof writeStreamingAnswer>[0], abort = new AbortController()) =>
    invokeStreaming((_event: unknown, stream: Writable) => writeStreamingAnswer(answer, stream, abort), {});

  test('a fixed body: status and headers in the prelude (no content-length: the integration frames the body), then the body', async () => {
    const out = await run({ status: 202, headers: { 'content-type': 'application/json', 'content-length': '2', 'x-request-id': 'r1' }, body: '{}' });
    expect(out.statusCode).toBe(202);
    expect(out.headers).toEqual({ 'content-type': 'application/json', 'x-request-id': 'r1' });
    expect(out.body).toBe('{}');
    const bytes = await run({ status: 200, headers: {}, body: new TextEncoder().encode('bytes') });
    expect(bytes.body).toBe('bytes');
    const empty = await run({ status: 204, headers: {}, body: null });
    expect(empty.body).toBe('');
  });

  test('a streamed body is written chunk by chunk; an upstream that fails mid-stream ends the stream with what came before', async () => {
    let step = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        step++;
        if (step <= 2) controller.enqueue(new TextEncoder().encode(`event ${step}\n`));
        else controller.error(new Error('upstream died'));
      },
    });
    const out = await run({ status: 200, headers: { 'content-type': 'text/event-stream' }, body });
    expect(out.chunks.map((c) => c.text)).toEqual(['event 1\n', 'event 2\n']);
  });
});
