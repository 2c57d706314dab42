import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';

export interface RequestLoggingOptions {
  /** Where JSON lines go. @default console.log */
  readonly write?: (line: string) => void;
  /** Function name for every line. */
  readonly service: string;
}

/**
 * Middy middleware: one structured line per invocation with the request id, route, status and
 * duration, and the error class (never its stack, the body, or headers) when it fails.
 */
export function requestLogging(
  options: RequestLoggingOptions,
): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context> {
  const write = options.write ?? ((line: string) => console.log(line));
  const started = new WeakMap<object, number>();
  const base = (event: APIGatewayProxyEvent) => ({
    service: options.service,
    requestId: event.requestContext?.requestId,
    method: event.httpMethod,
    resource: event.resource,
  });
  return {
    before: (request) => {
      started.set(request, performance.now());
    },
    after: (request) => {
      write(
        JSON.stringify({
          level: 'info',
          ...base(request.event),
          status: request.response?.statusCode,
          durationMs: Math.round(performance.now() - (started.get(request) ?? performance.now())),
        }),
      );
    },
    onError: (request) => {
      write(JSON.stringify({ level: 'error', ...base(request.event), error: request.error?.name ?? 'Error' }));
      request.response = {
        statusCode: 500,
        headers: { 'content-type': 'application/json', 'x-request-id': request.event.requestContext?.requestId ?? '' },
        body: JSON.stringify({
          error: { code: 'internal_error', message: 'Something went wrong', requestId: request.event.requestContext?.requestId ?? '' },
        }),
      };
    },
  };
}
