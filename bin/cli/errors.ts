/**
 * Errors the CLI reports. Every error is printed as `error <code>: <message>` on stderr; the
 * exit code is 2 for usage errors (bad flags, missing configuration) and 1 for everything else.
 */

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A field that failed validation on the server, as a dotted path into the request body. */
export interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    readonly details: readonly FieldProblem[] = [],
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A mistake in how the CLI was called: exit code 2. */
export function usageError(message: string, code = 'usage'): CliError {
  return new CliError(code, message, EXIT_USAGE);
}

/** An error answer from the admin API. */
export class ApiRequestError extends CliError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    details: readonly FieldProblem[] = [],
    requestId?: string,
  ) {
    super(code, message, EXIT_FAILURE, details, requestId);
    this.name = 'ApiRequestError';
  }
}

/** The lines printed for an error (without trailing newlines). */
export function formatError(err: CliError): string[] {
  const lines = [`error ${err.code}: ${err.message}`];
  for (const d of err.details) lines.push(`  ${d.path || '(body)'}: ${d.message}`);
  if (err.requestId) lines.push(`  request id: ${err.requestId}`);
  return lines;
}
