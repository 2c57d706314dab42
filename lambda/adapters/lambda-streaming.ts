import type { Writable } from 'node:stream';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { GatewayError } from '../core/gateway/errors';
import type { GatewayAnswer, GatewayRequest, RequestHeaders } from '../core/gateway/exchange';

/**
 * The writable stream Lambda hands a `streamifyResponse` handler (the `awslambda` global of the
 * Lambda Node.js runtime, typed by @types/aws-lambda).
 */
export type ResponseStream = Writable;

/**
 * An API Gateway REST proxy event as the core gateway reads a request (exchange.ts), straight
 * from the event: no web Request, Headers or body stream, so a cold instance never loads Node's
 * fetch classes for them.
 */
export function eventToGatewayRequest(event: APIGatewayProxyEvent, signal: AbortSignal): GatewayRequest {
  const hasBody = event.body !== null && event.body !== undefined && event.httpMethod !== 'GET';
  return {
    method: event.httpMethod,
    headers: eventHeaders(event),
    signal,
    readBody: async (limit) => {
      if (!hasBody) return new Uint8Array();
      const body = Buffer.from(event.body!, event.isBase64Encoded ? 'base64' : 'utf8');
      if (body.length > limit) throw new GatewayError('body_too_large');
      return body;
    },
  };
}

/**
 * The event's headers by lower-case name. API Gateway gives each header in `multiValueHeaders`
 * (every value) and in `headers` (the last value); repeated values are joined with ", " as web
 * Headers join them, and `headers` only fills in names the multi-value map lacks.
 */
function eventHeaders(event: APIGatewayProxyEvent): RequestHeaders {
  const map = new Map<string, string>();
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) {
    if (!values || values.length === 0) continue;
    const key = name.toLowerCase();
    const joined = values.join(', ');
    const before = map.get(key);
    map.set(key, before === undefined ? joined : `${before}, ${joined}`);
  }
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    const key = name.toLowerCase();
    if (value !== undefined && !map.has(key)) map.set(key, value);
  }
  return {
    get: (name) => map.get(name) ?? null,
    forEach: (callback) => map.forEach(callback),
  };
}

/**
 * Writes the gateway's answer to Lambda's response stream as it arrives: status and headers first
 * (the HTTP integration's prelude), then a fixed body at once or each chunk of a streamed one
 * unbuffered. If the client goes away (the stream errors or closes early), `abort` cancels the
 * upstream request.
 */
export async function writeStreamingAnswer(answer: GatewayAnswer, responseStream: ResponseStream, abort: AbortController): Promise<void> {
  // The integration frames the body itself; a length from the core would only be in its way.
  const headers = { ...answer.headers };
  delete headers['content-length'];
  const stream = awslambda.HttpResponseStream.from(responseStream, { statusCode: answer.status, headers });
  const onClose = () => abort.abort(new Error('client went away'));
  stream.once('close', onClose);
  stream.once('error', onClose);
  try {
    const body = answer.body;
    if (typeof body === 'string' || body instanceof Uint8Array) {
      stream.write(body);
    } else if (body) {
      const reader = body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (!stream.write(value)) await new Promise<void>((resolve) => stream.once('drain', resolve));
          if (abort.signal.aborted) break;
        }
      } catch {
        // The upstream failed mid-stream; the client sees the stream end. Nothing more to send.
      } finally {
        await reader.cancel().catch(() => undefined);
      }
    }
  } finally {
    stream.off('close', onClose);
    stream.off('error', onClose);
    stream.end();
  }
}
