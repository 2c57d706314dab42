import type { Writable } from 'node:stream';
import type { APIGatewayProxyEvent } from 'aws-lambda';

/**
 * The writable stream Lambda hands a `streamifyResponse` handler (the `awslambda` global of the
 * Lambda Node.js runtime, typed by @types/aws-lambda).
 */
export type ResponseStream = Writable;

/** An API Gateway REST proxy event as a web Request. */
export function eventToRequest(event: APIGatewayProxyEvent, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) {
    for (const value of values ?? []) headers.append(name, value);
  }
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined && !headers.has(name)) headers.set(name, value);
  }
  const query = new URLSearchParams();
  for (const [name, values] of Object.entries(event.multiValueQueryStringParameters ?? {})) {
    for (const value of values ?? []) query.append(name, value);
  }
  const host = headers.get('host') ?? 'gateway.invalid';
  const url = `https://${host}${event.path}${query.size > 0 ? `?${query}` : ''}`;
  const hasBody = event.body !== null && event.body !== undefined && event.httpMethod !== 'GET';
  return new Request(url, {
    method: event.httpMethod,
    headers,
    body: hasBody ? (event.isBase64Encoded ? Buffer.from(event.body!, 'base64') : event.body) : undefined,
    signal,
  });
}

/**
 * Writes a web Response to Lambda's response stream as it arrives: status and headers first
 * (the HTTP integration's prelude), then each body chunk unbuffered. If the client goes away
 * (the stream errors or closes early), `abort` cancels the upstream request.
 */
export async function writeStreamingResponse(response: Response, responseStream: ResponseStream, abort: AbortController): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const stream = awslambda.HttpResponseStream.from(responseStream, { statusCode: response.status, headers });
  const onClose = () => abort.abort(new Error('client went away'));
  stream.once('close', onClose);
  stream.once('error', onClose);
  try {
    if (response.body) {
      const reader = response.body.getReader();
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
