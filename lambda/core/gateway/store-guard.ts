/**
 * Store calls on the request path get a deadline: a store that accepts connections and never
 * answers must cost the client a prompt 503, not a hung request. Any failure that is not an
 * answer of the domain (an ApiError such as 401, or a GatewayError) becomes StoreUnavailableError.
 */
import { ApiError } from '../errors';
import { GatewayError, StoreUnavailableError } from './errors';

/** The longest a request waits on one store call (well under clients' timeouts). */
export const DEFAULT_STORE_DEADLINE_MS = 1_500;

export function guardStore<A extends unknown[], T>(call: (...args: A) => Promise<T>, deadlineMs: number = DEFAULT_STORE_DEADLINE_MS): (...args: A) => Promise<T> {
  return (...args) => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError('deadline')), deadlineMs);
    });
    const work = Promise.resolve()
      .then(() => call(...args))
      .catch((error: unknown) => {
        if (error instanceof ApiError || error instanceof GatewayError || error instanceof StoreUnavailableError) throw error;
        throw new StoreUnavailableError((error as Error)?.name ?? 'error');
      });
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  };
}

/**
 * At most `concurrency` calls run at once and at most `queue` wait; beyond that a call is refused
 * at once with `refusal()`. Used for Argon2id verifications of keys not yet verified, so a flood of
 * made-up keys cannot take the CPU that verified (cached) keys need.
 */
export function bounded<A extends unknown[], T>(call: (...args: A) => Promise<T>, concurrency: number, queue: number, refusal: () => Error): (...args: A) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  const next = () => {
    const handOver = waiting.shift();
    if (handOver) handOver(); // the slot passes to the next waiter: running stays the same
    else running--;
  };
  return async (...args) => {
    if (running >= concurrency) {
      if (waiting.length >= queue) throw refusal();
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      running++;
    }
    try {
      return await call(...args);
    } finally {
      next();
    }
  };
}
