/** A field that failed validation, as a dotted path into the request body or query. */
export interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

/**
 * An error meant for the caller: an HTTP status, a stable machine-readable code and a message
 * that is safe to show (never a URL, credential or stack trace).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: FieldProblem[],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (code: string, message: string, details?: FieldProblem[]) =>
  new ApiError(400, code, message, details);
export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
export const conflict = (code: string, message: string) => new ApiError(409, code, message);
export const unauthorized = (message = 'A valid API key or operator token is required') =>
  new ApiError(401, 'invalid_credentials', message);
export const forbidden = (code: string, message: string) => new ApiError(403, code, message);
