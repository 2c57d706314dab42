/**
 * The admin app's typed client (hono/client `hc<AdminApp>`) with every path parameter
 * percent-encoded: hono/client puts `param` values into the path as they are
 * (honojs/hono#3933, "not a bug"), so `a/../b` would address another route, and it drops the
 * segment of an empty value (an empty key id would list the keys). Wraps hc's proxy: each step of
 * the path is wrapped again, each call gets its `param` encoded, and an empty one throws
 * `emptyParam(name)` before any request. Shared by the CLI and the web console.
 */
export function encodingParams<T>(target: T, emptyParam: (name: string) => Error): T {
  return new Proxy(target as unknown as (...args: unknown[]) => unknown, {
    get(obj, key) {
      const next: unknown = Reflect.get(obj, key);
      return typeof next === 'function' ? encodingParams(next, emptyParam) : next;
    },
    apply(fn, self, args: unknown[]) {
      const [first, ...rest] = args;
      const param = (first as { param?: Record<string, unknown> } | undefined)?.param;
      if (!param) return Reflect.apply(fn, self, args);
      const encoded = Object.fromEntries(
        Object.entries(param).map(([name, value]) => {
          if (value === '') throw emptyParam(name);
          return [name, typeof value === 'string' ? encodeURIComponent(value) : value];
        }),
      );
      return Reflect.apply(fn, self, [{ ...(first as object), param: encoded }, ...rest]);
    },
  }) as unknown as T;
}
